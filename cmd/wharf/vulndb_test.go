package main

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVulndbImportAndStatus(t *testing.T) {
	src := filepath.Join(t.TempDir(), "Go", "all.zip")
	os.MkdirAll(filepath.Dir(src), 0o755)
	f, _ := os.Create(src)
	zw := zip.NewWriter(f)
	w, _ := zw.Create("GO-2024-0001.json")
	w.Write([]byte(`{"id": "GO-2024-0001", "modified": "2024-06-01T00:00:00Z",
	  "affected": [{"package": {"ecosystem": "Go", "name": "example.com/m"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]}]}]}`))
	zw.Close()
	f.Close()
	dir := t.TempDir()

	var out bytes.Buffer
	if err := vulndbImport([]string{"--dir", dir, filepath.Dir(filepath.Dir(src))}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "imported 1 advisories from 1 sources") || !strings.Contains(out.String(), "ecosystems: Go 1") {
		t.Errorf("import said:\n%s", out.String())
	}
	out.Reset()
	if err := vulndbImport([]string{"--dir", dir, filepath.Dir(filepath.Dir(src))}, &out); err != nil || !strings.HasPrefix(out.String(), "unchanged") {
		t.Errorf("re-import: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := vulndbStatus([]string{"--dir", dir}, &out); err != nil || !strings.Contains(out.String(), "1 advisories") {
		t.Errorf("status: %v\n%s", err, out.String())
	}
	if err := vulndbStatus([]string{"--dir", t.TempDir()}, &out); err == nil || !strings.Contains(err.Error(), "run wharf vulndb import") {
		t.Errorf("status without data: %v", err)
	}
	if err := vulndbImport([]string{"--dir", dir, filepath.Join(dir, "nope.zip")}, &out); err == nil {
		t.Error("import of a missing file succeeded")
	}
}
