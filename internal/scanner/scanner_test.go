package scanner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/scan/vulndb"
	"github.com/wharf-dev/wharf/internal/scanner"
	"github.com/wharf-dev/wharf/internal/scanner/scantest"
)

// env is a registry over real stores with a scanner beside it.
type env struct {
	t    testing.TB
	meta meta.Store
	reg  *registry.Registry
	scan *scanner.Service
	dir  string
	opts scanner.Options
	stop context.CancelFunc
	done chan struct{}
}

type backend struct {
	name string
	open func(t testing.TB) meta.Store
}

var backends = []backend{
	{"sqlite", func(t testing.TB) meta.Store {
		s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "meta.db")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", func(t testing.TB) meta.Store {
		s, err := postgres.Open(context.Background(), postgres.Options{URL: pgtest.Database(t), MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

// forEachBackend runs test on SQLite and PostgreSQL.
func forEachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

func newEnv(t testing.TB, b backend, o scanner.Options) *env {
	t.Helper()
	dir := t.TempDir()
	cs, err := fs.New(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	ms := b.open(t)
	e := &env{t: t, meta: ms, dir: dir}
	e.reg = registry.New(registry.Options{Content: cs, Meta: ms, Hooks: registry.Hooks{
		ManifestPushed: func(repo string, d digest.Digest, m *oci.Manifest) {
			if e.scan != nil {
				e.scan.Pushed(repo, d, m)
			}
		},
	}})
	o.Registry, o.Content, o.Meta = e.reg, cs, ms
	if o.ScratchDir == "" {
		o.ScratchDir = filepath.Join(dir, "scratch")
	}
	if o.Poll == 0 {
		o.Poll = 100 * time.Millisecond
	}
	e.opts = o
	if e.scan, err = scanner.New(o); err != nil {
		t.Fatal(err)
	}
	return e
}

// start runs the scanner's workers until the test ends.
func (e *env) start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.stop, e.done = cancel, make(chan struct{})
	go func() { e.scan.Run(ctx); close(e.done) }()
	e.t.Cleanup(e.halt)
}

func (e *env) halt() {
	if e.stop != nil {
		e.stop()
		<-e.done
		e.stop = nil
	}
}

// importData imports advisories as the current vulnerability data and
// loads it.
func (e *env) importData(advisories ...string) vulndb.Ref {
	e.t.Helper()
	src, err := scantest.WriteAdvisories(e.dir, advisories...)
	if err != nil {
		e.t.Fatal(err)
	}
	v := e.scan.VulnDB()
	ref, err := vulndb.Import(context.Background(), v, v, []string{src}, vulndb.ImportLimits{}, e.dir)
	if err != nil {
		e.t.Fatalf("import: %v", err)
	}
	e.scan.Refresh(context.Background())
	if got, ok := e.scan.Data(); !ok || got.Digest != ref.Digest {
		e.t.Fatalf("data loaded = %+v, %v; want %s", got, ok, ref.Digest)
	}
	return ref
}

func (e *env) push(repo, tag string, img scantest.Image) {
	e.t.Helper()
	ctx := context.Background()
	for _, b := range img.Blobs {
		if _, err := e.reg.PutBlob(ctx, repo, b.Descriptor.Digest, b.Descriptor.Size, bytes.NewReader(b.Bytes)); err != nil {
			e.t.Fatal(err)
		}
	}
	if _, _, err := e.reg.PutManifest(ctx, repo, oci.Reference{Tag: tag}, ocispec.MediaTypeImageManifest, img.Manifest); err != nil {
		e.t.Fatal(err)
	}
}

// waitScan waits until the scan of d is done and returns it.
func (e *env) waitScan(repo string, d digest.Digest) scanner.ManifestScan {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		is, err := e.scan.Image(context.Background(), repo, oci.Reference{Digest: d})
		if err != nil {
			e.t.Fatal(err)
		}
		ms := is.Manifests[0]
		switch ms.Status {
		case "scanned", "failed", "unsupported":
			return ms
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("scan of %s@%s still %s after 30s", repo, d, ms.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	openssl = scantest.Dpkg{Name: "libssl3", Version: "3.0.11-1~deb12u1", Source: "openssl"}
	zlib    = scantest.Dpkg{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Source: "zlib"}
	// The advisories: one that must match openssl, and three that must
	// not (another release, fixed below the installed version, another
	// ecosystem).
	advisories = []string{
		scantest.Advisory("DEBIAN-CVE-2026-1000", "CVE-2026-1000", "Debian:12", "openssl", "3.0.13-1~deb12u1", scantest.Critical),
		scantest.Advisory("DEBIAN-CVE-2026-1001", "CVE-2026-1001", "Debian:11", "openssl", "3.9", scantest.Critical),
		scantest.Advisory("DEBIAN-CVE-2026-1002", "CVE-2026-1002", "Debian:12", "openssl", "3.0.9-1", scantest.Critical),
		scantest.Advisory("GHSA-0000-0000-0001", "CVE-2026-1003", "npm", "openssl", "9.9.9", scantest.Critical),
	}
	zlibHigh = scantest.Advisory("DEBIAN-CVE-2026-2000", "CVE-2026-2000", "Debian:12", "zlib", "", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N")
)

func findingIDs(ms scanner.ManifestScan) []string {
	var out []string
	for _, f := range ms.Findings {
		out = append(out, f.ID)
	}
	return out
}

func TestScanOnPush(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, scanner.Options{OnPush: true, SBOMOnPush: []string{"spdx", "cyclonedx"}})
		ref := e.importData(advisories...)
		e.start()
		img := scantest.NewImage("linux/amd64", scantest.Debian(openssl, zlib), scantest.Layer("app/README", "hello"))
		e.push("team/app", "v1", img)
		ms := e.waitScan("team/app", img.Digest)
		if ms.Status != "scanned" || ms.DataVersion != ref.Digest || ms.Source != "layers" || ms.Packages != 2 {
			t.Fatalf("scan = %+v; want scanned from layers with 2 packages against %s", ms, ref.Digest)
		}
		if ids := findingIDs(ms); len(ids) != 1 || ids[0] != "DEBIAN-CVE-2026-1000" {
			t.Fatalf("findings = %v; want only DEBIAN-CVE-2026-1000", ids)
		}
		f := ms.Findings[0]
		if f.Severity != "critical" || f.Installed != "3.0.11-1~deb12u1" || f.Fixed != "3.0.13-1~deb12u1" ||
			f.Layer != 0 || f.LayerDigest != img.Blobs[1].Descriptor.Digest.String() || f.Package.Name != "libssl3" ||
			len(f.Aliases) == 0 || f.Aliases[0] != "CVE-2026-1000" {
			t.Fatalf("finding = %+v", f)
		}
		if ms.Summary.Critical != 1 || ms.Summary.Fixable != 1 || ms.ScannedAt == nil || ms.Highest != "critical" {
			t.Fatalf("summary = %+v, scanned at %v", ms.Summary, ms.ScannedAt)
		}
		// The SBOMs are referrers of the image.
		want := map[string]bool{"application/spdx+json": false, "application/vnd.cyclonedx+json": false}
		deadline := time.Now().Add(10 * time.Second)
		for {
			refs, err := e.reg.Referrers(context.Background(), "team/app", img.Digest, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range refs {
				if _, ok := want[r.ArtifactType]; ok {
					want[r.ArtifactType] = true
				}
			}
			if want["application/spdx+json"] && want["application/vnd.cyclonedx+json"] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("SBOM referrers after 10s: %v", want)
			}
			time.Sleep(50 * time.Millisecond)
		}
		// An artifact (an SBOM referrer is one) is never queued.
		list, err := e.scan.Repository(context.Background(), "team/app", meta.Page{N: 100})
		if err != nil || len(list) != 1 {
			t.Fatalf("scans of team/app = %+v, %v; want the image's only", list, err)
		}
	})
}

// TestRematch: new vulnerability data re-matches the stored packages
// without reading a layer (the layers are gone from the content store).
func TestRematch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, scanner.Options{OnPush: true})
		e.importData(advisories...)
		e.start()
		img := scantest.NewImage("linux/amd64", scantest.Debian(openssl, zlib))
		e.push("team/app", "v1", img)
		if ms := e.waitScan("team/app", img.Digest); ms.Summary.High != 0 {
			t.Fatalf("before: %+v", ms.Summary)
		}
		layer := img.Blobs[1].Descriptor.Digest
		if err := e.opts.Content.Delete(context.Background(), layer); err != nil {
			t.Fatal(err)
		}
		ref := e.importData(append(advisories, zlibHigh)...)
		n, err := e.scan.Rematch(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("Rematch = %d, %v; want 1", n, err)
		}
		ms := e.waitScan("team/app", img.Digest)
		if ms.DataVersion != ref.Digest || ms.Summary.High != 1 || ms.Summary.Critical != 1 || len(ms.Findings) != 2 {
			t.Fatalf("after: %+v", ms)
		}
		if n, err := e.scan.Rematch(context.Background()); err != nil || n != 0 {
			t.Fatalf("second Rematch = %d, %v; want nothing to do", n, err)
		}
	})
}

// TestBadInput: a truncated layer fails its scan with the reason, once,
// and the registry goes on.
func TestBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, scanner.Options{OnPush: true})
		e.importData(advisories...)
		e.start()
		good := scantest.Debian(openssl)
		img := scantest.NewImage("linux/amd64", good[:len(good)/2])
		e.push("team/bad", "v1", img)
		ms := e.waitScan("team/bad", img.Digest)
		if ms.Status != "failed" || !strings.Contains(ms.Error, "bad layer") {
			t.Fatalf("scan of a truncated layer = %+v; want failed: bad layer", ms)
		}
		sc, err := e.meta.(meta.Scans).Scan(context.Background(), "team/bad", img.Digest)
		if err != nil || sc.Attempts != 1 {
			t.Fatalf("attempts = %d, %v; want 1 (not retried)", sc.Attempts, err)
		}
		// An escaping path fails too.
		evil := scantest.NewImage("linux/amd64", scantest.Layer("../../etc/passwd", "root::0:0"))
		e.push("team/bad", "v2", evil)
		if ms := e.waitScan("team/bad", evil.Digest); ms.Status != "failed" || !strings.Contains(ms.Error, "path traversal") {
			t.Fatalf("scan of a path traversal = %+v", ms)
		}
		// A decompression bomb: 80 MiB of zeros in under 100 KB (over 100:1 past 64 MiB).
		bomb := scantest.Layer("var/lib/big", strings.Repeat("\x00", 80<<20))
		boom := scantest.NewImage("linux/amd64", bomb)
		e.push("team/bad", "v3", boom)
		if ms := e.waitScan("team/bad", boom.Digest); ms.Status != "failed" || !strings.Contains(ms.Error, "scan limit exceeded") {
			t.Fatalf("scan of a bomb = %+v", ms)
		}
		// The registry and the scanner go on.
		ok := scantest.NewImage("linux/amd64", scantest.Debian(openssl))
		e.push("team/bad", "v4", ok)
		if ms := e.waitScan("team/bad", ok.Digest); ms.Status != "scanned" || ms.Summary.Critical != 1 {
			t.Fatalf("scan after bad input = %+v", ms)
		}
	})
}

// TestIndexAndSBOMSource: an index is scanned per platform, and an SBOM
// its owner pushed is used instead of the layers.
func TestIndexAndSBOMSource(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, scanner.Options{})
		e.importData(append(advisories, zlibHigh)...)
		e.start()
		amd := scantest.NewImage("linux/amd64", scantest.Debian(openssl))
		arm := scantest.NewImage("linux/arm64", scantest.Debian(zlib))
		e.push("team/multi", "amd", amd)
		e.push("team/multi", "arm", arm)
		idx, idxDigest := scantest.Index(amd, arm)
		ctx := context.Background()
		if _, _, err := e.reg.PutManifest(ctx, "team/multi", oci.Reference{Tag: "v1"}, ocispec.MediaTypeImageIndex, idx); err != nil {
			t.Fatal(err)
		}
		// Nothing scanned on push.
		is, err := e.scan.Image(ctx, "team/multi", oci.Reference{Tag: "v1"})
		if err != nil || len(is.Manifests) != 2 || is.Manifests[0].Status != "unscanned" || is.Digest != idxDigest {
			t.Fatalf("before a request: %+v, %v", is, err)
		}
		if _, err := e.scan.Request(ctx, "team/multi", oci.Reference{Tag: "v1"}); err != nil {
			t.Fatal(err)
		}
		a, r := e.waitScan("team/multi", amd.Digest), e.waitScan("team/multi", arm.Digest)
		if a.Summary.Critical != 1 || r.Summary.High != 1 || r.Summary.Critical != 0 {
			t.Fatalf("per platform: amd %+v, arm %+v", a.Summary, r.Summary)
		}
		is, _ = e.scan.Image(ctx, "team/multi", oci.Reference{Tag: "v1"})
		if is.Manifests[0].Platform != "linux/amd64" || is.Manifests[1].Platform != "linux/arm64" {
			t.Fatalf("platforms: %+v", is.Manifests)
		}
		// The owner pushes a CycloneDX SBOM saying arm holds only openssl:
		// a rescan reads it, not the layers.
		doc := `{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{"type": "library", "name": "libssl3",
			"version": "3.0.11-1~deb12u1", "purl": "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?distro=debian-12&upstream=openssl"}]}`
		pushReferrer(t, e, "team/multi", arm, "application/vnd.cyclonedx+json", []byte(doc))
		if _, err := e.scan.Request(ctx, "team/multi", oci.Reference{Digest: arm.Digest}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		r = e.waitScan("team/multi", arm.Digest)
		if !strings.HasPrefix(r.Source, "sbom sha256:") || r.Summary.Critical != 1 || r.Summary.High != 0 {
			t.Fatalf("from the pushed SBOM: %+v", r)
		}
	})
}

func pushReferrer(t *testing.T, e *env, repo string, subject scantest.Image, artifactType string, doc []byte) {
	t.Helper()
	ctx := context.Background()
	empty := []byte("{}")
	for _, p := range [][]byte{doc, empty} {
		if _, err := e.reg.PutBlob(ctx, repo, digest.FromBytes(p), int64(len(p)), bytes.NewReader(p)); err != nil {
			t.Fatal(err)
		}
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: artifactType,
		Config:  ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: digest.FromBytes(empty), Size: 2},
		Layers:  []ocispec.Descriptor{{MediaType: artifactType, Digest: digest.FromBytes(doc), Size: int64(len(doc))}},
		Subject: &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: subject.Digest, Size: int64(len(subject.Manifest))}}
	m.SchemaVersion = 2
	payload, _ := json.Marshal(m)
	if _, _, err := e.reg.PutManifest(ctx, repo, oci.Reference{Digest: digest.FromBytes(payload)}, ocispec.MediaTypeImageManifest, payload); err != nil {
		t.Fatal(err)
	}
}

// TestNoScanLost: a scan a dead replica held is taken over when its lease
// ends, and an image pushed while no scanner ran is found by the sweep.
func TestNoScanLost(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, scanner.Options{OnPush: true, Lease: 10 * time.Second})
		e.importData(advisories...)
		ctx := context.Background()
		// Pushed while the scanner was down: no note reached the queue.
		img := scantest.NewImage("linux/amd64", scantest.Debian(openssl))
		e.push("team/app", "v1", img)
		img2 := scantest.NewImage("linux/amd64", scantest.Debian(zlib))
		e.push("team/app", "v2", img2)
		st := e.meta.(meta.Scans)
		// A replica that died holding img2's scan.
		if _, err := st.EnqueueScans(ctx, time.Now(), meta.ScanRequest{Repository: "team/app", Digest: img2.Digest}); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := st.ClaimScan(ctx, meta.ScanClaim{Owner: "dead", Now: time.Now(), Until: time.Now().Add(time.Second)}); err != nil || !ok {
			t.Fatalf("claim as the dead replica: %v %v", ok, err)
		}
		n, err := e.scan.Sweep(ctx, time.Now().Add(-time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("Sweep = %d, %v; want img queued", n, err)
		}
		e.start()
		if ms := e.waitScan("team/app", img.Digest); ms.Status != "scanned" || ms.Summary.Critical != 1 {
			t.Fatalf("swept image: %+v", ms)
		}
		if ms := e.waitScan("team/app", img2.Digest); ms.Status != "scanned" {
			t.Fatalf("taken-over image: %+v", ms)
		}
		sc, _ := st.Scan(ctx, "team/app", img2.Digest)
		if sc.Attempts != 2 {
			t.Fatalf("attempts of the taken-over scan = %d, want 2", sc.Attempts)
		}
	})
}

// TestBacklog: a push is counted as noted until it is queued, and the
// backlog is empty once its scan is done.
func TestBacklog(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, scanner.Options{OnPush: true})
		e.importData(advisories...)
		ctx := context.Background()
		img := scantest.NewImage("linux/amd64", scantest.Debian(openssl))
		e.push("team/app", "v1", img)
		if got, err := e.scan.Backlog(ctx); err != nil || got != (scanner.Backlog{Noted: 1}) {
			t.Fatalf("Backlog before the notes are queued = %+v, %v; want 1 noted", got, err)
		}
		// A scan asked for is queued at once.
		img2 := scantest.NewImage("linux/amd64", scantest.Debian(zlib))
		e.push("team/app", "v2", img2)
		st := e.meta.(meta.Scans)
		if _, err := st.EnqueueScans(ctx, time.Now(), meta.ScanRequest{Repository: "team/app", Digest: img2.Digest}); err != nil {
			t.Fatal(err)
		}
		if got, err := e.scan.Backlog(ctx); err != nil || got != (scanner.Backlog{Noted: 2, Queued: 1}) {
			t.Fatalf("Backlog = %+v, %v; want 2 noted (img2 is also noted), 1 queued", got, err)
		}
		e.start()
		e.waitScan("team/app", img.Digest)
		e.waitScan("team/app", img2.Digest)
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := e.scan.Backlog(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got == (scanner.Backlog{}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Backlog after both scans = %+v; want empty", got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestPushYield: while pushes keep arriving, scans on push wait, and one
// worker of the replica (not each) scans one image per yield; when the
// pushes stop, the workers drain the backlog.
func TestPushYield(t *testing.T) {
	e := newEnv(t, backends[0], scanner.Options{OnPush: true, Workers: 3, PushYield: time.Second})
	e.importData(advisories...)
	ctx := context.Background()
	st := e.meta.(meta.Scans)
	var reqs []meta.ScanRequest
	for i := range 12 {
		img := scantest.NewImage("linux/amd64", scantest.Debian(openssl), scantest.Layer("app/id", fmt.Sprint(i)))
		e.push("team/app", fmt.Sprintf("v%d", i), img)
		reqs = append(reqs, meta.ScanRequest{Repository: "team/app", Digest: img.Digest})
	}
	if _, err := st.EnqueueScans(ctx, time.Now(), reqs...); err != nil {
		t.Fatal(err)
	}
	// Pushes arriving: notes of a manifest the store does not have, which
	// the queue skips.
	pushing, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		m := &oci.Manifest{MediaType: "application/vnd.oci.image.manifest.v1+json",
			Config: &oci.Descriptor{MediaType: "application/vnd.oci.image.config.v1+json"}}
		for pushing.Err() == nil {
			e.scan.Pushed("team/other", digest.FromString(time.Now().String()), m)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	scanned := func() int {
		list, err := st.ScanList(ctx, meta.ScanQuery{Repository: "team/app", States: []string{meta.ScanScanned}})
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	e.start()
	time.Sleep(2500 * time.Millisecond)
	// One scan after the first second, one after the second: each of
	// three workers yielding on its own would have run six.
	if n := scanned(); n > 3 {
		t.Fatalf("%d scans on push ran in 2.5 s of pushes with a yield of 1 s; want at most 3", n)
	}
	stop()
	<-done
	deadline := time.Now().Add(30 * time.Second)
	for scanned() < len(reqs) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d images scanned 30 s after the pushes stopped", scanned(), len(reqs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAllowlistAndReport: an allowlisted finding is marked, and a scan
// report is stored as a referrer.
func TestAllowlistAndReport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, scanner.Options{OnPush: true})
		e.importData(advisories...)
		e.start()
		ctx := context.Background()
		img := scantest.NewImage("linux/amd64", scantest.Debian(openssl))
		e.push("team/app", "v1", img)
		e.waitScan("team/app", img.Digest)
		exp := time.Now().Add(time.Hour)
		if _, err := e.scan.Allow(ctx, scanner.Allowed{Namespace: "team", ID: "CVE-2026-1000", Reason: "not reachable", Expires: &exp, CreatedBy: "alice"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.scan.Allow(ctx, scanner.Allowed{Namespace: "team", ID: "CVE-2026-9", Reason: ""}); err == nil {
			t.Fatal("an entry without a reason was accepted")
		}
		for _, id := range []string{"<script>alert(1)</script>", "CVE-2026-9;drop", `"CVE-2026-9"`} {
			if _, err := e.scan.Allow(ctx, scanner.Allowed{Namespace: "team", ID: id, Reason: "x"}); err == nil {
				t.Errorf("an entry with id %q, not an advisory id, was accepted", id)
			}
		}
		past := time.Now().Add(-time.Hour)
		if _, err := e.scan.Allow(ctx, scanner.Allowed{Namespace: "", ID: "CVE-2026-9", Reason: "x", Expires: &past}); err == nil {
			t.Fatal("an entry expired already was accepted")
		}
		is, err := e.scan.Image(ctx, "team/app", oci.Reference{Tag: "v1"})
		if err != nil || is.Manifests[0].Allowlisted != 1 || is.Manifests[0].Findings[0].Allowlisted == nil ||
			is.Manifests[0].Findings[0].Allowlisted.Reason != "not reachable" {
			t.Fatalf("allowlisted: %+v, %v", is, err)
		}
		ds, err := e.scan.Report(ctx, "team/app", oci.Reference{Tag: "v1"})
		if err != nil || len(ds) != 1 {
			t.Fatalf("Report = %v, %v", ds, err)
		}
		refs, _ := e.reg.Referrers(ctx, "team/app", img.Digest, scanner.MediaTypeReport)
		if len(refs) != 1 || refs[0].Digest != ds[0] {
			t.Fatalf("report referrers = %+v", refs)
		}
	})
}
