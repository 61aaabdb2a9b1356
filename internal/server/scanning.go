package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/events"
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
// Every scan that ends is recorded as a scan.completed event through record.
func newScanner(cfg config.Scanning, reg *registry.Registry, cs content.Store, ms meta.Store, m *metrics.Scans, log *slog.Logger,
	record func(events.Event)) (*scanner.Service, error) {
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
				record(scanCompleted(repo, d, state, took, c))
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

// scanCompleted is the event of a scan of manifest d of repo that ended in
// state after took, with its findings counted by severity.
func scanCompleted(repo string, d digest.Digest, state string, took time.Duration, c meta.ScanCounts) events.Event {
	vulns := map[string]int{}
	for sev, n := range map[string]int{"critical": c.Critical, "high": c.High, "medium": c.Medium, "low": c.Low, "unknown": c.Unknown} {
		if n > 0 {
			vulns[sev] = n
		}
	}
	ctx := events.WithActor(context.Background(), events.System("scanner"))
	return events.New(ctx, repo, &events.ScanCompleted{Digest: d, Scanner: "wharf", Status: state, Vulnerabilities: vulns, Duration: took})
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
