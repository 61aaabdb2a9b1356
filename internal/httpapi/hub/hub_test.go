package hub

import (
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
)

func TestParseRoute(t *testing.T) {
	for _, tc := range []struct {
		path string
		want route
		ok   bool
	}{
		{"/v2/users/login", route{kind: RouteLogin}, true},
		{"/v2/users/login/", route{kind: RouteLogin}, true},
		{"/v2/repositories/team/", route{kind: RouteRepositories, namespace: "team"}, true},
		{"/v2/repositories/team", route{kind: RouteRepositories, namespace: "team"}, true},
		{"/v2/repositories/team/app/", route{kind: RouteRepository, namespace: "team", repo: "team/app"}, true},
		{"/v2/repositories/team/app/tags/", route{kind: RouteTags, namespace: "team", repo: "team/app"}, true},
		{"/v2/repositories/team/app/tags", route{kind: RouteTags, namespace: "team", repo: "team/app"}, true},
		{"/v2/repositories/team/app/tags/v1/", route{kind: RouteTag, namespace: "team", repo: "team/app", tag: "v1"}, true},
		{"/v2/repositories/team/app/tags/v1", route{kind: RouteTag, namespace: "team", repo: "team/app", tag: "v1"}, true},
		// More than two segments, slashed or escaped.
		{"/v2/repositories/team/sub/app/tags/", route{kind: RouteTags, namespace: "team", repo: "team/sub/app"}, true},
		{"/v2/repositories/team/sub%2Fapp/tags/v1/", route{kind: RouteTag, namespace: "team", repo: "team/sub/app", tag: "v1"}, true},
		// A tag named tags; a repository named tags.
		{"/v2/repositories/team/app/tags/tags/", route{kind: RouteTag, namespace: "team", repo: "team/app", tag: "tags"}, true},
		{"/v2/repositories/team/tags/", route{kind: RouteRepository, namespace: "team", repo: "team/tags"}, true},
		{"/v2/repositories/team/app%2Ftags/tags/", route{kind: RouteTags, namespace: "team", repo: "team/app/tags"}, true},
		{"/v2/repositories/", route{}, false},
		{"/v2/repositories/team//tags/", route{}, false},
		{"/v2/repositories/te%2Fam/", route{}, false},
		{"/v2/repositories/team/%zz/", route{}, false},
		{"/v2/team/app/tags/list", route{}, false},
		{"/v2/users/logout", route{}, false},
		{"/v1/repositories/team/", route{}, false},
	} {
		got, ok := parseRoute(tc.path)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseRoute(%q) = %+v, %v; want %+v, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParsePage(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  pageQuery
		bad   bool
	}{
		{"", pageQuery{page: 1, size: 100, ordering: "last_updated"}, false},
		{"page_size=10&page=3&ordering=-name&name=abc", pageQuery{page: 3, size: 10, ordering: "-name", name: "abc"}, false},
		{"page_size=1000", pageQuery{page: 1, size: 100, ordering: "last_updated"}, false},
		{"page_size=100", pageQuery{page: 1, size: 100, ordering: "last_updated"}, false},
		{"page_size=0", pageQuery{}, true},
		{"page_size=-1", pageQuery{}, true},
		{"page_size=abc", pageQuery{}, true},
		{"page_size=", pageQuery{page: 1, size: 100, ordering: "last_updated"}, false},
		{"page=0", pageQuery{}, true},
		{"page=1.5", pageQuery{}, true},
		{"page=99999999999999999999", pageQuery{}, true},
		{"ordering=newest", pageQuery{}, true},
	} {
		q, _ := url.ParseQuery(tc.query)
		got, err := parsePage(q)
		if tc.bad != (err != nil) || !tc.bad && got != tc.want {
			t.Errorf("parsePage(%q) = %+v, %v; want %+v (error %v)", tc.query, got, err, tc.want, tc.bad)
		}
	}
}

func TestWindow(t *testing.T) {
	for _, tc := range []struct {
		page, size, count, from, to int
		bad                         bool
	}{
		{1, 10, 0, 0, 0, false}, // the first page of nothing
		{1, 10, 25, 0, 10, false},
		{3, 10, 25, 20, 25, false},
		{4, 10, 25, 0, 0, true},
		{2, 10, 10, 0, 0, true},
		{1 << 62, 100, 25, 0, 0, true}, // (page-1)*size overflows
	} {
		from, to, err := pageQuery{page: tc.page, size: tc.size}.window(tc.count)
		if tc.bad != (err != nil) || from != tc.from || to != tc.to {
			t.Errorf("page %d of %d in %d: [%d,%d) %v", tc.page, tc.size, tc.count, from, to, err)
		}
	}
}

func TestOrigin(t *testing.T) {
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		name    string
		remote  string
		headers map[string]string
		want    string
	}{
		{"direct", "192.0.2.1:1234", nil, "http://wharf.test"},
		{"untrusted forwarding ignored", "192.0.2.1:1234", map[string]string{"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}, "http://wharf.test"},
		{"X-Forwarded", "10.1.2.3:1234", map[string]string{"X-Forwarded-Host": "registry.example.com, inner", "X-Forwarded-Proto": "https"}, "https://registry.example.com"},
		{"Forwarded", "10.1.2.3:1234", map[string]string{"Forwarded": `for=192.0.2.60;proto=https;host="registry.example.com:8443", for=10.0.0.1;host=inner`}, "https://registry.example.com:8443"},
		{"Forwarded wins", "10.1.2.3:1234", map[string]string{"Forwarded": "host=a.example;proto=https", "X-Forwarded-Host": "b.example"}, "https://a.example"},
		{"bad host ignored", "10.1.2.3:1234", map[string]string{"X-Forwarded-Host": "a.example/evil?x", "X-Forwarded-Proto": "gopher"}, "http://wharf.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(Options{TrustedProxies: proxy})
			r := httptest.NewRequest("GET", "http://wharf.test/v2/repositories/team/app/tags/", nil)
			r.RemoteAddr = tc.remote
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			if got := h.origin(r); got != tc.want {
				t.Errorf("origin = %q, want %q", got, tc.want)
			}
		})
	}
}
