package server

import (
	"context"
	"time"
)

// Housekeep runs one round of housekeeping as of now, for the tests.
func (s *Server) Housekeep(ctx context.Context, now time.Time) error { return s.housekeep(ctx, now) }
