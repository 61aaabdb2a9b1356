package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/server"
)

// testClock is a clock a test sets.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// openTestRegistryAt starts a server over cfg whose usage figures run on
// clock.
func openTestRegistryAt(t *testing.T, cfg config.Config, clock func() time.Time) *testRegistry {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Resolve()
	s, err := server.NewAt(context.Background(), cfg, slog.New(slog.DiscardHandler), clock)
	if err != nil {
		t.Fatal(err)
	}
	tr := &testRegistry{t: t, srv: httptest.NewServer(s.Handler()), s: s}
	t.Cleanup(tr.close)
	return tr
}

// platformImage is an image pushed by digest, for an index to list.
type platformImage struct {
	platform string // os/architecture[/variant]
	manifest []byte
}

// pushPlatformImage pushes an image of platform by digest.
func (tr *testRegistry) pushPlatformImage(repo, platform string, layer []byte) platformImage {
	tr.t.Helper()
	parts := strings.Split(platform, "/")
	cfg := fmt.Appendf(nil, `{"os":%q,"architecture":%q,"rootfs":{"type":"layers","diff_ids":[]}}`, parts[0], parts[1])
	m := image(cfg, layer)
	tr.pushImage(repo, digest.FromBytes(m).String(), cfg, layer)
	return platformImage{platform: platform, manifest: m}
}

// indexOf is an OCI index listing images.
func indexOf(images ...platformImage) []byte {
	ms := make([]string, len(images))
	for i, im := range images {
		parts := strings.Split(im.platform, "/")
		variant := ""
		if len(parts) > 2 {
			variant = fmt.Sprintf(`,"variant":%q`, parts[2])
		}
		ms[i] = fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"platform":{"os":%q,"architecture":%q%s}}`,
			digest.FromBytes(im.manifest), len(im.manifest), parts[0], parts[1], variant)
	}
	return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + strings.Join(ms, ",") + `]}`)
}

// pushIndex pushes an index of images under ref.
func (tr *testRegistry) pushIndex(repo, ref string, images ...platformImage) []byte {
	tr.t.Helper()
	idx := indexOf(images...)
	r := tr.do("PUT", "/v2/"+repo+"/manifests/"+ref, idx, "Content-Type", "application/vnd.oci.image.index.v1+json")
	want(tr.t, "put index", r, http.StatusCreated, "")
	return idx
}

// getJSON GETs path (the management API answers a loopback caller on a
// registry without access control) and decodes the answer into v.
func (tr *testRegistry) getJSON(path string, v any) {
	tr.t.Helper()
	r := tr.do("GET", path, nil)
	if r.status != http.StatusOK {
		tr.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		tr.t.Fatalf("GET %s: %v", path, err)
	}
}

// TestUsageFigures pulls over /v2 across a day boundary, with a test clock,
// and reads the figures the management API reports: image pulls (the
// index's, not again its platform manifest's; no HEAD, no 304), bytes
// served, per tag, in total and over the last 30 days, which drop a day
// once it is 30 days old; pruning keeps the totals.
func TestUsageFigures(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		clock := &testClock{now: time.Date(2025, 6, 1, 23, 30, 0, 0, time.UTC)}
		day0 := clock.Now()
		tr := openTestRegistryAt(t, newConfig(t, b), clock.Now)
		want(t, "create namespace", tr.do("POST", "/api/v1/namespaces", []byte(`{"name":"team"}`)), http.StatusCreated, "")
		layer := []byte("the amd64 layer, pulled once")
		amd := tr.pushPlatformImage("team/app", "linux/amd64", layer)
		arm := tr.pushPlatformImage("team/app", "linux/arm64/v8", []byte("the arm64 layer"))
		idx := tr.pushIndex("team/app", "v1", amd, arm)
		v2, v2d := tr.pushImage("team/app", "v2", []byte(`{"os":"linux","architecture":"amd64"}`), []byte("v2 layer"))
		amdDigest := digest.FromBytes(amd.manifest).String()

		pull := func(ref string) {
			t.Helper()
			want(t, "pull "+ref, tr.do("GET", "/v2/team/app/manifests/"+ref, nil), http.StatusOK, "")
		}
		// Day 0: v1 twice (each with its amd64 manifest), the layer once;
		// a HEAD and a 304 of v2, which are not pulls.
		for range 2 {
			pull("v1")
			pull(amdDigest)
		}
		want(t, "pull layer", tr.do("GET", "/v2/team/app/blobs/"+digest.FromBytes(layer).String(), nil), http.StatusOK, "")
		want(t, "head v2", tr.do("HEAD", "/v2/team/app/manifests/v2", nil), http.StatusOK, "")
		want(t, "v2 not modified", tr.do("GET", "/v2/team/app/manifests/v2", nil, "If-None-Match", `"`+v2d.String()+`"`), http.StatusNotModified, "")
		// Day 1, after midnight: v1 and v2 once each.
		clock.Set(day0.Add(40 * time.Minute))
		pull("v1")
		pull(amdDigest)
		pull("v2")
		if err := tr.s.FlushPulls(context.Background()); err != nil {
			t.Fatal(err)
		}

		size := func(b []byte) int64 { return int64(len(b)) }
		served := 3*size(idx) + 3*size(amd.manifest) + size(layer) + size(v2)
		check := func(what string, pulls, recent, bytes, recentBytes, v1Recent, v2Recent int64) {
			t.Helper()
			var d mgmt.RepositoryUsageDetail
			tr.getJSON("/api/v1/repositories/team/app/usage", &d)
			if d.Pulls != pulls || d.PullsLast30Days != recent || d.BytesServed != bytes || d.BytesServedLast30Days != recentBytes {
				t.Errorf("%s: team/app pulls %d (%d recent), served %d (%d recent); want %d (%d), %d (%d)", what,
					d.Pulls, d.PullsLast30Days, d.BytesServed, d.BytesServedLast30Days, pulls, recent, bytes, recentBytes)
			}
			if len(d.ByTag) != 2 || d.ByTag[0].Name != "v1" || d.ByTag[0].Pulls != 3 || d.ByTag[0].PullsLast30Days != v1Recent ||
				d.ByTag[1].Name != "v2" || d.ByTag[1].Pulls != 1 || d.ByTag[1].PullsLast30Days != v2Recent ||
				d.ByTag[0].LastPull == nil || d.ByTag[1].LastPull == nil {
				t.Errorf("%s: tags %+v", what, d.ByTag)
			}
			var u mgmt.NamespaceUsage
			tr.getJSON("/api/v1/namespaces/team/usage", &u)
			if u.Pulls != pulls || u.PullsLast30Days != recent || u.BytesServed != bytes {
				t.Errorf("%s: namespace team pulls %d (%d recent), served %d", what, u.Pulls, u.PullsLast30Days, u.BytesServed)
			}
		}
		check("day 1", 4, 4, served, served, 3, 1)
		clock.Set(day0.AddDate(0, 0, 29)) // the window is days 0 to 29
		check("day 29", 4, 4, served, served, 3, 1)
		clock.Set(day0.AddDate(0, 0, 30)) // days 1 to 30: day 0 has left it
		day1Bytes := size(idx) + size(amd.manifest) + size(v2)
		check("day 30", 4, 2, served, day1Bytes, 1, 1)

		// Pruning on day 40 deletes the manifests' days 0 and 1 (kept 35
		// days), not the repository's (kept for the 90-day charts) nor the
		// totals: back on day 30 the tags' recent pulls no longer count.
		prune := func(day int) {
			t.Helper()
			clock.Set(day0.AddDate(0, 0, day))
			if err := tr.s.RunJob(context.Background(), "prune-pull-counts"); err != nil {
				t.Fatal(err)
			}
			clock.Set(day0.AddDate(0, 0, 30))
		}
		prune(40)
		check("day 30 after pruning on day 40", 4, 2, served, day1Bytes, 0, 0)
		// On day 100 the repository's days 0 and 1 go too.
		prune(100)
		check("day 30 after pruning on day 100", 4, 0, served, 0, 0, 0)
	})
}
