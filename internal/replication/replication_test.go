package replication

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
)

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPush replicates a namespace from one registry to another through
// the distribution API: filters and a mapping choose what goes where,
// digests and referrers (OCI 1.1 and cosign's tag schema) arrive equal, a
// second run sends nothing, and deletions travel only when the rule says.
func TestPush(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			here, there := newSite(t, backend), newSite(t, backend)
			amd := pushImage(t, here.reg, "team/app", "v1", "amd64", random(t, 3000), []byte("shared base"))
			pushManifest(t, here.reg, "team/app", "latest", json.RawMessage(payload(t, here, "team/app", amd)))
			arm := pushImage(t, here.reg, "team/app", "", "arm64", random(t, 2000))
			idx := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: []oci.Descriptor{amd, arm}}
			idx.SchemaVersion = 2
			index := pushManifest(t, here.reg, "team/app", "v2.1.0", idx)
			sig := pushSignature(t, here.reg, "team/app", amd, "signed v1")
			pushSignature(t, here.reg, "team/app", sig, "a signature of the signature")
			pushImage(t, here.reg, "team/app", "sha256-"+index.Digest.Encoded()+".sig", "amd64", []byte("cosign tag-schema signature"))
			pushImage(t, here.reg, "team/app", "dev-123", "amd64", random(t, 100))
			pushImage(t, here.reg, "team/app", "v0.9.0", "amd64", random(t, 100))
			pushImage(t, here.reg, "team/other", "v1", "amd64", random(t, 100))
			pushImage(t, here.reg, "team/lib/base", "v1", "amd64", []byte("shared base"))
			pushImage(t, here.reg, "ops/tool", "v1", "amd64", random(t, 100))

			svc := here.service(t)
			rule, err := svc.CreateRule(ctx, Rule{Name: "dr", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
				Repositories: []string{"team/**"}, ExcludeRepositories: []string{"team/other"},
				Tags: []string{"v*", "latest"}, ExcludeTags: []string{"semver:<1"},
				Mappings: []Mapping{{From: "team", To: "dr/team"}}})
			if err != nil {
				t.Fatal(err)
			}
			run := runNow(t, svc, rule.ID)
			if run.State != meta.RunSucceeded || run.Copied != 4 || run.Failed != 0 || run.Bytes == 0 || run.Attempts != 1 {
				t.Fatalf("first run: %+v\n%s", run, strings.Join(runLog(t, svc, run), "\n"))
			}
			want := []string{
				"copied team/app:latest -> dr/team/app:latest",
				"copied team/app:v1 -> dr/team/app:v1",
				"copied team/app:v2.1.0 -> dr/team/app:v2.1.0",
				"copied team/lib/base:v1 -> dr/team/lib/base:v1",
			}
			if diff := cmp.Diff(want, runLog(t, svc, run)); diff != "" {
				t.Fatalf("run log (-want +got):\n%s", diff)
			}
			src := tagsAt(t, here.reg, "team/app")
			for _, tag := range []string{"dev-123", "v0.9.0"} {
				delete(src, tag)
			}
			if diff := cmp.Diff(src, tagsAt(t, there.reg, "dr/team/app")); diff != "" {
				t.Fatalf("dr/team/app differs from team/app (-want +got):\n%s", diff)
			}
			// the signature's own signature came along
			refs, err := there.reg.Referrers(ctx, "dr/team/app", sig.Digest, "")
			if err != nil || len(refs) != 1 {
				t.Fatalf("referrers of the signature at the destination: %v, %v", refs, err)
			}
			for _, repo := range []string{"dr/team/other", "dr/ops/tool", "ops/tool", "team/app"} {
				if got := tagsAt(t, there.reg, repo); got != nil {
					t.Errorf("%s was replicated: %v", repo, got)
				}
			}

			there.count("")
			again := runNow(t, svc, rule.ID)
			if again.State != meta.RunSucceeded || again.Skipped != 4 || again.Copied != 0 || again.Bytes != 0 {
				t.Fatalf("second run: %+v\n%s", again, strings.Join(runLog(t, svc, again), "\n"))
			}
			if n := there.count("PUT") + there.count("PATCH") + there.count("POST"); n != 0 {
				t.Fatalf("a second run of nothing new wrote %d times", n)
			}

			// A deleted tag stays at the destination unless the rule propagates deletions.
			if err := here.reg.DeleteManifest(ctx, "team/app", oci.Reference{Tag: "latest"}); err != nil {
				t.Fatal(err)
			}
			pushImage(t, here.reg, "team/app", "v3", "amd64", random(t, 500))
			run = runNow(t, svc, rule.ID)
			if run.Copied != 1 || run.Deleted != 0 || tagsAt(t, there.reg, "dr/team/app")["latest"] == "" {
				t.Fatalf("without deletes: %+v %v", run, runLog(t, svc, run))
			}
			rule.Deletes = true
			if rule, err = svc.UpdateRule(ctx, rule, true); err != nil {
				t.Fatal(err)
			}
			run = runNow(t, svc, rule.ID)
			if run.Deleted != 1 || tagsAt(t, there.reg, "dr/team/app")["latest"] != "" || tagsAt(t, there.reg, "dr/team/app")["v1"] == "" {
				t.Fatalf("with deletes: %+v %v", run, runLog(t, svc, run))
			}
		})
	}
}

func payload(t *testing.T, s *site, repo string, d oci.Descriptor) []byte {
	t.Helper()
	m, err := s.reg.Manifest(context.Background(), repo, oci.Reference{Digest: d.Digest})
	if err != nil {
		t.Fatal(err)
	}
	return m.Payload
}

// TestPullThroughTheRegistry pulls from a remote registry into this one:
// the writes go through the registry service, so a quota refuses what
// does not fit, and the refusal is in the run's log with the registry's
// reason while the rest is copied.
func TestPullThroughTheRegistry(t *testing.T) {
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			here, there := newSite(t, backend), newSite(t, backend)
			for _, tag := range []string{"1.24.0", "1.25.3", "1.27.0", "2.0.0", "latest"} {
				pushImage(t, there.reg, "library/nginx", tag, "amd64", []byte("nginx "+tag))
			}
			pushImage(t, there.reg, "library/big", "1.25.0", "amd64", random(t, 64<<10))
			pushImage(t, there.reg, "library/small", "1.25.0", "amd64", []byte("small"))
			if err := here.reg.SetQuota(ctx, "archive", 16<<10); err != nil {
				t.Fatal(err)
			}
			svc := here.service(t)
			rule, err := svc.CreateRule(ctx, Rule{Name: "upstream", Enabled: true, Direction: Pull, Remote: Remote{URL: there.url},
				Repositories: []string{"library/nginx", "library/big", "library/small"}, Tags: []string{"semver:>=1.25 <2"},
				Mappings: []Mapping{{From: "library", To: "archive/library"}}})
			if err != nil {
				t.Fatal(err)
			}
			run := runNow(t, svc, rule.ID)
			if run.State != meta.RunPartial || run.Copied != 3 || run.Failed != 1 {
				t.Fatalf("run: %+v\n%v", run, runLog(t, svc, run))
			}
			items, _ := svc.RunLog(ctx, run.ID, 0, 100)
			var refused meta.ReplicationItem
			for _, it := range items {
				if it.Result == Failed {
					refused = it
				}
			}
			if refused.Source != "library/big:1.25.0" || !strings.Contains(refused.Reason, "DENIED") || !strings.Contains(refused.Reason, "quota") {
				t.Fatalf("the refused artifact's log line: %+v", refused)
			}
			got := tagsAt(t, here.reg, "archive/library/nginx")
			want := tagsAt(t, there.reg, "library/nginx")
			for _, tag := range []string{"1.24.0", "2.0.0", "latest"} {
				delete(want, tag)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("archive/library/nginx (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChunksAndBandwidth sends a blob larger than the rule's chunk size in
// chunks, within the rule's bandwidth limit.
func TestChunksAndBandwidth(t *testing.T) {
	ctx := context.Background()
	here, there := newSite(t, "fs+sqlite"), newSite(t, "fs+sqlite")
	big := random(t, 3<<20+12345)
	pushImage(t, here.reg, "app/big", "v1", "amd64", big)
	svc := here.service(t)
	rule, err := svc.CreateRule(ctx, Rule{Name: "chunks", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
		Repositories: []string{"app/big"}, ChunkSize: 1 << 20, BandwidthLimit: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	there.count("")
	start := time.Now()
	run := runNow(t, svc, rule.ID)
	took := time.Since(start)
	if run.State != meta.RunSucceeded || run.Copied != 1 {
		t.Fatalf("run: %+v %v", run, runLog(t, svc, run))
	}
	if n := there.count("PATCH"); n < 4 {
		t.Errorf("%d PATCH requests for a blob of 3 MiB in 1 MiB chunks; want at least 4", n)
	}
	// 3 MiB at 2 MiB/s cannot take less than a second, whatever the machine.
	if took < time.Second {
		t.Errorf("the run took %s for 3 MiB at 2 MiB/s", took)
	}
}

// TestRuleValidation refuses rules that cannot work, saying which field.
func TestRuleValidation(t *testing.T) {
	ok := Rule{Name: "a", Direction: Push, Remote: Remote{URL: "https://registry.example"}, Repositories: []string{"**"}}
	for _, tt := range []struct {
		field string
		edit  func(r *Rule)
	}{
		{"name", func(r *Rule) { r.Name = "Bad Name" }},
		{"direction", func(r *Rule) { r.Direction = "sideways" }},
		{"remote.url", func(r *Rule) { r.Remote.URL = "ftp://x" }},
		{"remote.url", func(r *Rule) { r.Remote.URL = "https://user:pw@x" }},
		{"remote.url", func(r *Rule) { r.Remote.URL = "http://[::1]:99999" }},
		{"remote.url", func(r *Rule) { r.Remote.URL = "http://x:0" }},
		{"remote.password", func(r *Rule) { r.Remote.Password = "pw" }},
		{"repositories", func(r *Rule) { r.Repositories = nil }},
		{"repositories", func(r *Rule) { r.Repositories = []string{"Team/*"} }},
		{"tags", func(r *Rule) { r.Tags = []string{"semver:not a range"} }},
		{"excludeTags", func(r *Rule) { r.ExcludeTags = []string{"re:("} }},
		{"mappings[0].to", func(r *Rule) { r.Mappings = []Mapping{{From: "a", To: "B"}} }},
		{"mappings[1].from", func(r *Rule) { r.Mappings = []Mapping{{From: "a", To: "b"}, {From: "a", To: "c"}} }},
		{"trigger.onEvent", func(r *Rule) { r.Direction, r.Trigger.OnEvent = Pull, true }},
		{"trigger.schedule", func(r *Rule) { r.Trigger.Schedule = policy.Duration(time.Second) }},
		{"concurrency", func(r *Rule) { r.Concurrency = 1000 }},
		{"chunkSize", func(r *Rule) { r.ChunkSize = 10 }},
		{"bandwidthLimit", func(r *Rule) { r.BandwidthLimit = -1 }},
	} {
		r := ok
		tt.edit(&r)
		err := r.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.field+":") {
			t.Errorf("%s: %v; want ErrInvalid naming %s", tt.field, err, tt.field)
		}
	}
	r := ok
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	// The refusal of a URL with credentials does not echo the password.
	r.Remote.URL = "https://user:s3cret-pw@x"
	if err := r.Validate(); err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("a URL with credentials: %v; want a refusal without the password", err)
	}
}

// TestMapping checks destination names and their reverse.
func TestMapping(t *testing.T) {
	r := Rule{Name: "m", Direction: Push, Remote: Remote{URL: "http://x"}, Repositories: []string{"team/**", "library/nginx"},
		Mappings: []Mapping{{From: "team", To: "dr/team"}, {From: "team/special", To: "vip"}, {From: "", To: "mirror"}}}
	c, err := compile(&r)
	if err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{
		"team/app":           "dr/team/app",
		"team/special":       "vip",
		"team/special/x":     "vip/x",
		"team/specialist":    "dr/team/specialist",
		"library/nginx":      "mirror/library/nginx",
		"teams/x":            "mirror/teams/x",
		"team/a/b/c":         "dr/team/a/b/c",
		"team/specialist/ab": "dr/team/specialist/ab",
	} {
		if got := c.destination(src); got != dst {
			t.Errorf("destination(%s) = %s, want %s", src, got, dst)
		}
		if back, ok := c.source(dst); c.selectsRepository(src) && (!ok || back != src) {
			t.Errorf("source(%s) = %s, %v; want %s", dst, back, ok, src)
		}
	}
	if got := c.destinationPrefixes(); !cmp.Equal(got, []string{"dr/team", "mirror/library/nginx"}) {
		t.Errorf("destination prefixes: %v", got)
	}
	if c.selectsRepository("team") || !c.selectsRepository("team/a/b") || c.selectsRepository("library/redis") {
		t.Error("repository globs select the wrong repositories")
	}
}

// TestChunkResume drops the connection in the middle of a chunk: the
// upload goes on from the last chunk the destination acknowledged, not
// from the start, and the run succeeds with an exact copy.
func TestChunkResume(t *testing.T) {
	ctx := context.Background()
	here, there := newSite(t, "fs+sqlite"), newSite(t, "fs+sqlite")
	big := random(t, 6<<20)
	pushImage(t, here.reg, "app/big", "v1", "amd64", big)
	var mu sync.Mutex
	patches, received := 0, int64(0)
	there.inject = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPatch {
			return false
		}
		mu.Lock()
		patches++
		n := patches
		mu.Unlock()
		if n != 4 {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			received += int64(len(body))
			mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
			return false
		}
		// The fourth chunk: half of it arrives, then the connection is gone.
		_, _ = io.CopyN(io.Discard, r.Body, 512<<10)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	}
	svc := here.service(t)
	rule, err := svc.CreateRule(ctx, Rule{Name: "resume-chunks", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
		Repositories: []string{"app/big"}, ChunkSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	run := runNow(t, svc, rule.ID)
	if run.State != meta.RunSucceeded || run.Copied != 1 {
		t.Fatalf("run: %+v %v", run, runLog(t, svc, run))
	}
	if diff := cmp.Diff(tagsAt(t, here.reg, "app/big"), tagsAt(t, there.reg, "app/big")); diff != "" {
		t.Fatalf("app/big differs (-source +destination):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d PATCH requests carried %d bytes for a blob of %d", patches, received, len(big))
	// 6 MiB and a bit of tar in 1 MiB chunks: 7 chunks acknowledged, the
	// broken one sent again; a restart from zero would send 3 MiB more.
	if patches < 8 || received > int64(len(big))+2<<20 {
		t.Fatalf("%d PATCH requests carried %d bytes for a blob of %d: the upload started over", patches, received, len(big))
	}
}

// TestOnePutResume drops the connection in the middle of a blob sent in
// one request: the upload goes on from what the destination holds, and
// the run succeeds with an exact copy.
func TestOnePutResume(t *testing.T) {
	ctx := context.Background()
	here, there := newSite(t, "fs+sqlite"), newSite(t, "fs+sqlite")
	pushImage(t, here.reg, "app/big", "v1", "amd64", random(t, 6<<20))
	var mu sync.Mutex
	dropped := false
	there.inject = func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodPut || r.ContentLength < 1<<20 || dropped {
			return false
		}
		dropped = true
		_, _ = io.CopyN(io.Discard, r.Body, 3<<20)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	}
	svc := here.service(t)
	rule, err := svc.CreateRule(ctx, Rule{Name: "resume-put", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
		Repositories: []string{"app/big"}, ChunkSize: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	run := runNow(t, svc, rule.ID)
	if run.State != meta.RunSucceeded || run.Copied != 1 || !dropped {
		t.Fatalf("run: %+v %v (dropped: %v)", run, runLog(t, svc, run), dropped)
	}
	if diff := cmp.Diff(tagsAt(t, here.reg, "app/big"), tagsAt(t, there.reg, "app/big")); diff != "" {
		t.Fatalf("app/big differs (-source +destination):\n%s", diff)
	}
}

// TestCorruptSourceBlobRefused: the source does not hash what it sends;
// the destination checks the digest and refuses a blob the source's disk
// damaged, in one request or in chunks, and the run's log says why.
func TestCorruptSourceBlobRefused(t *testing.T) {
	for _, chunk := range []int64{0, 1 << 20} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			ctx := context.Background()
			here, there := newSite(t, "fs+sqlite"), newSite(t, "fs+sqlite")
			body := random(t, 3<<20)
			pushImage(t, here.reg, "app/big", "v1", "amd64", body)
			layer := digest.FromBytes(layerTar(t, "filea", body))
			p := filepath.Join(here.dir, "blobs", "sha256", layer.Encoded()[:2], layer.Encoded())
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("rot"), 2<<20); err != nil {
				t.Fatal(err)
			}
			f.Close()
			svc := here.service(t)
			rule, err := svc.CreateRule(ctx, Rule{Name: "corrupt", Enabled: true, Direction: Push, Remote: Remote{URL: there.url},
				Repositories: []string{"app/big"}, ChunkSize: chunk})
			if err != nil {
				t.Fatal(err)
			}
			run := runNow(t, svc, rule.ID)
			items, err := svc.RunLog(ctx, run.ID, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if run.State != meta.RunFailed || len(items) != 1 || !strings.Contains(items[0].Reason, "DIGEST_INVALID") {
				t.Fatalf("run %+v, log %+v: want failed, the destination refusing the digest", run, items)
			}
			if held, err := (&local{r: there.reg}).HasBlob(ctx, "app/big", layer); err != nil || held {
				t.Fatalf("the destination holds the damaged blob (%v, %v)", held, err)
			}
		})
	}
}
