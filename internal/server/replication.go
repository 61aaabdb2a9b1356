package server

import (
	"context"
	"fmt"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/remote"
	"github.com/wharf-dev/wharf/internal/replication"
)

// replicator is the principal pull replication creates namespaces as.
var replicator = auth.Principal{Kind: auth.KindLocal, Name: "replication", SystemAdmin: true}

// newReplication builds the replication service when the metadata store
// keeps replication rules; nil otherwise.
func (s *Server) newReplication() (*replication.Service, error) {
	st, ok := s.meta.(replication.Store)
	if !ok {
		return nil, nil
	}
	o := replication.Options{Store: st, Registry: s.registry, Logger: s.log, Metrics: s.metrics.NewReplication(),
		UserAgent: "wharf-replication"}
	if es, ok := s.meta.(replication.EventStream); ok {
		o.Events = es
	}
	if f := s.cfg.Replication.CredentialsKeyFile; f != "" {
		sealer, err := remote.LoadSealer(f, s.cfg.Database.Driver == "sqlite")
		if err != nil {
			return nil, fmt.Errorf("replication.credentialsKeyFile: %w", err)
		}
		o.Sealer = sealer
	}
	if a := s.accounts(); a != nil {
		o.EnsureNamespace = func(ctx context.Context, repo string) error {
			return a.CreateNamespaceByPush(ctx, access.Caller{Principal: replicator}, repo)
		}
	}
	return replication.New(o)
}

// replicationJobs is the replication job as configured.
func (s *Server) replicationJobs() replication.JobOptions {
	c := s.cfg.Replication
	return replication.JobOptions{PollInterval: c.PollInterval, ReconcileInterval: c.ReconcileInterval, MaxRuns: c.MaxRuns, RunRetention: c.RunRetention}
}
