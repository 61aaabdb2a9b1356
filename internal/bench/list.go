package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// maxPages bounds Link-following, so a registry whose Link never ends (or
// points back at itself) fails the listing instead of hanging the benchmark.
const maxPages = 100_000

// Listing is a complete tag list or catalog and how many pages it took.
type Listing struct {
	Names []string
	Pages int
}

// Tags lists every tag of repo, asking for n per page and following Link
// headers for as long as the registry paginates.
func (c *Client) Tags(ctx context.Context, repo string, n int) (Listing, error) {
	first := c.endpoint("/v2/"+repo+"/tags/list", url.Values{"n": {strconv.Itoa(n)}})
	return c.list(ctx, first, func(p *page) []string { return p.Tags })
}

// Catalog lists every repository in the registry, asking for n per page and
// following Link headers for as long as the registry paginates.
func (c *Client) Catalog(ctx context.Context, n int) (Listing, error) {
	first := c.endpoint("/v2/_catalog", url.Values{"n": {strconv.Itoa(n)}})
	return c.list(ctx, first, func(p *page) []string { return p.Repositories })
}

// page is the body of one tags/list or _catalog response.
type page struct {
	Tags         []string `json:"tags"`
	Repositories []string `json:"repositories"`
}

func (c *Client) list(ctx context.Context, u *url.URL, names func(*page) []string) (Listing, error) {
	var l Listing
	seen := map[string]bool{}
	for u != nil {
		if l.Pages == maxPages || seen[u.String()] {
			return l, fmt.Errorf("list %s: Link pagination does not end (page %d)", u.Redacted(), l.Pages+1)
		}
		seen[u.String()] = true
		var p page
		next, err := c.getPage(ctx, u, &p)
		if err != nil {
			return l, err
		}
		l.Names = append(l.Names, names(&p)...)
		l.Pages++
		u = next
	}
	return l, nil
}

// getPage fetches one page of a listing into p and returns the next page's
// URL from the Link header, or nil on the last page.
func (c *Client) getPage(ctx context.Context, u *url.URL, p *page) (*url.URL, error) {
	req, err := c.newRequest(ctx, http.MethodGet, u, nil, 0)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req, http.StatusOK)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", u.Redacted(), err)
	}
	if err := json.Unmarshal(body, p); err != nil {
		return nil, fmt.Errorf("list %s: decode: %w", u.Redacted(), err)
	}
	next, err := nextLink(resp.Request.URL, resp.Header.Get("Link"))
	if err != nil {
		return nil, fmt.Errorf("list %s: Link header %q: %w", u.Redacted(), resp.Header.Get("Link"), err)
	}
	return next, nil
}
