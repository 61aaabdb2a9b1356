package mgmt

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/scan/vulndb"
	"github.com/wharf-dev/wharf/internal/scanner"
)

// The scanning endpoints. Who may pull a repository sees its scans; who
// may push to it asks for scans, SBOMs and reports (they write referrers);
// a namespace's admins manage its allowlist, system administrators the
// system-wide one; anyone signed in reads the system-wide allowlist and
// the state of the vulnerability data.
var scanRoutes = []route{
	{method: http.MethodGet, path: "/api/v1/repositories/{repository}/scans", handler: (*Handler).listScans},
	{method: http.MethodGet, path: "/api/v1/repositories/{repository}/scans/{reference}", handler: (*Handler).getScan},
	{method: http.MethodPost, path: "/api/v1/repositories/{repository}/scans/{reference}", handler: (*Handler).requestScan},
	{method: http.MethodPost, path: "/api/v1/repositories/{repository}/sboms/{reference}", handler: (*Handler).writeSBOM},
	{method: http.MethodPost, path: "/api/v1/repositories/{repository}/scan-reports/{reference}", handler: (*Handler).writeScanReport},
	{method: http.MethodGet, path: "/api/v1/namespaces/{namespace}/allowlist", handler: (*Handler).listAllowlist},
	{method: http.MethodPost, path: "/api/v1/namespaces/{namespace}/allowlist", handler: (*Handler).allow},
	{method: http.MethodDelete, path: "/api/v1/namespaces/{namespace}/allowlist/{id}", handler: (*Handler).disallow},
	{method: http.MethodGet, path: "/api/v1/allowlist", handler: (*Handler).listAllowlist},
	{method: http.MethodPost, path: "/api/v1/allowlist", handler: (*Handler).allow},
	{method: http.MethodDelete, path: "/api/v1/allowlist/{id}", handler: (*Handler).disallow},
	{method: http.MethodGet, path: "/api/v1/vulndb", handler: (*Handler).vulnDBStatus},
}

// The answers of the scanning endpoints.
type (
	// ImageScan is the scan of an image: of each platform image of an
	// index.
	ImageScan = scanner.ImageScan
	// ManifestScan is the scan of one image manifest.
	ManifestScan = scanner.ManifestScan
	// Allowed is an allowlist entry.
	Allowed = scanner.Allowed
)

// AllowedCreate is the body of a new allowlist entry.
type AllowedCreate struct {
	ID      string     `json:"id"`
	Reason  string     `json:"reason"`
	Expires *time.Time `json:"expires,omitempty"`
}

// SBOMCreate is the body of an SBOM request: format is spdx or cyclonedx.
type SBOMCreate struct {
	Format string `json:"format"`
}

// Referrers lists the digests of referrers written.
type Referrers struct {
	Digests []digest.Digest `json:"digests"`
}

// VulnDBStatus is the vulnerability data this replica has loaded.
type VulnDBStatus struct {
	Loaded bool        `json:"loaded"`
	Data   *vulndb.Ref `json:"data,omitempty"`
}

// maxScanWait bounds ?wait on a scan request.
const maxScanWait = 10 * time.Minute

func (h *Handler) scans() (*scanner.Service, error) {
	if h.opts.Scanner == nil {
		return nil, apierr.New(apierr.NotFound, "scanning is off on this registry (scanning.enabled)")
	}
	return h.opts.Scanner, nil
}

// imageRef parses the {reference} of a scan route: a tag or a digest.
func imageRef(p params) (oci.Reference, error) {
	s := p["reference"]
	if d, err := digest.Parse(s); err == nil {
		return oci.Reference{Digest: d}, nil
	}
	if err := oci.ValidateTag(s); err != nil {
		return oci.Reference{}, invalid("%q is neither a tag nor a digest", s)
	}
	return oci.Reference{Tag: s}, nil
}

// scanError translates an error of the scanner.
func scanError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, scanner.ErrAllowlist), errors.Is(err, scanner.ErrFormat):
		return &apierr.Error{Code: apierr.RequestInvalid, Message: err.Error(), Err: err}
	case errors.Is(err, scanner.ErrNotScanned):
		return &apierr.Error{Code: apierr.Conflict, Message: err.Error(), Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &apierr.Error{Code: apierr.Unavailable, Message: "the scan did not finish in time; ask again later", Err: err}
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return registryError(err, what)
	}
	return storeError(err, what)
}

func (h *Handler) listScans(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	sv, err := h.scans()
	if err != nil {
		return err
	}
	repo := p["repository"]
	if err := h.repoAccess(r.Context(), c, repo, auth.ActionPull); err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	out, err := sv.Repository(r.Context(), repo, pg)
	if err != nil {
		return scanError(err, "repository "+repo)
	}
	return writeJSON(w, http.StatusOK, List[ManifestScan]{Items: out, Next: next(out, pg, func(m ManifestScan) string { return m.Digest.String() })})
}

func (h *Handler) getScan(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	sv, err := h.scans()
	if err != nil {
		return err
	}
	repo := p["repository"]
	if err := h.repoAccess(r.Context(), c, repo, auth.ActionPull); err != nil {
		return err
	}
	ref, err := imageRef(p)
	if err != nil {
		return err
	}
	out, err := sv.Image(r.Context(), repo, ref)
	if err != nil {
		return scanError(err, "image "+repo+":"+ref.String())
	}
	return writeJSON(w, http.StatusOK, out)
}

// requestScan queues the image for a scan now; with ?wait=DURATION it
// answers when the scans end (or the wait does: 202 with where they are).
func (h *Handler) requestScan(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	sv, err := h.scans()
	if err != nil {
		return err
	}
	repo := p["repository"]
	ctx := r.Context()
	if err := h.repoAccess(ctx, c, repo, auth.ActionPush); err != nil {
		return err
	}
	ref, err := imageRef(p)
	if err != nil {
		return err
	}
	var wait time.Duration
	if s := r.URL.Query().Get("wait"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil || wait < 0 || wait > maxScanWait {
			return invalid("wait must be a duration between 0s and %s, got %q", maxScanWait, s)
		}
	}
	out, err := sv.Request(ctx, repo, ref)
	h.refused(r, c, "scan.request", repo+":"+ref.String(), err) // a scan queued wrote its event in its transaction
	if err != nil {
		return scanError(err, "image "+repo+":"+ref.String())
	}
	if wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		for _, m := range out.Manifests {
			if _, err := sv.Wait(wctx, repo, m.Digest); err != nil {
				break
			}
		}
		if out, err = sv.Image(ctx, repo, ref); err != nil {
			return scanError(err, "image "+repo+":"+ref.String())
		}
	}
	status := http.StatusOK
	for _, m := range out.Manifests {
		if m.Status == meta.ScanQueued || m.Status == meta.ScanRunning {
			status = http.StatusAccepted
		}
	}
	return writeJSON(w, status, out)
}

// sbomWait bounds how long an SBOM or report request waits for the scan
// it needs.
const sbomWait = 5 * time.Minute

func (h *Handler) writeSBOM(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	sv, err := h.scans()
	if err != nil {
		return err
	}
	repo := p["repository"]
	if err := h.repoAccess(r.Context(), c, repo, auth.ActionPush); err != nil {
		return err
	}
	ref, err := imageRef(p)
	if err != nil {
		return err
	}
	var in SBOMCreate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), sbomWait)
	defer cancel()
	ds, err := sv.SBOM(ctx, repo, ref, in.Format)
	h.refused(r, c, "sbom.write", repo+":"+ref.String(), err) // the SBOM's push is its event
	if err != nil {
		return scanError(err, "image "+repo+":"+ref.String())
	}
	return writeJSON(w, http.StatusCreated, Referrers{Digests: ds})
}

func (h *Handler) writeScanReport(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	sv, err := h.scans()
	if err != nil {
		return err
	}
	repo := p["repository"]
	if err := h.repoAccess(r.Context(), c, repo, auth.ActionPush); err != nil {
		return err
	}
	ref, err := imageRef(p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), sbomWait)
	defer cancel()
	ds, err := sv.Report(ctx, repo, ref)
	h.refused(r, c, "scan.report", repo+":"+ref.String(), err) // the report's push is its event
	if err != nil {
		return scanError(err, "image "+repo+":"+ref.String())
	}
	return writeJSON(w, http.StatusCreated, Referrers{Digests: ds})
}

// allowlistScope checks c may read (or, with manage, change) the
// allowlist of the route: a namespace's, or the system-wide one ("").
func (h *Handler) allowlistScope(ctx context.Context, c access.Caller, p params, manage bool) (string, error) {
	ns, ok := p["namespace"]
	switch {
	case !ok && manage && !c.SystemAdmin():
		return "", denied("only system administrators change the system-wide allowlist")
	case !ok:
		return "", nil
	case c.SystemAdmin():
		// Without access control namespaces have no records: the
		// (local) administrator names any namespace.
		if err := oci.ValidateName(ns); err != nil || strings.Contains(ns, "/") {
			return "", invalid("%q is not a namespace name", ns)
		}
		return ns, nil
	case manage:
		_, err := h.manageable(ctx, c, ns)
		return ns, err
	default:
		_, err := h.namespace(ctx, c, ns)
		return ns, err
	}
}

func (h *Handler) listAllowlist(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	sv, err := h.scans()
	if err != nil {
		return err
	}
	ns, err := h.allowlistScope(r.Context(), c, p, false)
	if err != nil {
		return err
	}
	out, err := sv.Entries(r.Context(), ns, false)
	if err != nil {
		return scanError(err, "allowlist")
	}
	return writeJSON(w, http.StatusOK, List[Allowed]{Items: out})
}

func (h *Handler) allow(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	sv, err := h.scans()
	if err != nil {
		return err
	}
	var in AllowedCreate
	var out Allowed
	ns, err := h.allowlistScope(r.Context(), c, p, true)
	if err == nil {
		err = decode(w, r, &in)
	}
	if err == nil {
		out, err = sv.Allow(r.Context(), Allowed{Namespace: ns, ID: in.ID, Reason: in.Reason, Expires: in.Expires, CreatedBy: c.Account()})
		err = scanError(err, "allowlist entry "+in.ID)
	}
	h.refused(r, c, "allowlist.add", allowlistTarget(ns), err) // the change's event is in its transaction
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, out)
}

func (h *Handler) disallow(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	sv, err := h.scans()
	if err != nil {
		return err
	}
	ns, err := h.allowlistScope(r.Context(), c, p, true)
	if err == nil {
		err = scanError(sv.Disallow(r.Context(), ns, p["id"]), "allowlist entry "+p["id"])
	}
	h.refused(r, c, "allowlist.delete", allowlistTarget(ns), err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func allowlistTarget(ns string) string {
	if ns == "" {
		return "system"
	}
	return ns
}

func (h *Handler) vulnDBStatus(w http.ResponseWriter, r *http.Request, _ access.Caller, _ params) error {
	sv, err := h.scans()
	if err != nil {
		return err
	}
	ref, ok := sv.Data()
	out := VulnDBStatus{Loaded: ok}
	if ok {
		out.Data = &ref
	}
	return writeJSON(w, http.StatusOK, out)
}
