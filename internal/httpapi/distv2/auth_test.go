package distv2

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"

	"github.com/wharf-dev/wharf/internal/auth"
)

// TestNeeded pins what every route and method needs. A route kind missing
// from needed falls to an action nobody holds.
func TestNeeded(t *testing.T) {
	const d = "/sha256:0000000000000000000000000000000000000000000000000000000000000000"
	for _, tc := range []struct {
		method, path string
		want         []auth.Action
	}{
		{"GET", "/v2/", nil},
		{"GET", "/v2/_catalog", nil},
		{"GET", "/v2/a/b/tags/list", []auth.Action{"pull"}},
		{"GET", "/v2/a/b/referrers" + d, []auth.Action{"pull"}},
		{"GET", "/v2/a/b/manifests/v1", []auth.Action{"pull"}},
		{"HEAD", "/v2/a/b/manifests/v1", []auth.Action{"pull"}},
		{"PUT", "/v2/a/b/manifests/v1", []auth.Action{"push"}},
		{"DELETE", "/v2/a/b/manifests/v1", []auth.Action{"delete"}},
		{"GET", "/v2/a/b/blobs" + d, []auth.Action{"pull"}},
		{"HEAD", "/v2/a/b/blobs" + d, []auth.Action{"pull"}},
		{"DELETE", "/v2/a/b/blobs" + d, []auth.Action{"delete"}},
		{"POST", "/v2/a/b/blobs/uploads/", []auth.Action{"push"}},
		{"PATCH", "/v2/a/b/blobs/uploads/x", []auth.Action{"push"}},
		{"PUT", "/v2/a/b/blobs/uploads/x", []auth.Action{"push"}},
		{"GET", "/v2/a/b/blobs/uploads/x", []auth.Action{"push"}},
		{"DELETE", "/v2/a/b/blobs/uploads/x", []auth.Action{"push"}},
	} {
		if got := needed(parseRoute(tc.path), tc.method); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s needs %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
	if got := needed(route{kind: "a-route-added-later"}, "GET"); len(got) != 1 || auth.RoleAdmin.Grants(got[0]) {
		t.Errorf("an unknown route needs %v, which an admin holds", got)
	}
}

func TestClientAddr(t *testing.T) {
	h := &Handler{proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}}
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.1:1234", nil, "192.0.2.1"},
		{"192.0.2.1:1234", []string{"203.0.113.9"}, "192.0.2.1"},                        // not a proxy: header ignored
		{"127.0.0.1:1", []string{"203.0.113.9"}, "203.0.113.9"},                         // one proxy
		{"127.0.0.1:1", []string{"198.51.100.1, 203.0.113.9, 10.0.0.2"}, "203.0.113.9"}, // forged first hop
		{"127.0.0.1:1", []string{"198.51.100.1", "203.0.113.9"}, "203.0.113.9"},         // two header lines
		{"127.0.0.1:1", []string{"garbage"}, "127.0.0.1"},                               // malformed: the proxy
		{"127.0.0.1:1", []string{"10.0.0.3"}, "10.0.0.3"},                               // only proxies: the first
		{"[::ffff:127.0.0.1]:1", []string{"2001:db8::1"}, "2001:db8::1"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/v2/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := h.clientAddr(r).String(); got != tc.want {
			t.Errorf("%s %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}
