package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestGCAndScrubCommands runs `wharf gc` and `wharf scrub` against the data
// of a wharf that is serving it: online, across processes, on SQLite.
func TestGCAndScrubCommands(t *testing.T) {
	dir := t.TempDir()
	env := []string{"WHARF_DATA_DIR=" + dir, "WHARF_GC_INTERVAL=0", "WHARF_GC_RELEASED_GRACE=0s", "WHARF_GC_UNREFERENCED_GRACE=0s"}
	p := startWharf(t, dir, env...)
	l := &crashLoad{base: "http://" + p.addr}
	orphan, cfg, layer := []byte("never referenced"), []byte(`{"cfg":1}`), []byte("a layer")
	for _, b := range [][]byte{orphan, cfg, layer} {
		if !l.pushBlob("e2e/app", b, false) {
			t.Fatal("push blob failed")
		}
	}
	m := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		digest.FromBytes(cfg), len(cfg), digest.FromBytes(layer), len(layer))
	resp, err := l.req("PUT", "/v2/e2e/app/manifests/v1", m, "application/vnd.oci.image.manifest.v1+json", "")
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("put manifest: %v %v", resp, err)
	}
	wharf := func(wantOK bool, args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("wharf %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	orphanLine := "blob " + digest.FromBytes(orphan).String()
	if out := wharf(true, "gc", "--dry-run"); !strings.Contains(out, "would delete "+orphanLine) || !strings.Contains(out, "would delete 1 blobs") {
		t.Fatalf("gc --dry-run printed:\n%s", out)
	}
	checkBlob(t, l.base, "e2e/app", digest.FromBytes(orphan), len(orphan))
	if out := wharf(true, "gc"); !strings.Contains(out, "deleted "+orphanLine) || !strings.Contains(out, fmt.Sprintf("deleted 1 blobs (%d bytes)", len(orphan))) {
		t.Fatalf("gc printed:\n%s", out)
	}
	resp, err = l.req("GET", "/v2/e2e/app/blobs/"+digest.FromBytes(orphan).String(), nil, "", "")
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("collected blob: %v %v, want 404", resp, err)
	}
	checkBlob(t, l.base, "e2e/app", digest.FromBytes(layer), len(layer))

	if out := wharf(true, "scrub"); !strings.Contains(out, "re-hashed 2 blobs") || !strings.Contains(out, "0 problems") {
		t.Fatalf("scrub printed:\n%s", out)
	}
	// Damage the layer on disk: scrub fails and names it; --repair forgets
	// it, so the registry says it is unknown instead of serving bad bytes.
	ld := digest.FromBytes(layer)
	path := filepath.Join(dir, "content", "blobs", "sha256", ld.Encoded()[:2], ld.Encoded())
	if err := os.WriteFile(path, bytes.ToUpper(layer), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := wharf(false, "scrub"); !strings.Contains(out, "digest mismatch: "+ld.String()) {
		t.Fatalf("scrub of damaged content printed:\n%s", out)
	}
	if out := wharf(true, "scrub", "--repair"); !strings.Contains(out, "1 problems, 1 repaired") {
		t.Fatalf("scrub --repair printed:\n%s", out)
	}
	resp, err = l.req("HEAD", "/v2/e2e/app/blobs/"+ld.String(), nil, "", "")
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("repaired blob: %v %v, want 404", resp, err)
	}
	if !l.pushBlob("e2e/app", layer, false) {
		t.Fatal("push the repaired blob again failed")
	}
	checkBlob(t, l.base, "e2e/app", ld, len(layer))
	wharf(true, "scrub")
}
