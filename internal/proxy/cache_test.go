package proxy_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/proxy"
)

// TestPullThrough: a pull of an uncached image fetches it from the
// upstream once, with its referrers, stores it, and serves every later
// pull from the cache without asking the upstream.
func TestPullThrough(t *testing.T) {
	up := newUpstream(t)
	img := pushImage(t, up.reg, "library/alpine", "3.20", "alpine layer one", "alpine layer two")
	sig := pushSignature(t, up.reg, "library/alpine", img.desc, "signed alpine")
	c := newCache(t, newStore(t), up.srv.URL, time.Hour)

	if warn := c.pull("hub/library/alpine", "3.20", img); warn != "" {
		t.Errorf("first pull warned: %s", warn)
	}
	for _, b := range img.blobs {
		eventually(t, "blob "+b.Digest.String()+" is stored", func() bool { return c.holds("hub/library/alpine", b.Digest) })
		if n := up.count("GET blobs " + b.Digest.String()); n != 1 {
			t.Errorf("blob %s fetched %d times, want 1", b.Digest, n)
		}
	}
	if n := up.count("GET manifests 3.20"); n != 1 {
		t.Errorf("manifest fetched %d times, want 1", n)
	}
	// The signature came with the image: stored before anyone asked.
	if _, err := c.st.ms.Manifest(context.Background(), "hub/library/alpine", sig.Digest); err != nil {
		t.Errorf("the image's signature was not fetched with it: %v", err)
	}
	status, _, body := c.get("/v2/hub/library/alpine/referrers/" + img.desc.Digest.String())
	if status != http.StatusOK || !strings.Contains(string(body), sig.Digest.String()) {
		t.Errorf("referrers: %d %s; want the signature", status, body)
	}

	before := up.total()
	c.pull("hub/library/alpine", "3.20", img)
	c.pull("hub/library/alpine", img.desc.Digest.String(), img)
	if after := up.total(); after != before {
		t.Errorf("pulls of a cached image made %d requests to the upstream", after-before)
	}
	if n := len(c.events.of(proxy.EventCacheFilled)); n < 1+len(img.blobs) {
		t.Errorf("%d cache-filled events, want one per manifest and blob", n)
	}
}

// TestDockerHubNames: in a namespace mirroring Docker Hub, a name of one
// segment is the library/ image, asked for as such upstream.
func TestDockerHubNames(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	px, err := proxy.New(proxy.Options{Registry: st.registry(), Meta: st.ms, Content: st.cs, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	must(t, st.ms.CreateNamespace(ctx, meta.Namespace{Name: "hub", Kind: meta.NamespaceProxy}))
	// A URL with credentials is refused without echoing the password.
	if _, err := px.SetUpstream(ctx, "hub", proxy.Config{URL: "https://me:s3cret-pw@registry.example"}); err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("an upstream URL with credentials: %v; want a refusal without the password", err)
	}
	s, err := px.SetUpstream(ctx, "hub", proxy.Config{URL: "docker.io"})
	if err != nil {
		t.Fatal(err)
	}
	if s.URL != "https://registry-1.docker.io" || s.TagCheckInterval != proxy.DefaultTagCheckInterval {
		t.Errorf("docker.io upstream stored as %s, interval %s", s.URL, s.TagCheckInterval)
	}
	for in, want := range map[string]string{
		"hub/nginx":           "hub/library/nginx",
		"hub/library/nginx":   "hub/library/nginx",
		"hub/bitnami/redis":   "hub/bitnami/redis",
		"team/nginx":          "team/nginx",
		"library/nginx":       "library/nginx", // no default mirror
		"hubble/nginx":        "hubble/nginx",
		"hub/library/a/b/c/d": "hub/library/a/b/c/d",
	} {
		got, err := px.Route(ctx, in, "", true)
		if err != nil || got != want {
			t.Errorf("Route(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	// containerd's ns= names the upstream.
	for _, ns := range []string{"docker.io", "registry-1.docker.io", "index.docker.io"} {
		if got, _ := px.Route(ctx, "library/alpine", ns, true); got != "hub/library/alpine" {
			t.Errorf("Route(library/alpine, ns=%s) = %s", ns, got)
		}
	}
	if got, _ := px.Route(ctx, "library/alpine", "quay.io", true); got != "library/alpine" {
		t.Errorf("Route with ns of no upstream = %s", got)
	}
	if got, _ := px.Route(ctx, "library/alpine", "docker.io", false); got != "library/alpine" {
		t.Errorf("a write was routed to the mirror: %s", got)
	}
}

// TestDefaultMirror: with a default mirror, a read at the root of what
// this registry does not hold goes to the mirror; what it holds, or a
// namespace it has, stays.
func TestDefaultMirror(t *testing.T) {
	ctx := context.Background()
	up := newUpstream(t)
	img := pushImage(t, up.reg, "library/alpine", "latest", "alpine")
	st := newStore(t)
	c := newCache(t, st, up.srv.URL, time.Hour)
	yes := true
	if _, err := c.px.SetUpstream(ctx, "hub", proxy.Config{URL: up.srv.URL, Default: yes}); err != nil {
		t.Fatal(err)
	}
	pushImage(t, c.reg, "team/app", "v1", "ours")
	must(t, st.ms.CreateNamespace(ctx, meta.Namespace{Name: "empty"}))
	for in, want := range map[string]string{
		"library/alpine": "hub/library/alpine",
		"team/app":       "team/app",
		"empty/thing":    "empty/thing",
		"hub/x":          "hub/x",
	} {
		got, err := c.px.Route(ctx, in, "", true)
		if err != nil || got != want {
			t.Errorf("Route(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	routed, _ := c.px.Route(ctx, "library/alpine", "", true)
	c.pull(routed, "latest", img)
}

// TestUpstreamDown: with the upstream gone, what is cached is served with
// a warning and an event, and what is not fails with an error naming the
// upstream. Digests are never checked.
func TestUpstreamDown(t *testing.T) {
	up := newUpstream(t)
	img := pushImage(t, up.reg, "library/alpine", "3.20", "alpine")
	pushImage(t, up.reg, "library/alpine", "3.21", "never pulled")
	c := newCache(t, newStore(t), up.srv.URL, 0) // check at every pull
	c.pull("hub/library/alpine", "3.20", img)
	if warn := c.pull("hub/library/alpine", "3.20", img); warn != "" {
		t.Fatalf("a pull with the upstream up warned: %s", warn)
	}
	host := strings.TrimPrefix(up.srv.URL, "http://")
	up.srv.Close()

	warn := c.pull("hub/library/alpine", "3.20", img)
	if !strings.Contains(warn, host) || !strings.Contains(warn, "served from the cache") {
		t.Errorf("Warning %q does not name the upstream or say the manifest came from the cache", warn)
	}
	if w := c.pull("hub/library/alpine", img.desc.Digest.String(), img); w != "" {
		t.Errorf("a pull by digest warned: %s", w)
	}
	status, _, body := c.get("/v2/hub/library/alpine/manifests/3.21")
	if status != http.StatusServiceUnavailable || !strings.Contains(string(body), host) || !strings.Contains(string(body), "UNAVAILABLE") {
		t.Errorf("uncached tag with the upstream down: %d %s; want 503 naming the upstream", status, body)
	}
	if n := len(c.events.of(proxy.EventUpstreamDown)); n != 1 {
		t.Errorf("%d upstream-down events, want 1", n)
	}
	if n := len(c.events.of(proxy.EventServedStale)); n < 1 {
		t.Error("no served-stale event")
	}
	st, err := c.px.Upstream(context.Background(), "hub")
	if err != nil || st.Health.Available || st.Health.Error == "" || st.Health.Since.IsZero() {
		t.Errorf("status while down: %+v, %v", st.Health, err)
	}
}

// TestTagChecks: a cached tag is served as stored for the check interval,
// then checked with one HEAD; when it moved upstream the cache follows.
func TestTagChecks(t *testing.T) {
	up := newUpstream(t)
	v1 := pushImage(t, up.reg, "library/app", "latest", "one")
	lazy := newCache(t, newStore(t), up.srv.URL, time.Hour)
	eager := newCache(t, newStore(t), up.srv.URL, 0)
	lazy.pull("hub/library/app", "latest", v1)
	eager.pull("hub/library/app", "latest", v1)
	heads := up.count("HEAD manifests latest")

	v2 := pushImage(t, up.reg, "library/app", "latest", "two")
	lazy.pull("hub/library/app", "latest", v1) // within the interval: as cached
	if n := up.count("HEAD manifests latest"); n != heads {
		t.Errorf("a fresh tag was checked: %d HEAD requests", n-heads)
	}
	eager.pull("hub/library/app", "latest", v2)
	if n := up.count("HEAD manifests latest"); n != heads+1 {
		t.Errorf("a due tag took %d HEAD requests, want 1", n-heads)
	}
	eager.pull("hub/library/app", "latest", v2)
	if got := up.count("GET manifests " + v2.desc.Digest.String()); got != 1 {
		t.Errorf("the moved tag's manifest was fetched %d times, want 1", got)
	}
	// The old manifest stays, by digest, without asking.
	before := up.total()
	eager.pull("hub/library/app", v1.desc.Digest.String(), v1)
	if up.total() != before {
		t.Error("a pull by digest asked the upstream")
	}
}

// TestTagGoneUpstream: a tag the upstream deleted is served as cached,
// with a warning that says so.
func TestTagGoneUpstream(t *testing.T) {
	up := newUpstream(t)
	img := pushImage(t, up.reg, "library/app", "old", "old")
	c := newCache(t, newStore(t), up.srv.URL, 0)
	c.pull("hub/library/app", "old", img)
	if err := up.reg.DeleteManifest(context.Background(), "library/app", oci.Reference{Tag: "old"}); err != nil {
		t.Fatal(err)
	}
	warn := c.pull("hub/library/app", "old", img)
	if !strings.Contains(warn, "no longer has") {
		t.Errorf("Warning %q does not say the upstream lost the tag", warn)
	}
}

// TestPushes: a proxy namespace refuses pushes unless allowed; a pushed
// tag then overrides the upstream's and is never checked.
func TestPushes(t *testing.T) {
	ctx := context.Background()
	up := newUpstream(t)
	pushImage(t, up.reg, "library/app", "v1", "upstream's")
	c := newCache(t, newStore(t), up.srv.URL, 0)
	status, _, body := do(t, http.MethodPost, c.srv.URL+"/v2/hub/library/app/blobs/uploads/")
	if status != http.StatusForbidden || !strings.Contains(string(body), "pull-through cache") {
		t.Fatalf("push into a proxy namespace: %d %s; want 403 saying why", status, body)
	}
	if _, err := c.reg.StartUpload(ctx, "hub/library/app"); err == nil {
		t.Fatal("the registry started an upload in a proxy namespace")
	}
	if _, err := c.px.SetUpstream(ctx, "hub", proxy.Config{URL: up.srv.URL, AllowPush: true, TagCheckInterval: new(time.Duration)}); err != nil {
		t.Fatal(err)
	}
	ours := pushImage(t, c.reg, "hub/library/app", "v1", "ours")
	before := up.count("HEAD manifests v1")
	c.pull("hub/library/app", "v1", ours)
	if up.count("HEAD manifests v1") != before {
		t.Error("a pushed tag was checked with the upstream")
	}
}

// TestTagsList: the tags of a proxied repository are the upstream's and
// the cache's together; without the upstream, the cache's with a warning.
func TestTagsList(t *testing.T) {
	up := newUpstream(t)
	a := pushImage(t, up.reg, "library/app", "a", "a")
	pushImage(t, up.reg, "library/app", "b", "b")
	c := newCache(t, newStore(t), up.srv.URL, time.Hour)
	c.pull("hub/library/app", "a", a)
	tags := func() ([]string, string) {
		status, h, body := c.get("/v2/hub/library/app/tags/list")
		var l struct{ Tags []string }
		if status != http.StatusOK || json.Unmarshal(body, &l) != nil {
			t.Fatalf("tags: %d %s", status, body)
		}
		return l.Tags, h.Get("Warning")
	}
	if got, warn := tags(); strings.Join(got, ",") != "a,b" || warn != "" {
		t.Errorf("tags = %v (warning %q), want a,b", got, warn)
	}
	up.srv.Close()
	if got, warn := tags(); strings.Join(got, ",") != "a" || warn == "" {
		t.Errorf("tags with the upstream down = %v (warning %q), want a with a warning", got, warn)
	}
}

// TestQuota: a blob that would exceed the namespace's quota is refused
// before its bytes are fetched, and nothing is stored.
func TestQuota(t *testing.T) {
	ctx := context.Background()
	up := newUpstream(t)
	img := pushImage(t, up.reg, "library/big", "v1", strings.Repeat("x", 64<<10))
	c := newCache(t, newStore(t), up.srv.URL, time.Hour)
	if err := c.reg.SetQuota(ctx, "hub", 4<<10); err != nil {
		t.Fatal(err)
	}
	if status, _, body := c.get("/v2/hub/library/big/manifests/v1"); status != http.StatusOK {
		t.Fatalf("manifest: %d %s", status, body)
	}
	layer := img.blobs[1]
	status, _, body := c.get("/v2/hub/library/big/blobs/" + layer.Digest.String())
	if status != http.StatusForbidden || !strings.Contains(string(body), "quota") {
		t.Errorf("a blob over quota: %d %s; want 403 naming the quota", status, body)
	}
	if c.holds("hub/library/big", layer.Digest) {
		t.Error("the blob over quota was stored")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
