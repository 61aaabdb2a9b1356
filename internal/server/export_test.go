package server

import (
	"context"
	"time"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/meta"
)

// Housekeep runs one round of housekeeping as of now, for the tests.
func (s *Server) Housekeep(ctx context.Context, now time.Time) error {
	return s.accounts().Housekeep(ctx, now, s.housekeeping())
}

// ContentStore and MetaStore expose the server's stores to its tests, which
// check what garbage collection left in them.
func (s *Server) ContentStore() content.Store { return s.content }
func (s *Server) MetaStore() meta.Store       { return s.meta }
