package metatest

import (
	"context"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// testGCHold: a hold is live until its end, renewing moves the end,
// releasing ends it, and collectors see it inside their transactions.
func testGCHold(t *testing.T, s meta.Store) {
	ctx := context.Background()
	h, ok := s.(meta.GCHolder)
	if !ok {
		t.Fatalf("%T does not implement meta.GCHolder", s)
	}
	g := s.(meta.GCReader)
	now := time.Now()
	held := func(at time.Time) bool {
		t.Helper()
		v, err := g.GCHeld(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		var inTx bool
		err = s.Update(ctx, func(tx meta.Tx) error {
			inTx, err = tx.(meta.GCTx).GCHeld(ctx, at)
			return err
		})
		if err != nil || inTx != v {
			t.Fatalf("GCHeld in a transaction: %v, %v; outside: %v", inTx, err, v)
		}
		return v
	}
	if held(now) {
		t.Fatal("an empty store holds GC off")
	}
	if err := h.HoldGC(ctx, "backup-a", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !held(now) || held(now.Add(2*time.Hour)) {
		t.Fatal("a hold until an hour from now is not live now, or still live after")
	}
	if err := h.HoldGC(ctx, "backup-b", now.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := h.HoldGC(ctx, "backup-a", now.Add(-time.Second)); err != nil { // renewed into the past
		t.Fatal(err)
	}
	if !held(now.Add(2 * time.Hour)) {
		t.Fatal("the second hold does not count")
	}
	if err := h.ReleaseGC(ctx, "backup-b"); err != nil {
		t.Fatal(err)
	}
	if held(now) {
		t.Fatal("GC is held after its holds were released or lapsed")
	}
	if err := h.ReleaseGC(ctx, "never-held"); err != nil {
		t.Fatalf("releasing a missing hold: %v", err)
	}
}

// RunDump runs the backup suite of a backend whose Store implements
// [meta.Dumper]: a Dump is a copy of one moment, with every blob it
// records listed, without uploads in progress or holds, and restore (the
// backend's own, opening what Dump wrote in dir as a fresh Store) brings it
// back whole.
func RunDump(t *testing.T, newStore func(t *testing.T) meta.Store, restore func(t *testing.T, dir string) meta.Store) {
	ctx := context.Background()
	s := newStore(t)
	d, ok := s.(meta.Dumper)
	if !ok {
		t.Fatalf("%T does not implement meta.Dumper", s)
	}
	m := putManifest(t, s, "team/app", "v1")
	putTag(t, s, "team/app", "v1", m.Digest)
	loose := newBlob("recorded, linked nowhere")
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutBlob(ctx, loose) })
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		return tx.CreateUpload(ctx, meta.Upload{ID: "in-progress", Repository: "team/app", CreatedAt: at(3), UpdatedAt: at(3)})
	})
	if err := s.(meta.GCHolder).HoldGC(ctx, "backup-test", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.(meta.Access).CreateUser(ctx, meta.User{Name: "alice", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	var listed []meta.Blob
	format, err := d.Dump(ctx, dir, func(b meta.Blob) error {
		listed = append(listed, b)
		return nil
	})
	if err != nil {
		t.Fatalf("Dump: %v", err)
	}
	if format == "" {
		t.Fatal("Dump names no format")
	}
	cfg := newBlob("config of v1")
	want := []meta.Blob{cfg, loose}
	if want[0].Digest > want[1].Digest {
		want[0], want[1] = want[1], want[0]
	}
	if len(listed) != 2 || listed[0].Digest != want[0].Digest || listed[1].Digest != want[1].Digest || listed[0].Size != want[0].Size {
		t.Fatalf("Dump listed %v, want the two blobs %v in digest order", listed, want)
	}
	putTag(t, s, "team/app", "after", m.Digest) // not in the dump

	r := restore(t, dir)
	tag, err := r.Tag(ctx, "team/app", "v1")
	if err != nil || tag.Digest != m.Digest {
		t.Fatalf("restored tag v1: %v, %v", tag, err)
	}
	got, err := r.Manifest(ctx, "team/app", m.Digest)
	if err != nil || string(got.Payload) != string(m.Payload) {
		t.Fatalf("restored manifest: %v (%d bytes, want %d)", err, len(got.Payload), len(m.Payload))
	}
	if _, err := r.Blob(ctx, "team/app", cfg.Digest); err != nil {
		t.Fatalf("restored link: %v", err)
	}
	_, err = r.Tag(ctx, "team/app", "after")
	wantErr(t, "a tag put after the dump", err, meta.ErrNotFound)
	_, err = r.Upload(ctx, "in-progress")
	wantErr(t, "an upload in progress at the dump", err, meta.ErrNotFound)
	if held, err := r.(meta.GCReader).GCHeld(ctx, time.Now()); err != nil || held {
		t.Fatalf("the restored store holds GC off: %v, %v", held, err)
	}
	if u, err := r.(meta.Access).User(ctx, "alice"); err != nil || u.PasswordHash != "x" {
		t.Fatalf("restored user: %+v, %v", u, err)
	}
	// The restored store takes writes: sequences and triggers work.
	m2 := putManifest(t, r, "team/other", "v2")
	putTag(t, r, "team/other", "v2", m2.Digest)
}
