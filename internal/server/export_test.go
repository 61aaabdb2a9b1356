package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/meta"
)

// Housekeep runs one round of housekeeping, and of the pruning of old
// events, as of now, for the tests.
func (s *Server) Housekeep(ctx context.Context, now time.Time) error {
	if err := s.accounts().Housekeep(ctx, now, s.housekeeping()); err != nil {
		return err
	}
	_, err := s.events.store.PruneEvents(ctx, now.Add(-s.cfg.EventRetention()))
	return err
}

// NewAt is New with a clock for the usage figures: which day a pull counts
// on, and which days are the last 30.
func NewAt(ctx context.Context, cfg config.Config, log *slog.Logger, now func() time.Time) (*Server, error) {
	return newServer(ctx, cfg, log, now)
}

// ContentStore and MetaStore expose the server's stores to its tests, which
// check what garbage collection left in them.
func (s *Server) ContentStore() content.Store { return s.content }
func (s *Server) MetaStore() meta.Store       { return s.meta }

// RunJob runs the background job named name once, as its schedule would.
func (s *Server) RunJob(ctx context.Context, name string) error {
	for _, j := range s.jobs() {
		if j.Name == name {
			return j.Run(ctx)
		}
	}
	return fmt.Errorf("no job %q", name)
}

// CheckIdentities runs one round of the identity check now, for the tests.
func (s *Server) CheckIdentities(ctx context.Context) error { return s.access.CheckIdentities(ctx) }
