package distv2

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
)

// maxPage bounds one page of tags or repositories; a client asking for more
// gets this many and a Link to the rest.
const maxPage = 10000

// parsePage reads n and last. Without n, tags come all at once (up to
// maxPage) as distribution does, and so does the catalog.
func parsePage(r *http.Request) (meta.Page, error) {
	q := r.URL.Query()
	p := meta.Page{Last: q.Get("last"), N: maxPage}
	if s := q.Get("n"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, apierr.New(apierr.PaginationInvalid, "n must be a non-negative integer, got %q", s)
		}
		p.N = min(n, maxPage)
	}
	return p, nil
}

// page asks the store for one more name than the client wants, to learn
// whether a next page exists without a second query.
func page(names []string, p meta.Page) ([]string, bool) {
	if p.N <= 0 {
		return nil, false
	}
	if len(names) > p.N {
		return names[:p.N], true
	}
	return names, false
}

func setNextLink(w http.ResponseWriter, path string, n int, last string) {
	q := url.Values{"n": {strconv.Itoa(n)}, "last": {last}}
	w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

func (h *Handler) tags(w http.ResponseWriter, r *http.Request, repo string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r)
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	var tags []string
	var warn registry.Warning
	if p.N > 0 {
		tags, warn, err = h.reg.PullTags(r.Context(), repo, meta.Page{Last: p.Last, N: p.N + 1})
	} else {
		_, warn, err = h.reg.PullTags(r.Context(), repo, meta.Page{Last: p.Last, N: 1})
	}
	if err != nil {
		return err
	}
	setWarning(w, warn)
	tags, more := page(tags, p)
	if more {
		setNextLink(w, "/v2/"+repo+"/tags/list", p.N, tags[len(tags)-1])
	}
	if tags == nil {
		tags = []string{}
	}
	return writeJSON(w, r, http.StatusOK, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{repo, tags})
}

func (h *Handler) catalog(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r)
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	var names []string
	if p.N > 0 {
		if names, err = h.catalogPage(r, meta.Page{Last: p.Last, N: p.N + 1}); err != nil {
			return err
		}
	}
	names, more := page(names, p)
	if more {
		setNextLink(w, "/v2/_catalog", p.N, names[len(names)-1])
	}
	if names == nil {
		names = []string{}
	}
	return writeJSON(w, r, http.StatusOK, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{names})
}

func (h *Handler) referrers(w http.ResponseWriter, r *http.Request, repo, arg string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r)
	}
	d, err := parseDigest(arg)
	if err != nil {
		return err
	}
	artifactType := r.URL.Query().Get("artifactType")
	descs, warn, err := h.reg.PullReferrers(r.Context(), repo, d, artifactType)
	if err != nil {
		return err
	}
	setWarning(w, warn)
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeJSON(w, r, http.StatusOK, oci.MediaTypeImageIndex, struct {
		SchemaVersion int              `json:"schemaVersion"`
		MediaType     string           `json:"mediaType"`
		Manifests     []oci.Descriptor `json:"manifests"`
	}{2, oci.MediaTypeImageIndex, descs})
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, contentType string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return nil
}
