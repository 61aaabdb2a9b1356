package distv2

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseRoute(t *testing.T) {
	for _, tc := range []struct {
		path string
		want route
	}{
		{"/v2/", route{kind: RoutePing}},
		{"/v2/_catalog", route{kind: RouteCatalog}},
		{"/v2/a/b/manifests/v1", route{RouteManifest, "a/b", "v1"}},
		{"/v2/a/manifests/v1%2Fx", route{RouteManifest, "a", "v1/x"}},
		{"/v2/a/manifests/sha256%3Aabc", route{RouteManifest, "a", "sha256:abc"}},
		{"/v2/a%2Fb/tags/list", route{RouteTags, "a/b", ""}},
		{"/v2/a/blobs/uploads/", route{RouteUpload, "a", ""}},
		{"/v2/a/blobs/uploads", route{RouteUpload, "a", ""}},
		{"/v2/a/blobs/uploads/id", route{RouteUpload, "a", "id"}},
		{"/v2/a/blobs/sha256:x", route{RouteBlob, "a", "sha256:x"}},
		{"/v2/a/referrers/sha256:x", route{RouteReferrers, "a", "sha256:x"}},
		{"/v2/a/tags/other", route{kind: RouteUnknown}},
		{"/v2/a/nothing/here", route{kind: RouteUnknown}},
		{"/v2/a/manifests/%zz", route{kind: RouteUnknown}},
		{"/v3/a/manifests/x", route{kind: RouteUnknown}},
	} {
		if got := parseRoute(tc.path); got != tc.want {
			t.Errorf("parseRoute(%q) = %+v, want %+v", tc.path, got, tc.want)
		}
	}
}

// FuzzParseRoute: whatever a repository name and a reference hold, escaped
// into a manifest URL they come back as they were; an escaped slash in the
// reference never moves the split.
func FuzzParseRoute(f *testing.F) {
	f.Add("a/b", "v1")
	f.Add("a", "v1/x")
	f.Add("a", "sha256:abc")
	f.Add("x/manifests", "y/manifests/z")
	f.Fuzz(func(t *testing.T, repo, ref string) {
		if repo == "" || strings.Contains(repo, "//") || strings.HasPrefix(repo, "/") || strings.HasSuffix(repo, "/") {
			return
		}
		segs := strings.Split(repo, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		got := parseRoute("/v2/" + strings.Join(segs, "/") + "/manifests/" + url.PathEscape(ref))
		if got.kind != RouteManifest || got.repo != repo || got.arg != ref {
			t.Fatalf("repo %q ref %q parsed as %+v", repo, ref, got)
		}
	})
}
