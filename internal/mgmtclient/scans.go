package mgmtclient

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// Scan returns the scan of image ref (a tag or digest) of repo.
func (c *Client) Scan(ctx context.Context, repo, ref string) (mgmt.ImageScan, error) {
	var s mgmt.ImageScan
	return s, c.do(ctx, http.MethodGet, "/repositories/"+repoPath(repo)+"/scans/"+seg(ref), nil, nil, &s)
}

// RequestScan scans image ref of repo now and, with wait, waits that long
// for the result.
func (c *Client) RequestScan(ctx context.Context, repo, ref string, wait time.Duration) (mgmt.ImageScan, error) {
	var q url.Values
	if wait > 0 {
		q = url.Values{"wait": {wait.String()}}
	}
	var s mgmt.ImageScan
	return s, c.do(ctx, http.MethodPost, "/repositories/"+repoPath(repo)+"/scans/"+seg(ref), q, nil, &s)
}

// Scans lists the scans of repo's manifests.
func (c *Client) Scans(ctx context.Context, repo string) ([]mgmt.ManifestScan, error) {
	return all[mgmt.ManifestScan](ctx, c, "/repositories/"+repoPath(repo)+"/scans", "last", nil)
}

// WriteSBOM stores an SBOM of image ref of repo in format as a referrer.
func (c *Client) WriteSBOM(ctx context.Context, repo, ref, format string) (mgmt.Referrers, error) {
	var r mgmt.Referrers
	return r, c.do(ctx, http.MethodPost, "/repositories/"+repoPath(repo)+"/sboms/"+seg(ref), nil, mgmt.SBOMCreate{Format: format}, &r)
}

// WriteScanReport stores the scan report of image ref of repo as a
// referrer.
func (c *Client) WriteScanReport(ctx context.Context, repo, ref string) (mgmt.Referrers, error) {
	var r mgmt.Referrers
	return r, c.do(ctx, http.MethodPost, "/repositories/"+repoPath(repo)+"/scan-reports/"+seg(ref), nil, nil, &r)
}

func allowlistPath(ns string) string {
	if ns == "" {
		return "/allowlist"
	}
	return "/namespaces/" + seg(ns) + "/allowlist"
}

// Allowlist lists the entries of namespace ns ("" for the system-wide
// list).
func (c *Client) Allowlist(ctx context.Context, ns string) ([]mgmt.Allowed, error) {
	var l mgmt.List[mgmt.Allowed]
	return l.Items, c.do(ctx, http.MethodGet, allowlistPath(ns), nil, nil, &l)
}

// Allow adds an entry to the allowlist of ns ("" for the system-wide one).
func (c *Client) Allow(ctx context.Context, ns string, in mgmt.AllowedCreate) (mgmt.Allowed, error) {
	var a mgmt.Allowed
	return a, c.do(ctx, http.MethodPost, allowlistPath(ns), nil, in, &a)
}

// Disallow removes an entry from the allowlist of ns.
func (c *Client) Disallow(ctx context.Context, ns, id string) error {
	return c.do(ctx, http.MethodDelete, allowlistPath(ns)+"/"+seg(id), nil, nil, nil)
}
