package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/trust"
)

// Scans is what the image policy's vulnerabilities and require-scan rules
// read of vulnerability scanning. The registry does not scan; the scanning
// integration implements this and hands it to [Registry.SetScans].
//
// The registry keeps its decisions on pulls in memory, so an
// implementation must say when what it answers changes: after storing a
// manifest's scan result, call [Registry.Invalidate] with the repository
// (and, with replicas, announce it in the transaction, as a manifest write
// does, so that the others drop theirs); after changing a namespace's
// allowlist, [Registry.InvalidateNamespace] with the namespace; after
// changing the system-wide allowlist or loading new vulnerability data
// that re-matched stored results, [Registry.InvalidateAll].
type Scans interface {
	// ScanResult returns the scan of image manifest d of repo (never an
	// index: the registry asks for each platform image of one). A manifest
	// never scanned is policy.ScanUnscanned; one the scanner does not scan
	// (an artifact that is not an image) policy.ScanUnsupported.
	ScanResult(ctx context.Context, repo string, d digest.Digest) (policy.ScanResult, error)
	// ScanNow scans image manifest d of repo unless it has a result or a
	// scan is running, waits for the result until ctx is done, and returns
	// it (policy.ScanPending when ctx ended first). The require-scan rule's
	// scanFirst calls it for a pull of an image not scanned yet.
	ScanNow(ctx context.Context, repo string, d digest.Digest) (policy.ScanResult, error)
	// Allowlist returns the vulnerabilities accepted in namespace: its own
	// entries and the system-wide ones, expired ones included (the rule
	// leaves them out by their expiry).
	Allowlist(ctx context.Context, namespace string) ([]policy.AllowedVulnerability, error)
}

// SetScans makes the image policy read scan results from s. It must be
// called before the registry serves. Without it, every image is unscanned
// ("scanning is not set up on this registry").
func (r *Registry) SetScans(s Scans) { r.scans = s }

// errNoScanner is the reason an image is unscanned on a registry without
// scanning.
const errNoScanner = "scanning is not set up on this registry"

// scanFacts returns the scans of the images the scan rules judge (the
// image itself, or each platform image of an index) and the allowlist of
// the namespace.
func (r *Registry) scanFacts(ctx context.Context, p policy.ImagePolicy, ns, repo string, d digest.Digest, parsed *oci.Manifest) ([]policy.PlatformScan, []policy.AllowedVulnerability, error) {
	var targets []policy.PlatformScan
	if parsed.IsIndex() {
		for _, c := range r.verifier.PlatformImages(parsed.Manifests) {
			targets = append(targets, policy.PlatformScan{Platform: platformName(c.Platform), Digest: c.Digest})
		}
	} else {
		targets = []policy.PlatformScan{{Digest: d}}
	}
	if r.scans == nil {
		for i := range targets {
			targets[i].ScanResult = policy.ScanResult{Status: policy.ScanUnscanned, Error: errNoScanner}
		}
		return targets, nil, nil
	}
	for i := range targets {
		res, err := r.scanResult(ctx, p, repo, targets[i].Digest)
		if err != nil {
			return nil, nil, err
		}
		targets[i].ScanResult = res
	}
	allow, err := r.scans.Allowlist(ctx, ns)
	if err != nil {
		return nil, nil, scanError("read the allowlist of "+ns, err)
	}
	return targets, allow, nil
}

// scanResult reads the scan of one image, scanning it first when the
// policy says so and it has none.
func (r *Registry) scanResult(ctx context.Context, p policy.ImagePolicy, repo string, d digest.Digest) (policy.ScanResult, error) {
	res, err := r.scans.ScanResult(ctx, repo, d)
	if err != nil {
		return policy.ScanResult{}, scanError("read the scan of "+repo+"@"+d.String(), err)
	}
	if !p.RequireScan.ScanFirst || (res.Status != policy.ScanUnscanned && res.Status != policy.ScanPending) {
		return res, nil
	}
	timeout := time.Duration(p.RequireScan.ScanTimeout)
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err = r.scans.ScanNow(sctx, repo, d)
	switch {
	case err == nil && res.Status == policy.ScanPending && sctx.Err() != nil:
		res.Error = fmt.Sprintf("the scan did not finish within %s", p.RequireScan.ScanTimeout)
	case err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		res, err = policy.ScanResult{Status: policy.ScanPending, Error: fmt.Sprintf("the scan did not finish within %s", p.RequireScan.ScanTimeout)}, nil
	case err != nil:
		return policy.ScanResult{}, scanError("scan "+repo+"@"+d.String(), err)
	}
	return res, nil
}

func scanError(op string, err error) error {
	var e *apierr.Error
	if errors.As(err, &e) {
		return err
	}
	return internal(op, err)
}

// platformName is "os/arch[/variant]", or "" without a platform.
func platformName(p *v1.Platform) string {
	if p == nil || p.OS == "" {
		return ""
	}
	parts := []string{p.OS, p.Architecture}
	if p.Variant != "" {
		parts = append(parts, p.Variant)
	}
	return strings.Join(parts, "/")
}

// hasSBOM reports whether an SBOM is stored with image d of repo: a
// referrer that is one (policy.IsSBOM), cosign's sha256-<hex>.sbom tag, or
// an SBOM attestation in its sha256-<hex>.att tag; for an index, with the
// index or with every platform image.
func (r *Registry) hasSBOM(ctx context.Context, repo string, d digest.Digest, parsed *oci.Manifest) (bool, error) {
	ok, err := r.imageHasSBOM(ctx, repo, d)
	if err != nil || ok || !parsed.IsIndex() {
		return ok, err
	}
	children := r.verifier.PlatformImages(parsed.Manifests)
	if len(children) == 0 {
		return false, nil
	}
	for _, c := range children {
		if ok, err := r.imageHasSBOM(ctx, repo, c.Digest); err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func (r *Registry) imageHasSBOM(ctx context.Context, repo string, d digest.Digest) (bool, error) {
	refs, err := r.Referrers(ctx, repo, d, "")
	if err != nil {
		return false, err
	}
	for _, ref := range refs {
		if policy.IsSBOM(ref.ArtifactType, ref.Annotations) {
			return true, nil
		}
	}
	base := strings.TrimSuffix(trust.SignatureTag(d), ".sig")
	if _, err := r.Manifest(ctx, repo, oci.Reference{Tag: base + ".sbom"}); err == nil {
		return true, nil
	} else if !apierr.Is(err, apierr.ManifestUnknown) {
		return false, err
	}
	att, err := r.Manifest(ctx, repo, oci.Reference{Tag: base + ".att"})
	if apierr.Is(err, apierr.ManifestUnknown) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m, err := oci.ParseManifest(att.MediaType, att.Payload)
	if err != nil {
		return false, nil
	}
	for _, l := range m.Layers {
		if policy.IsSBOMPredicate(l.Annotations["predicateType"]) {
			return true, nil
		}
	}
	return false, nil
}
