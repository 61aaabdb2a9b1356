package promotion

import (
	"context"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/scanner"
)

// ScannerScans reads the scan gate's evidence from the scanner: the stored
// scan of each image manifest, its findings judged against the target
// namespace's allowlist (and the system-wide one), not the source's. It
// scans nothing: a promotion of an image not scanned yet is refused until
// the scan is done.
type ScannerScans struct {
	Scanner *scanner.Service
}

// Scans returns the scans of image d of repo for the scan gate.
func (s ScannerScans) Scans(ctx context.Context, repo string, d digest.Digest, namespace string) ([]ScanEvidence, error) {
	img, err := s.Scanner.Image(ctx, repo, oci.Reference{Digest: d})
	if err != nil {
		return nil, err
	}
	allow, err := s.Scanner.Entries(ctx, namespace, true)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]ScanEvidence, 0, len(img.Manifests))
	for _, m := range img.Manifests {
		ev := ScanEvidence{Platform: m.Platform, Digest: m.Digest, Status: m.Status, Error: m.Error}
		if m.ScannedAt != nil {
			ev.ScannedAt = *m.ScannedAt
		}
		for _, f := range m.Findings {
			if !allowed(f, allow, now) {
				ev.Findings = append(ev.Findings, Finding{ID: f.ID, Severity: string(f.Severity)})
			}
		}
		out = append(out, ev)
	}
	return out, nil
}

// allowed reports whether a live entry of allow accepts f, by its id or
// an alias.
func allowed(f scanner.Finding, allow []scanner.Allowed, now time.Time) bool {
	for _, a := range allow {
		if !a.Live(now) {
			continue
		}
		if strings.EqualFold(a.ID, f.ID) {
			return true
		}
		for _, alias := range f.Aliases {
			if strings.EqualFold(a.ID, alias) {
				return true
			}
		}
	}
	return false
}
