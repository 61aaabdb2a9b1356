package distv2

import (
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
