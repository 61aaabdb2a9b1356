package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/scan"
)

// The image policy reads scans through registry.Scans.
var _ registry.Scans = (*Service)(nil)

// errNoData is why a manifest whose packages were read but never matched
// counts as unscanned: without vulnerability data nothing was looked for.
const errNoData = "no vulnerability data is loaded (run wharf vulndb import)"

// ScanResult implements registry.Scans.
func (s *Service) ScanResult(ctx context.Context, repo string, d digest.Digest) (policy.ScanResult, error) {
	sc, err := s.store.Scan(ctx, repo, d)
	if errors.Is(err, meta.ErrNotFound) {
		return policy.ScanResult{Status: policy.ScanUnscanned, Error: "not scanned yet"}, nil
	}
	if err != nil {
		return policy.ScanResult{}, err
	}
	return policyResult(sc)
}

// ScanNow implements registry.Scans: it queues the manifest ahead of
// pushes unless it has a result or a scan is running, and waits.
func (s *Service) ScanNow(ctx context.Context, repo string, d digest.Digest) (policy.ScanResult, error) {
	sc, err := s.store.Scan(ctx, repo, d)
	switch {
	case errors.Is(err, meta.ErrNotFound):
	case err != nil:
		return policy.ScanResult{}, err
	case sc.State == meta.ScanScanned && sc.DataVersion == "":
		// Read before the data was loaded: match now if it is.
		if err := s.rematchOne(ctx, sc); err != nil {
			return policy.ScanResult{}, err
		}
		return s.ScanResult(ctx, repo, d)
	case sc.State != meta.ScanQueued && sc.State != meta.ScanRunning:
		return policyResult(sc)
	}
	if _, err := s.store.EnqueueScans(ctx, time.Now(), meta.ScanRequest{Repository: repo, Digest: d, Priority: 10}); err != nil {
		return policy.ScanResult{}, err
	}
	s.signal()
	sc, err = s.Wait(ctx, repo, d)
	if ctx.Err() != nil {
		return policy.ScanResult{Status: policy.ScanPending}, nil
	}
	if errors.Is(err, meta.ErrNotFound) {
		return policy.ScanResult{Status: policy.ScanUnsupported, Error: "the manifest is gone"}, nil
	}
	if err != nil {
		return policy.ScanResult{}, err
	}
	return policyResult(sc)
}

// Allowlist implements registry.Scans: the namespace's entries and the
// system-wide ones, expired ones included.
func (s *Service) Allowlist(ctx context.Context, namespace string) ([]policy.AllowedVulnerability, error) {
	recs, err := s.store.AllowedVulnerabilities(ctx, namespace, "")
	if err != nil {
		return nil, err
	}
	out := make([]policy.AllowedVulnerability, 0, len(recs))
	for _, r := range recs {
		out = append(out, policy.AllowedVulnerability{ID: r.ID, Namespace: r.Namespace, Reason: r.Reason, Expires: r.Expires})
	}
	return out, nil
}

// policyResult is a stored scan as the policy reads it.
func policyResult(sc meta.Scan) (policy.ScanResult, error) {
	res := policy.ScanResult{Error: sc.Error, DataVersion: sc.DataVersion}
	switch sc.State {
	case meta.ScanQueued, meta.ScanRunning:
		res.Status = policy.ScanPending
		return res, nil
	case meta.ScanFailed:
		res.Status, res.ScannedAt = policy.ScanFailed, sc.FinishedAt
		return res, nil
	case meta.ScanUnsupported:
		res.Status = policy.ScanUnsupported
		return res, nil
	}
	if sc.DataVersion == "" {
		return policy.ScanResult{Status: policy.ScanUnscanned, Error: errNoData}, nil
	}
	res.Status, res.ScannedAt = policy.ScanScanned, sc.FinishedAt
	if err := json.Unmarshal(sc.Findings, &res.Findings); err != nil {
		return policy.ScanResult{}, fmt.Errorf("read the findings of %s@%s: %w", sc.Repository, sc.Digest, err)
	}
	return res, nil
}

// rematchOne matches the packages of one scan against the data loaded, if
// any.
func (s *Service) rematchOne(ctx context.Context, sc meta.Scan) error {
	idx, ref, ok := s.live.Index()
	if !ok {
		return nil
	}
	var pkgs []scan.Package
	if err := json.Unmarshal(sc.Packages, &pkgs); err != nil {
		return fmt.Errorf("read the packages of %s@%s: %w", sc.Repository, sc.Digest, err)
	}
	findings := idx.Match(pkgs)
	if findings == nil {
		findings = []scan.Finding{}
	}
	next := meta.Scan{Repository: sc.Repository, Digest: sc.Digest, DataVersion: ref.Digest}
	var err error
	if next.Findings, err = json.Marshal(findings); err != nil {
		return err
	}
	next.Counts, next.Highest = severityCounts(findings)
	if err := s.store.Rematch(ctx, sc.DataVersion, next); err != nil && !errors.Is(err, meta.ErrConflict) {
		return err
	}
	s.reg.Invalidate(sc.Repository)
	return nil
}
