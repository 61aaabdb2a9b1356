package vulndb_test

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scan/vulndb"
)

// writeZip writes an osv.dev-style all.zip: one JSON file per advisory.
func writeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[name]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func debianAdvisory(id, modified, fixed string) string {
	return fmt.Sprintf(`{"id": %q, "modified": %q, "aliases": ["CVE-%s"],
	  "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
	    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": %q}]}]}]}`, id, modified, id, fixed)
}

// osvDir lays out a directory of per-ecosystem exports.
func osvDir(t *testing.T) string {
	dir := t.TempDir()
	writeZip(t, filepath.Join(dir, "Debian", "all.zip"), map[string]string{
		"DSA-1-1.json": debianAdvisory("DSA-1-1", "2024-01-01T00:00:00Z", "3.0.11-1~deb12u3"),
		"DSA-2-1.json": `{"id": "DSA-2-1", "modified": "2024-01-02T00:00:00Z", "withdrawn": "2024-01-03T00:00:00Z",
		  "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}`,
	})
	writeZip(t, filepath.Join(dir, "Go", "all.zip"), map[string]string{
		"GO-2024-1.json": `{"id": "GO-2024-1", "modified": "2024-03-01T00:00:00Z", "details": "A long text.",
		  "affected": [{"package": {"ecosystem": "Go", "name": "example.com/m"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]}],
		  "versions": ["1.0.0", "1.1.0"]}]}`,
	})
	return dir
}

var image = []scan.Package{
	{Name: "libssl3", Version: "3.0.11-1~deb12u2", SourceName: "openssl", Ecosystem: "Debian:12"},
	{Name: "example.com/m", Version: "1.1.0", Ecosystem: "Go"},
}

func TestImportStoreAndLoad(t *testing.T) {
	ctx := context.Background()
	store := vulndb.DirStore{Dir: t.TempDir()}
	live := vulndb.NewLive(store, store)
	if _, err := live.Refresh(ctx); !errors.Is(err, vulndb.ErrNoDatabase) {
		t.Fatalf("refresh before import: %v", err)
	}
	ref, err := vulndb.Import(ctx, store, store, []string{osvDir(t)}, vulndb.ImportLimits{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if ref.Info.Advisories != 2 || ref.Info.Ecosystems["Debian:12"] != 1 || ref.Info.Ecosystems["Go"] != 1 || len(ref.Info.Sources) != 2 {
		t.Errorf("info = %+v (the withdrawn advisory must be left out)", ref.Info)
	}
	if ref.Info.Newest.Format("2006-01-02") != "2024-03-01" || !strings.HasPrefix(ref.Digest, "sha256:") {
		t.Errorf("ref = %+v", ref)
	}
	changed, err := live.Refresh(ctx)
	if err != nil || !changed {
		t.Fatalf("refresh: %v %v", changed, err)
	}
	idx, got, ok := live.Index()
	if !ok || got.Digest != ref.Digest {
		t.Fatal("index not loaded")
	}
	findings := idx.Match(image)
	if len(findings) != 2 || findings[0].Fixed == "" {
		t.Errorf("findings = %+v", findings)
	}
	if changed, _ := live.Refresh(ctx); changed {
		t.Error("refresh reloaded an unchanged bundle")
	}

	// The same data again: the same bundle, the pointer untouched.
	again, err := vulndb.Import(ctx, store, store, []string{osvDir(t)}, vulndb.ImportLimits{}, t.TempDir())
	if err != nil || again.Digest != ref.Digest || !again.Imported.Equal(ref.Imported) {
		t.Errorf("re-import: %v %+v", err, again)
	}

	// A newer advisory replaces the older of the same id.
	dir := t.TempDir()
	writeZip(t, filepath.Join(dir, "all.zip"), map[string]string{
		"a.json": debianAdvisory("DSA-1-1", "2024-01-01T00:00:00Z", "3.0.11-1~deb12u3"),
		"b.json": debianAdvisory("DSA-1-1", "2024-05-01T00:00:00Z", "3.0.11-1~deb12u1"), // fix now below the installed version
	})
	next, err := vulndb.Import(ctx, store, store, []string{filepath.Join(dir, "all.zip")}, vulndb.ImportLimits{}, t.TempDir())
	if err != nil || next.Digest == ref.Digest {
		t.Fatalf("import: %v %+v", err, next)
	}
	if changed, err := live.Refresh(ctx); !changed || err != nil {
		t.Fatalf("refresh after import: %v %v", changed, err)
	}
	idx, _, _ = live.Index()
	if f := idx.Match(image); len(f) != 0 {
		t.Errorf("findings after the newer advisory: %+v", f)
	}
	held, _ := store.Bundles()
	if len(held) != 2 {
		t.Errorf("bundles held: %v, want the current and the previous", held)
	}
}

func TestImportRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bomb := filepath.Join(dir, "bomb.zip")
	writeZip(t, bomb, map[string]string{"x.json": `{"id": "X", "summary": "` + strings.Repeat("a", 2<<20) + `"}`})
	notJSON := filepath.Join(dir, "bad.zip")
	writeZip(t, notJSON, map[string]string{"x.json": `{"id": `})
	badEvent := filepath.Join(dir, "event.zip")
	writeZip(t, badEvent, map[string]string{"x.json": `{"id": "X", "affected": [{"package": {"ecosystem": "Go", "name": "m"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0", "fixed": "1"}]}]}]}`})
	notZip := filepath.Join(dir, "junk.zip")
	os.WriteFile(notZip, []byte("not a zip"), 0o644)
	for path, want := range map[string]string{
		bomb:                              "over 1048576 bytes",
		notJSON:                           "not an OSV advisory",
		badEvent:                          "exactly one of",
		notZip:                            "not a valid zip file",
		filepath.Join(dir, "missing.zip"): "no such file",
	} {
		store := vulndb.DirStore{Dir: t.TempDir()}
		_, err := vulndb.Import(ctx, store, store, []string{path}, vulndb.ImportLimits{MaxAdvisoryBytes: 1 << 20}, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", filepath.Base(path), err, want)
		}
		if _, err := store.Current(ctx); !errors.Is(err, vulndb.ErrNoDatabase) {
			t.Errorf("%s: a failed import moved the pointer", filepath.Base(path))
		}
	}
}

func TestCorruptBundleKeepsPreviousIndex(t *testing.T) {
	ctx := context.Background()
	store := vulndb.DirStore{Dir: t.TempDir()}
	ref, err := vulndb.Import(ctx, store, store, []string{osvDir(t)}, vulndb.ImportLimits{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	live := vulndb.NewLive(store, store)
	if _, err := live.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	// A pointer to a bundle whose bytes are not what the digest says.
	bad := ref
	bad.Digest = "sha256:" + strings.Repeat("0", 64)
	p := filepath.Join(store.Dir, "bundles", "sha256", strings.Repeat("0", 64))
	b, _ := os.ReadFile(filepath.Join(store.Dir, "bundles", "sha256", strings.TrimPrefix(ref.Digest, "sha256:")))
	os.WriteFile(p, b, 0o644)
	if err := store.SetCurrent(ctx, ref.Digest, bad); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Refresh(ctx); !errors.Is(err, vulndb.ErrBundle) {
		t.Errorf("refresh of a corrupt bundle: %v", err)
	}
	if _, cur, ok := live.Index(); !ok || cur.Digest != ref.Digest {
		t.Error("the previous index was dropped")
	}
	if err := store.SetCurrent(ctx, ref.Digest, ref); !errors.Is(err, vulndb.ErrConflict) {
		t.Errorf("stale compare-and-set: %v", err)
	}
}
