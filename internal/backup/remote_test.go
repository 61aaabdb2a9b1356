package backup

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wharf-dev/wharf/internal/httpapi/distv2"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/remote"
)

// serve serves r's distribution API and returns a client of it.
func serve(t *testing.T, r *registry.Registry) *remote.Client {
	t.Helper()
	srv := httptest.NewServer(distv2.New(distv2.Options{Registry: r, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	c, err := remote.New(remote.Options{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRemoteRoundTrip exports from one registry and imports into another,
// both through the distribution API: the same tags, digests and referrers
// arrive, and team/other's blobs are mounted, not sent again.
func TestRemoteRoundTrip(t *testing.T) {
	src := newRegistry(t, "fs+sqlite")
	populate(t, src)
	want := state(t, src)
	p, erep := export(t, serve(t, src), "oci-archive", ExportOptions{Selection: Selection{All: true}})
	dst := newRegistry(t, "fs+sqlite")
	rep, err := importPath(t, p, NewRemote(serve(t, dst)), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, state(t, dst)); diff != "" {
		t.Fatalf("imported registry differs (-want +got):\n%s", diff)
	}
	if rep.Blobs != erep.Blobs || rep.BlobsPresent == 0 {
		t.Errorf("import sent %d blobs and found %d present; the export wrote %d", rep.Blobs, rep.BlobsPresent, erep.Blobs)
	}
	again, err := importPath(t, p, NewRemote(serve(t, dst)), ImportOptions{})
	if err != nil || again.Blobs != 0 {
		t.Fatalf("a second import sent %d blobs (%v), want none", again.Blobs, err)
	}
	if _, err := serve(t, dst).Tags(context.Background(), "no/such"); err == nil {
		t.Fatal("tags of a missing repository: no error")
	}
}
