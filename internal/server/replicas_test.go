package server_test

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
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
	cfg.Database.Postgres.URL = pgtest.Database(t)
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

// TestReplicasRacingOnOneChunk: two replicas on one bucket and database
// write the same offset of one upload. The loser streams slowly, so its
// bytes reach S3 after the winner's; the upload still holds the winner's
// bytes, since only the parts recorded with the offset are ever read, and
// the committed blob matches its digest.
func TestReplicasRacingOnOneChunk(t *testing.T) {
	admin, endpoint := os.Getenv("WHARF_TEST_POSTGRES_URL"), os.Getenv("WHARF_TEST_S3_ENDPOINT")
	if admin == "" || endpoint == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("WHARF_TEST_POSTGRES_URL and WHARF_TEST_S3_ENDPOINT must be set")
		}
		t.Skip("WHARF_TEST_POSTGRES_URL or WHARF_TEST_S3_ENDPOINT is not set")
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Database.Driver = "postgres"
	cfg.Database.Postgres.URL = pgtest.Database(t)
	cfg.Storage.Driver = "s3"
	cfg.Storage.S3 = config.S3Storage{
		Endpoint:        endpoint,
		Bucket:          os.Getenv("WHARF_TEST_S3_BUCKET"),
		AccessKeyID:     os.Getenv("WHARF_TEST_S3_ACCESS_KEY"),
		SecretAccessKey: os.Getenv("WHARF_TEST_S3_SECRET_KEY"),
		PathStyle:       true,
		Prefix:          "server-test-" + randomHex(),
	}
	a := openTestRegistry(t, cfg)
	b := openTestRegistry(t, cfg)

	head, winner, loser := randomBlob(100<<10), randomBlob(200<<10), randomBlob(200<<10)
	r := a.do("POST", "/v2/app/blobs/uploads/", nil)
	want(t, "start upload", r, http.StatusAccepted, "")
	r = a.do("PATCH", r.header.Get("Location"), head, "Content-Range", fmt.Sprintf("0-%d", len(head)-1))
	want(t, "first chunk", r, http.StatusAccepted, "")
	loc := r.header.Get("Location")
	chunkRange := fmt.Sprintf("%d-%d", len(head), len(head)+len(winner)-1)

	// The loser starts first and finishes last.
	pr, pw := io.Pipe()
	req, err := http.NewRequest("PATCH", b.srv.URL+loc, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Range", chunkRange)
	loserDone := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			loserDone <- 0
			return
		}
		resp.Body.Close()
		loserDone <- resp.StatusCode
	}()
	if _, err := pw.Write(loser[:32<<10]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // b has read the upload and begun writing
	r = a.do("PATCH", loc, winner, "Content-Range", chunkRange)
	want(t, "the winner's chunk", r, http.StatusAccepted, "")
	if _, err := pw.Write(loser[32<<10:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if status := <-loserDone; status < 400 {
		t.Fatalf("the loser's chunk: status %d, want a refusal", status)
	}

	whole := append(append([]byte{}, head...), winner...)
	d := digest.FromBytes(whole)
	r = b.do("PUT", loc+"?digest="+d.String(), nil)
	want(t, "commit on the loser's replica", r, http.StatusCreated, "")
	for _, tr := range []*testRegistry{a, b} {
		r = tr.do("GET", "/v2/app/blobs/"+d.String(), nil)
		if r.status != http.StatusOK || digest.FromBytes(r.body) != d {
			t.Fatalf("blob %s served with digest %s (%d bytes): the loser's bytes were committed", d, digest.FromBytes(r.body), len(r.body))
		}
	}
}

func randomBlob(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
