package e2e

import (
	"path/filepath"
	"regexp"
	"testing"
)

// TestConformance runs the opencontainers distribution-spec conformance
// suite, every workflow, against the binary. Nothing may fail or be skipped.
func TestConformance(t *testing.T) {
	shared := sharedDir(t)
	for _, b := range e2eStorageBackends(t) {
		t.Run(b.name, func(t *testing.T) { conformance(t, shared, b) })
	}
}

func conformance(t *testing.T, shared string, b e2eBackend) {
	p := startWharf(t, t.TempDir(), b.env(t)...)
	// The suite's defaults test everything of distribution-spec 1.1 except
	// upload cancel, which wharf supports, so it is turned on too.
	env := []string{"OCI_VERSION=1.1", "OCI_API_BLOBS_UPLOAD_CANCEL=true"}
	out := runScript(t, filepath.Join(shared, "oci-conformance", "run.sh"), env, p.addr, t.TempDir())
	m := regexp.MustCompile(`conformance: (\d+) passed, (\d+) failed, (\d+) skipped`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no conformance summary line")
	}
	if m[2] != "0" || m[1] == "0" {
		t.Fatalf("conformance: %s passed, %s failed, %s skipped", m[1], m[2], m[3])
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestClients pushes, pulls, tags, copies, attaches referrers and deletes
// with crane, oras, regctl and skopeo.
func TestClients(t *testing.T) {
	shared := sharedDir(t)
	for _, b := range e2eStorageBackends(t) {
		t.Run(b.name, func(t *testing.T) { clients(t, shared, b) })
	}
}

func clients(t *testing.T, shared string, b e2eBackend) {
	p := startWharf(t, t.TempDir(), b.env(t)...)
	out := runScript(t, filepath.Join(shared, "clients", "run.sh"), nil, p.addr)
	if !regexp.MustCompile(`clients: \d+ passed, 0 failed`).MatchString(out) {
		t.Fatal("a client failed")
	}
}
