package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/jobs"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/metrics"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scan/extract"
	"github.com/wharf-dev/wharf/internal/scan/imagefs"
	"github.com/wharf-dev/wharf/internal/scan/vulndb"
	"github.com/wharf-dev/wharf/internal/scanner"
)

// newScanner builds the scanner scanning.* configures, or nil when
// scanning is off.
// Every scan that ends records its scan.completed event with its result
// (the scanner does, in the result's transaction).
func newScanner(cfg config.Scanning, reg *registry.Registry, cs content.Store, ms meta.Store, m *metrics.Scans, log *slog.Logger) (*scanner.Service, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	sv, err := scanner.New(scanner.Options{
		Registry: reg, Content: cs, Meta: ms, Logger: log,
		OnPush: cfg.OnPush, SBOMOnPush: cfg.SBOMOnPush, Workers: cfg.Workers, ScratchDir: cfg.ScratchDir,
		Extract:         extract.Options{Limits: imagefs.Limits{MaxBytes: cfg.MaxLayerBytes}},
		Lease:           cfg.Lease,
		RefreshInterval: cfg.RefreshInterval,
		Hooks: scanner.Hooks{
			Scanned: func(repo string, d digest.Digest, state string, took time.Duration, c meta.ScanCounts) {
				m.Scanned(state, took)
			},
			NewCritical: func(repo string, d digest.Digest, ids []string) {
				m.NewCritical()
				log.Warn("new critical vulnerabilities in a stored image", "repository", repo, "digest", d, "ids", ids)
			},
			Loaded: func(ref vulndb.Ref) { m.Loaded(ref.Info.Advisories, ref.Info.Newest) },
		},
	})
	if err != nil {
		return nil, err
	}
	m.SetBacklog(func(ctx context.Context) (int64, int64, int64, error) {
		b, err := sv.Backlog(ctx)
		return b.Noted, b.Queued, b.Running, err
	})
	return sv, nil
}

// manifestPushed hands a pushed manifest to the scanner.
func (s *Server) manifestPushed(repo string, d digest.Digest, m *oci.Manifest) {
	if s.scanner != nil {
		s.scanner.Pushed(repo, d, m)
	}
}

// scanJobs are the scanner's cluster-wide jobs.
func (s *Server) scanJobs() []jobs.Job {
	if s.scanner == nil {
		return nil
	}
	c := s.cfg.Scanning
	var held context.Context // the lease the exported figures were computed under
	return s.scanner.Jobs(scanner.JobOptions{
		SweepInterval: c.SweepInterval, RematchInterval: c.RefreshInterval, MetricsInterval: c.MetricsInterval,
		Severities: func(ctx context.Context, counts []meta.SeverityCount) {
			byName := map[string]int64{}
			var total, pass int64
			threshold := scan.ParseSeverity(c.PassSeverity).Rank()
			for _, sc := range counts {
				name := sc.Highest
				if name == "" {
					name = "none"
				}
				byName[name] += sc.Count
				total += sc.Count
				if sc.Highest == "" || scan.Severity(sc.Highest).Rank() < threshold {
					pass += sc.Count
				}
			}
			ratio := 1.0
			if total > 0 {
				ratio = float64(pass) / float64(total)
			}
			s.scanMetrics.Severities(byName, ratio)
			if ctx != held { // a new lease: stop exporting when it ends
				held = ctx
				context.AfterFunc(ctx, s.scanMetrics.ClearSeverities)
			}
		},
	})
}
