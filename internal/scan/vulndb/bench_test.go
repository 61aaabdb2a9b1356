package vulndb_test

import (
	"archive/zip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scan/vulndb"
)

// syntheticExport writes an all.zip of n advisories shaped like OSV's
// Debian records (a CVE alias, one package, one range, a CVSS vector).
func syntheticExport(b *testing.B, n int) string {
	path := filepath.Join(b.TempDir(), "all.zip")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for i := range n {
		w, _ := zw.Create(fmt.Sprintf("DEBIAN-CVE-2024-%06d.json", i))
		fmt.Fprintf(w, `{"id": "DEBIAN-CVE-2024-%06d", "modified": "2024-06-01T00:00:00Z", "aliases": ["CVE-2024-%06d"],
		  "summary": "synthetic advisory %d for a package of the benchmark",
		  "details": "Some paragraph of text that the import drops, as it is not needed to match or report.",
		  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
		  "affected": [{"package": {"ecosystem": "Debian:12", "name": "pkg%d"},
		    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.%d-1"}]}],
		    "versions": ["1.0-1", "1.1-1"],
		    "ecosystem_specific": {"urgency": "medium"}}],
		  "references": [{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2024-%06d"}]}`, i, i, i, i%5000, i%100, i)
	}
	zw.Close()
	f.Close()
	return path
}

// BenchmarkImportAndLoad imports 100,000 advisories and loads the bundle,
// reporting the bundle's size and the heap the loaded index holds.
func BenchmarkImportAndLoad(b *testing.B) {
	const n = 100_000
	src := syntheticExport(b, n)
	ctx := context.Background()
	for b.Loop() {
		store := vulndb.DirStore{Dir: b.TempDir()}
		ref, err := vulndb.Import(ctx, store, store, []string{src}, vulndb.ImportLimits{}, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		live := vulndb.NewLive(store, store)
		if _, err := live.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		idx, _, _ := live.Index()
		if len(idx.Match([]scan.Package{{Name: "pkg7", Version: "1.0-1", Ecosystem: "Debian:12"}})) == 0 {
			b.Fatal("no finding")
		}
		b.ReportMetric(float64(ref.Size)/1e6, "bundle-MB")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1e6, "index-heap-MB")
	}
}

// BenchmarkLoad times loading a bundle of 100,000 advisories alone: what a
// replica pays when the data changes.
func BenchmarkLoad(b *testing.B) {
	src := syntheticExport(b, 100_000)
	ctx := context.Background()
	store := vulndb.DirStore{Dir: b.TempDir()}
	if _, err := vulndb.Import(ctx, store, store, []string{src}, vulndb.ImportLimits{}, b.TempDir()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := vulndb.NewLive(store, store).Refresh(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
