package server_test

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/config"
)

const ociManifestType = "application/vnd.oci.image.manifest.v1+json"

// TestReplicasSeeEachOthersTagMoves: two servers on one PostgreSQL database
// and one content store, each with its manifest cache on, see the tags the
// other moves and the manifests it deletes, though each has cached what it
// read before.
func TestReplicasSeeEachOthersTagMoves(t *testing.T) {
	admin := os.Getenv("WHARF_TEST_POSTGRES_URL")
	if admin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("WHARF_TEST_POSTGRES_URL is not set")
		}
		t.Skip("WHARF_TEST_POSTGRES_URL is not set")
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Database.Driver = "postgres"
	cfg.Database.Postgres.URL = newDatabase(t, admin)
	a := openTestRegistry(t, cfg)
	b := openTestRegistry(t, cfg)

	// getDigest returns the digest b serves for ref, from its cache once
	// it has read it.
	getDigest := func(ref string) (int, digest.Digest) {
		r := b.do("GET", "/v2/app/manifests/"+ref, nil, "Accept", ociManifestType)
		return r.status, digest.Digest(r.header.Get("Docker-Content-Digest"))
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("replica b did not see %s within 5s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	_, d1 := a.pushImage("app", "latest", []byte(`{"v":1}`), []byte("layer 1"))
	if status, d := getDigest("latest"); status != http.StatusOK || d != d1 {
		t.Fatalf("b: latest = %d %s, want %s", status, d, d1)
	}
	getDigest(d1.String()) // cached by digest too

	_, d2 := a.pushImage("app", "latest", []byte(`{"v":2}`), []byte("layer 2"))
	waitFor("latest move to "+d2.String(), func() bool { _, d := getDigest("latest"); return d == d2 })

	want(t, "delete manifest on a", a.do("DELETE", "/v2/app/manifests/"+d1.String(), nil), http.StatusAccepted, "")
	waitFor("the deletion of "+d1.String(), func() bool { status, _ := getDigest(d1.String()); return status == http.StatusNotFound })

	// And the other way round.
	_, d3 := b.pushImage("app", "latest", []byte(`{"v":3}`), []byte("layer 3"))
	waitFor("its own push", func() bool { _, d := getDigest("latest"); return d == d3 })
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := a.do("GET", "/v2/app/manifests/latest", nil, "Accept", ociManifestType)
		if digest.Digest(r.header.Get("Docker-Content-Digest")) == d3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica a did not see b's tag move within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
