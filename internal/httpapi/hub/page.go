package hub

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/httpapi/mw"
)

// Page sizes. Docker Hub's default is 10, which makes a script that lists a
// repository's tags and deletes all but the newest N see only the newest
// ten and delete nothing; wharf answers 100 by default, Docker Hub's most,
// so such a script works for repositories of up to 100 tags unchanged.
// Larger page sizes are cut to 100, as Docker Hub cuts them.
const (
	defaultPageSize = 100
	maxPageSize     = 100
)

// pageQuery is a list request's paging, ordering and filter.
type pageQuery struct {
	page, size int
	ordering   string
	name       string // tags whose name contains it; tags only
}

// orderings are the values of ordering a list takes: by when last updated,
// newest first (Docker Hub's default, and what ordering=last_updated
// asks for) or oldest first, and by name.
var orderings = []string{"last_updated", "-last_updated", "name", "-name"}

// parsePage reads page, page_size, ordering and name. A page_size over 100
// is cut to 100; one under 1, or a page that is not a whole number from 1,
// is refused.
func parsePage(q url.Values) (pageQuery, error) {
	pq := pageQuery{page: 1, size: defaultPageSize, ordering: "last_updated", name: q.Get("name")}
	if s := q.Get("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return pq, badRequest("page_size must be a whole number from 1 to 100 (larger ones are cut to 100)", map[string]string{"page_size": truncate(s)})
		}
		pq.size = min(n, maxPageSize)
	}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return pq, badRequest("page must be a whole number from 1", map[string]string{"page": truncate(s)})
		}
		pq.page = n
	}
	if s := q.Get("ordering"); s != "" {
		ok := false
		for _, o := range orderings {
			ok = ok || s == o
		}
		if !ok {
			return pq, badRequest("ordering must be last_updated, -last_updated, name or -name", map[string]string{"ordering": truncate(s)})
		}
		pq.ordering = s
	}
	return pq, nil
}

// window returns the bounds of the page in a list of count items. A page
// past the last is not found, except the first page of an empty list.
func (pq pageQuery) window(count int) (from, to int, err error) {
	from = (pq.page - 1) * pq.size
	if pq.page > 1 && (from >= count || from/pq.size != pq.page-1) {
		return 0, 0, notFound("Invalid page.", map[string]string{"page": strconv.Itoa(pq.page), "count": strconv.Itoa(count)})
	}
	return from, min(from+pq.size, count), nil
}

// order sorts by the page's ordering, given each item's name and update time.
func (pq pageQuery) less(aName string, aTime time.Time, bName string, bTime time.Time) int {
	byName := strings.Compare(aName, bName)
	switch pq.ordering {
	case "name":
		return byName
	case "-name":
		return -byName
	case "-last_updated":
		if c := aTime.Compare(bTime); c != 0 {
			return c
		}
		return byName
	}
	if c := bTime.Compare(aTime); c != 0 {
		return c
	}
	return byName
}

// page is Docker Hub's page of results.
type page[T any] struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []T     `json:"results"`
}

// links sets the absolute URLs of the next and previous pages: the
// request's own path and query with page moved, on the host and scheme
// the client used (through a trusted proxy, the ones it forwarded).
func (h *Handler) links(r *http.Request, pq pageQuery, count int, p interface{ set(next, prev *string) }) {
	base := h.origin(r) + r.URL.EscapedPath()
	at := func(n int) *string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		q.Set("page_size", strconv.Itoa(pq.size))
		s := base + "?" + q.Encode()
		return &s
	}
	var next, prev *string
	if pq.page*pq.size < count {
		next = at(pq.page + 1)
	}
	if pq.page > 1 {
		prev = at(pq.page - 1)
	}
	p.set(next, prev)
}

func (p *page[T]) set(next, prev *string) { p.Next, p.Previous = next, prev }

// origin is the scheme and host the client sent the request to. Behind a
// trusted proxy, the proxy's Forwarded header (RFC 7239: its first
// element, the client's side), or else its X-Forwarded-Proto and
// X-Forwarded-Host, say them; a value that is not a plain host or scheme
// is ignored.
func (h *Handler) origin(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if mw.FromTrustedProxy(r, h.proxies) {
		fproto, fhost := forwarded(r.Header.Get("Forwarded"))
		if fproto == "" && fhost == "" {
			fproto = firstValue(r.Header.Get("X-Forwarded-Proto"))
			fhost = firstValue(r.Header.Get("X-Forwarded-Host"))
		}
		if p := strings.ToLower(fproto); p == "http" || p == "https" {
			scheme = p
		}
		if validHost(fhost) {
			host = fhost
		}
	}
	return scheme + "://" + host
}

// forwarded reads proto and host from the first element of a Forwarded
// header.
func forwarded(v string) (proto, host string) {
	first, _, _ := strings.Cut(v, ",")
	for _, pair := range strings.Split(first, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			continue
		}
		val = strings.Trim(val, `"`)
		switch strings.ToLower(k) {
		case "proto":
			proto = val
		case "host":
			host = val
		}
	}
	return proto, host
}

func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

// validHost reports whether s is a host, with an optional port, that can
// stand in a URL as it is.
func validHost(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.ContainsRune(".-:[]_", c)
		if !ok {
			return false
		}
	}
	return true
}

// truncate cuts a value quoted back to the client.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
