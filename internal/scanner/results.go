package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scan/extract"
)

// StatusUnscanned is the status of a manifest with no scan.
const StatusUnscanned = "unscanned"

// ManifestScan is the scan of one image manifest: for an index, of one of
// its platform images.
type ManifestScan struct {
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	// Platform is "os/arch[/variant]" for a platform image of an index.
	Platform string `json:"platform,omitempty"`
	// Status is queued, running, scanned, failed, unsupported or
	// unscanned.
	Status string `json:"status"`
	// Error says why a scan failed or the manifest is not scanned.
	Error string `json:"error,omitempty"`
	// Source is "layers", or "sbom <digest>" when the packages come from
	// an SBOM the owner pushed.
	Source    string     `json:"source,omitempty"`
	QueuedAt  *time.Time `json:"queuedAt,omitempty"`
	ScannedAt *time.Time `json:"scannedAt,omitempty"`
	// DataVersion is the vulnerability bundle the findings come from.
	DataVersion string        `json:"dataVersion,omitempty"`
	Summary     scan.Summary  `json:"summary"`
	Highest     scan.Severity `json:"highest,omitempty"`
	// Allowlisted counts findings an allowlist entry accepts.
	Allowlisted int `json:"allowlisted"`
	Packages    int `json:"packages"`
	// Findings and Problems are left out of lists.
	Findings []Finding         `json:"findings,omitempty"`
	Problems []extract.Problem `json:"problems,omitempty"`
}

// Finding is a finding with the allowlist entry that accepts it, if any.
type Finding struct {
	scan.Finding
	Allowlisted *Allowed `json:"allowlisted,omitempty"`
}

// ImageScan is the scan of an image: of its manifest, or of each platform
// image of an index.
type ImageScan struct {
	Repository string         `json:"repository"`
	Digest     digest.Digest  `json:"digest"`
	MediaType  string         `json:"mediaType"`
	Manifests  []ManifestScan `json:"manifests"`
}

// Allowed is an allowlist entry: a vulnerability accepted in a namespace,
// or everywhere ("" namespace), until it expires.
type Allowed struct {
	Namespace string     `json:"namespace"`
	ID        string     `json:"id"`
	Reason    string     `json:"reason"`
	Expires   *time.Time `json:"expires,omitempty"`
	CreatedBy string     `json:"createdBy,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
}

// Live reports whether the entry holds at t.
func (a Allowed) Live(t time.Time) bool { return a.Expires == nil || t.Before(*a.Expires) }

// target is one image manifest of an image.
type target struct {
	digest   digest.Digest
	platform string
}

// targets resolves ref in repo to the image manifests scanned for it.
func (s *Service) targets(ctx context.Context, repo string, ref oci.Reference) (*meta.Manifest, []target, error) {
	m, err := s.reg.Manifest(ctx, repo, ref)
	if err != nil {
		return nil, nil, err
	}
	if !extract.IsIndex(m.MediaType) {
		return m, []target{{digest: m.Digest}}, nil
	}
	ps, err := extract.Platforms(m.Payload)
	if err != nil {
		return nil, nil, apierr.Wrap(apierr.ManifestInvalid, err)
	}
	out := make([]target, 0, len(ps))
	for _, p := range ps {
		out = append(out, target{digest: digest.Digest(p.Digest), platform: p.Platform})
	}
	return m, out, nil
}

// Image returns the scan of image ref of repo, with findings.
func (s *Service) Image(ctx context.Context, repo string, ref oci.Reference) (ImageScan, error) {
	m, ts, err := s.targets(ctx, repo, ref)
	if err != nil {
		return ImageScan{}, err
	}
	allow, err := s.Entries(ctx, oci.Namespace(repo), true)
	if err != nil {
		return ImageScan{}, err
	}
	out := ImageScan{Repository: repo, Digest: m.Digest, MediaType: m.MediaType, Manifests: []ManifestScan{}}
	for _, t := range ts {
		ms, err := s.manifestScan(ctx, repo, t, allow, true)
		if err != nil {
			return ImageScan{}, err
		}
		out.Manifests = append(out.Manifests, ms)
	}
	return out, nil
}

// Request queues image ref of repo (each platform image of an index) for a
// scan now, ahead of pushes, and returns where its scans stand.
func (s *Service) Request(ctx context.Context, repo string, ref oci.Reference) (ImageScan, error) {
	_, ts, err := s.targets(ctx, repo, ref)
	if err != nil {
		return ImageScan{}, err
	}
	reqs := make([]meta.ScanRequest, 0, len(ts))
	for _, t := range ts {
		reqs = append(reqs, meta.ScanRequest{Repository: repo, Digest: t.digest, Priority: 10, Again: true})
	}
	// Queued with its scan.requested event, by the actor ctx carries.
	e := events.New(ctx, repo, &events.ScanRequested{Reference: ref.String()})
	err = s.opts.Meta.Update(ctx, func(tx meta.Tx) error {
		if _, err := tx.EnqueueScans(ctx, time.Now(), reqs...); err != nil {
			return err
		}
		return events.Append(ctx, tx, e)
	})
	if err != nil {
		return ImageScan{}, err
	}
	s.signal()
	return s.Image(ctx, repo, ref)
}

// Wait waits until the scan of manifest d of repo is no longer queued or
// running, or ctx is done, and returns it.
func (s *Service) Wait(ctx context.Context, repo string, d digest.Digest) (meta.Scan, error) {
	for {
		w := make(chan struct{})
		s.mu.Lock()
		k := waitKey(repo, d)
		s.waiters[k] = append(s.waiters[k], w)
		s.mu.Unlock()
		sc, err := s.store.Scan(ctx, repo, d)
		if err != nil || (sc.State != meta.ScanQueued && sc.State != meta.ScanRunning) {
			return sc, err
		}
		// Another replica may scan it: look again now and then.
		select {
		case <-ctx.Done():
			s.dropWaiter(k, w)
			return sc, ctx.Err()
		case <-w:
		case <-time.After(time.Second):
			s.dropWaiter(k, w)
		}
	}
}

// dropWaiter forgets w, which no scan on this replica woke.
func (s *Service) dropWaiter(k string, w chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.waiters[k]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(s.waiters, k)
	} else {
		s.waiters[k] = ws
	}
}

// manifestScan reads the scan of one image manifest.
func (s *Service) manifestScan(ctx context.Context, repo string, t target, allow []Allowed, full bool) (ManifestScan, error) {
	ms := ManifestScan{Repository: repo, Digest: t.digest, Platform: t.platform}
	sc, err := s.store.Scan(ctx, repo, t.digest)
	if errors.Is(err, meta.ErrNotFound) {
		ms.Status = StatusUnscanned
		return ms, nil
	}
	if err != nil {
		return ManifestScan{}, err
	}
	return s.view(sc, t.platform, allow, full)
}

// view turns a stored scan into what the API shows.
func (s *Service) view(sc meta.Scan, platform string, allow []Allowed, full bool) (ManifestScan, error) {
	ms := ManifestScan{Repository: sc.Repository, Digest: sc.Digest, Platform: platform, Status: sc.State,
		Error: sc.Error, Source: sc.Source, DataVersion: sc.DataVersion, Highest: scan.Severity(sc.Highest),
		Summary: scan.Summary{Critical: sc.Counts.Critical, High: sc.Counts.High, Medium: sc.Counts.Medium,
			Low: sc.Counts.Low, Unknown: sc.Counts.Unknown, Fixable: sc.Counts.Fixable}}
	if !sc.QueuedAt.IsZero() {
		q := sc.QueuedAt.UTC()
		ms.QueuedAt = &q
	}
	if !sc.FinishedAt.IsZero() && sc.State != meta.ScanQueued && sc.State != meta.ScanRunning {
		f := sc.FinishedAt.UTC()
		ms.ScannedAt = &f
	}
	if !full || sc.Findings == nil {
		return ms, nil
	}
	var fs []scan.Finding
	if err := json.Unmarshal(sc.Findings, &fs); err != nil {
		return ManifestScan{}, fmt.Errorf("read the findings of %s@%s: %w", sc.Repository, sc.Digest, err)
	}
	var pkgs []json.RawMessage
	if len(sc.Packages) > 0 {
		if err := json.Unmarshal(sc.Packages, &pkgs); err != nil {
			return ManifestScan{}, fmt.Errorf("read the packages of %s@%s: %w", sc.Repository, sc.Digest, err)
		}
	}
	ms.Packages = len(pkgs)
	if len(sc.Problems) > 0 {
		if err := json.Unmarshal(sc.Problems, &ms.Problems); err != nil {
			return ManifestScan{}, fmt.Errorf("read the problems of %s@%s: %w", sc.Repository, sc.Digest, err)
		}
	}
	now := time.Now()
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Severity.Rank() > fs[j].Severity.Rank() })
	ms.Findings = make([]Finding, 0, len(fs))
	for _, f := range fs {
		v := Finding{Finding: f}
		if a, ok := allowedFor(f, allow, now); ok {
			v.Allowlisted = &a
			ms.Allowlisted++
		}
		ms.Findings = append(ms.Findings, v)
	}
	return ms, nil
}

// allowedFor returns the live entry accepting f: its id or an alias.
func allowedFor(f scan.Finding, allow []Allowed, now time.Time) (Allowed, bool) {
	for _, a := range allow {
		if !a.Live(now) {
			continue
		}
		if strings.EqualFold(a.ID, f.ID) {
			return a, true
		}
		for _, alias := range f.Aliases {
			if strings.EqualFold(a.ID, alias) {
				return a, true
			}
		}
	}
	return Allowed{}, false
}

// Repository lists the scans of the manifests of repo, without findings.
func (s *Service) Repository(ctx context.Context, repo string, p meta.Page) ([]ManifestScan, error) {
	scans, err := s.store.ScanList(ctx, meta.ScanQuery{Repository: repo, After: digest.Digest(p.Last), N: p.N})
	if err != nil {
		return nil, err
	}
	out := make([]ManifestScan, 0, len(scans))
	for _, sc := range scans {
		ms, err := s.view(sc, "", nil, false)
		if err != nil {
			return nil, err
		}
		out = append(out, ms)
	}
	return out, nil
}

// Entries returns the allowlist entries of namespace ("" for the system-wide list)
// and, with system, the system-wide entries too.
func (s *Service) Entries(ctx context.Context, namespace string, system bool) ([]Allowed, error) {
	nss := []string{namespace}
	if system && namespace != "" {
		nss = append(nss, "")
	}
	recs, err := s.store.AllowedVulnerabilities(ctx, nss...)
	if err != nil {
		return nil, err
	}
	out := make([]Allowed, 0, len(recs))
	for _, r := range recs {
		a := Allowed{Namespace: r.Namespace, ID: r.ID, Reason: r.Reason, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC()}
		if !r.Expires.IsZero() {
			e := r.Expires.UTC()
			a.Expires = &e
		}
		out = append(out, a)
	}
	return out, nil
}

// advisoryID is the form of the ids OSV advisories and their aliases take
// (CVE-2024-0727, GHSA-xxxx-xxxx-xxxx, DSA-5621-1, GO-2024-2687,
// openSUSE-SU-2024:0001-1): letters and digits joined by '-', '.', '_'
// and ':'.
var advisoryID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// ErrAllowlist is wrapped by the errors of a bad allowlist entry.
var ErrAllowlist = errors.New("invalid allowlist entry")

// Allow adds or replaces an allowlist entry.
func (s *Service) Allow(ctx context.Context, a Allowed) (Allowed, error) {
	a.ID = strings.TrimSpace(a.ID)
	switch {
	case !advisoryID.MatchString(a.ID):
		return Allowed{}, fmt.Errorf("%w: id %q is not an advisory id (CVE-2024-1234, GHSA-xxxx-xxxx-xxxx)", ErrAllowlist, a.ID)
	case strings.TrimSpace(a.Reason) == "":
		return Allowed{}, fmt.Errorf("%w: a reason is required", ErrAllowlist)
	case len(a.Reason) > 1024:
		return Allowed{}, fmt.Errorf("%w: the reason is over 1024 characters", ErrAllowlist)
	case a.Expires != nil && !a.Expires.After(time.Now()):
		return Allowed{}, fmt.Errorf("%w: expires %s is in the past", ErrAllowlist, a.Expires.Format(time.RFC3339))
	}
	a.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	rec := meta.AllowedVulnerability{Namespace: a.Namespace, ID: a.ID, Reason: a.Reason, CreatedBy: a.CreatedBy, CreatedAt: a.CreatedAt}
	if a.Expires != nil {
		e := a.Expires.UTC().Truncate(time.Microsecond)
		a.Expires, rec.Expires = &e, e
	}
	err := s.opts.Meta.Update(ctx, func(tx meta.Tx) error {
		if err := tx.PutAllowedVulnerability(ctx, rec); err != nil {
			return err
		}
		return events.Append(ctx, tx, allowlistChanged(ctx, events.ChangeCreated, a.Namespace, a.ID))
	})
	if err != nil {
		return Allowed{}, err
	}
	s.allowlistChanged(a.Namespace)
	return a, nil
}

// Disallow removes an allowlist entry; meta.ErrNotFound if there is none.
func (s *Service) Disallow(ctx context.Context, namespace, id string) error {
	err := s.opts.Meta.Update(ctx, func(tx meta.Tx) error {
		if err := tx.DeleteAllowedVulnerability(ctx, namespace, id); err != nil {
			return err
		}
		return events.Append(ctx, tx, allowlistChanged(ctx, events.ChangeDeleted, namespace, id))
	})
	if err != nil {
		return err
	}
	s.allowlistChanged(namespace)
	return nil
}

// allowlistChanged is the event of entry id of namespace's allowlist ("":
// the system-wide one, whose scope the audit log calls "system") added or
// deleted.
func allowlistChanged(ctx context.Context, change, namespace, id string) events.Event {
	scope := namespace
	if scope == "" {
		scope = "system"
	}
	return events.New(ctx, "", &events.PolicyChanged{Policy: events.PolicyAllowlist, Change: change, Scope: scope, Rule: id}).InNamespace(namespace)
}

// allowlistChanged drops the pull decisions this replica cached; the
// store told the others.
func (s *Service) allowlistChanged(namespace string) {
	if namespace == "" {
		s.reg.InvalidateAll()
		return
	}
	s.reg.InvalidateNamespace(namespace)
}
