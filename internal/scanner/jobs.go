package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/jobs"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/scan"
)

// JobOptions configures the scanner's background jobs; a zero interval
// turns a job off.
type JobOptions struct {
	// SweepInterval is how often image manifests pushed in the last
	// SweepWindow with no scan are queued (with scanning on push).
	SweepInterval time.Duration
	SweepWindow   time.Duration
	// RematchInterval is how often stored packages are matched against
	// the vulnerability data if it changed.
	RematchInterval time.Duration
	// MetricsInterval is how often the images are counted by severity
	// and handed to Severities, with the job's context.
	MetricsInterval time.Duration
	Severities      func(ctx context.Context, counts []meta.SeverityCount)
}

// Jobs returns the scanner's cluster-wide jobs: "scan-sweep", which queues
// what a push noted but a crash lost; "scan-rematch", which matches the
// stored packages of every scanned image against newly loaded
// vulnerability data; and "scan-metrics", which counts images by their
// most severe finding.
func (s *Service) Jobs(o JobOptions) []jobs.Job {
	var js []jobs.Job
	if s.opts.OnPush && o.SweepInterval > 0 {
		window := o.SweepWindow
		if window <= 0 {
			window = 24 * time.Hour
		}
		js = append(js, jobs.Job{Name: "scan-sweep", Every: o.SweepInterval, Run: func(ctx context.Context) error {
			_, err := s.Sweep(ctx, time.Now().Add(-window))
			return err
		}})
	}
	if o.RematchInterval > 0 {
		js = append(js, jobs.Job{Name: "scan-rematch", Every: o.RematchInterval, Run: func(ctx context.Context) error {
			_, err := s.Rematch(ctx)
			return err
		}})
	}
	if o.MetricsInterval > 0 && o.Severities != nil {
		js = append(js, jobs.Job{Name: "scan-metrics", Every: o.MetricsInterval, Run: func(ctx context.Context) error {
			counts, err := s.store.ScanSeverities(ctx)
			if err != nil {
				return err
			}
			o.Severities(ctx, counts)
			return nil
		}})
	}
	return js
}

// Sweep queues image manifests pushed since that have no scan, and returns
// how many.
func (s *Service) Sweep(ctx context.Context, since time.Time) (int, error) {
	total := 0
	for {
		reqs, err := s.store.Unscanned(ctx, since, 500)
		if err != nil || len(reqs) == 0 {
			return total, err
		}
		n, err := s.store.EnqueueScans(ctx, time.Now(), reqs...)
		total += n
		if err != nil {
			return total, err
		}
		s.signal()
		if len(reqs) < 500 || n == 0 {
			s.log.Info("queued unscanned images", "images", total)
			return total, nil
		}
	}
}

// Rematch matches the stored packages of every image scanned with other
// vulnerability data than the data loaded, and returns how many it
// updated. It reads no layer.
func (s *Service) Rematch(ctx context.Context) (int, error) {
	s.Refresh(ctx)
	idx, ref, ok := s.live.Index()
	if !ok {
		return 0, nil
	}
	done := 0
	for {
		batch, err := s.store.ScansToRematch(ctx, ref.Digest, 200)
		if err != nil || len(batch) == 0 {
			if done > 0 {
				s.log.Info("re-matched scans with new vulnerability data", "images", done, "bundle", ref.Digest)
				s.reg.InvalidateAll()
			}
			return done, err
		}
		progress := 0
		for _, sc := range batch {
			var pkgs []scan.Package
			if err := json.Unmarshal(sc.Packages, &pkgs); err != nil {
				return done, fmt.Errorf("read the packages of %s@%s: %w", sc.Repository, sc.Digest, err)
			}
			findings := idx.Match(pkgs)
			if findings == nil {
				findings = []scan.Finding{}
			}
			next := meta.Scan{Repository: sc.Repository, Digest: sc.Digest, DataVersion: ref.Digest}
			if next.Findings, err = json.Marshal(findings); err != nil {
				return done, err
			}
			next.Counts, next.Highest = severityCounts(findings)
			err := s.store.Rematch(ctx, sc.DataVersion, next)
			if errors.Is(err, meta.ErrConflict) {
				continue // scanned again meanwhile
			}
			if err != nil {
				return done, err
			}
			progress++
			done++
			s.reg.Invalidate(sc.Repository)
			if next.Counts.Critical > sc.Counts.Critical && s.opts.Hooks.NewCritical != nil {
				s.opts.Hooks.NewCritical(sc.Repository, sc.Digest, criticalIDs(findings))
			}
		}
		if progress == 0 {
			return done, nil
		}
	}
}

func criticalIDs(fs []scan.Finding) []string {
	var out []string
	for _, f := range fs {
		if f.Severity == scan.Critical {
			if cves := f.CVEs(); len(cves) > 0 {
				out = append(out, cves[0])
			} else {
				out = append(out, f.ID)
			}
		}
	}
	return out
}

// SBOM writes an SBOM of image ref of repo (each platform image of an
// index) in format and stores it as a referrer, scanning first if the
// image was not scanned; it returns the referrers' digests.
func (s *Service) SBOM(ctx context.Context, repo string, ref oci.Reference, format string) ([]digest.Digest, error) {
	if _, ok := sbomFormats[format]; !ok {
		return nil, fmt.Errorf("%w: %q (spdx, cyclonedx)", ErrFormat, format)
	}
	_, ts, err := s.targets(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, t := range ts {
		sc, err := s.scanned(ctx, repo, t.digest)
		if err != nil {
			return nil, err
		}
		d, err := s.writeSBOM(ctx, repo, t.digest, format, sc.Packages)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Report stores the scan report of image ref of repo (each platform image
// of an index) as a referrer, artifactType [MediaTypeReport].
func (s *Service) Report(ctx context.Context, repo string, ref oci.Reference) ([]digest.Digest, error) {
	_, ts, err := s.targets(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	allow, err := s.Entries(ctx, oci.Namespace(repo), true)
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, t := range ts {
		if _, err := s.scanned(ctx, repo, t.digest); err != nil {
			return nil, err
		}
		ms, err := s.manifestScan(ctx, repo, t, allow, true)
		if err != nil {
			return nil, err
		}
		doc, err := json.MarshalIndent(ms, "", "  ")
		if err != nil {
			return nil, err
		}
		d, err := s.attach(ctx, repo, t.digest, MediaTypeReport, doc, map[string]string{annotationGenerator: s.opts.Tool})
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// ErrFormat is returned for an SBOM format that is not one.
var ErrFormat = errors.New("unknown SBOM format")

// ErrNotScanned is returned when a scan that was needed did not succeed.
var ErrNotScanned = errors.New("not scanned")

// scanned returns the successful scan of manifest d, scanning it first
// (waiting until ctx is done) if it has none.
func (s *Service) scanned(ctx context.Context, repo string, d digest.Digest) (meta.Scan, error) {
	sc, err := s.store.Scan(ctx, repo, d)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && (sc.State == meta.ScanQueued || sc.State == meta.ScanRunning)) {
		if _, err := s.store.EnqueueScans(ctx, time.Now(), meta.ScanRequest{Repository: repo, Digest: d, Priority: 10}); err != nil {
			return meta.Scan{}, err
		}
		s.signal()
		sc, err = s.Wait(ctx, repo, d)
	}
	if err != nil {
		return meta.Scan{}, err
	}
	if sc.State != meta.ScanScanned {
		return meta.Scan{}, fmt.Errorf("%w: %s@%s is %s: %s", ErrNotScanned, repo, d, sc.State, sc.Error)
	}
	return sc, nil
}
