package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/metatest"
)

func TestStore(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store { return openTest(t, Options{}) })
}

func TestAccess(t *testing.T) {
	metatest.RunAccess(t, func(t *testing.T) meta.Access { return openTest(t, Options{}) })
}

func TestIdentities(t *testing.T) {
	metatest.RunIdentities(t, func(t *testing.T) metatest.IdentityStore { return openTest(t, Options{}) })
}

func TestReplication(t *testing.T) {
	metatest.RunReplication(t, func(t *testing.T) meta.Store { return openTest(t, Options{}) })
}

func TestScans(t *testing.T) {
	metatest.RunScans(t, func(t *testing.T) meta.Store { return openTest(t, Options{}) })
}

func TestProxy(t *testing.T) {
	metatest.RunProxy(t, func(t *testing.T) metatest.ProxyStore { return openTest(t, Options{}) })
}

func TestEvents(t *testing.T) {
	metatest.RunEvents(t, func(t *testing.T) metatest.EventStore { return openTest(t, Options{}) })
}

func BenchmarkAccess(b *testing.B) {
	metatest.BenchAccess(b, func(tb testing.TB) meta.Access { return openTest(tb, Options{}) })
}

// openTest opens a Store in a fresh directory, closed when the test ends.
func openTest(tb testing.TB, o Options) *Store {
	tb.Helper()
	if o.Path == "" {
		o.Path = filepath.Join(tb.TempDir(), "meta.db")
	}
	s, err := Open(context.Background(), o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// push records a blob, a manifest referencing it and a tag in repo, as a
// push does, and returns the manifest.
func push(tb testing.TB, s meta.Store, repo, tag string, payloadSize int) meta.Manifest {
	tb.Helper()
	ctx := context.Background()
	b := meta.Blob{Digest: digest.FromString(repo + tag), Size: 1 << 20}
	payload := fmt.Appendf(nil, `{"schemaVersion":2,"tag":%q,"pad":"%s"}`, tag, strings.Repeat("x", payloadSize))
	m := meta.Manifest{
		Repository: repo,
		Digest:     digest.FromBytes(payload),
		MediaType:  "application/vnd.oci.image.manifest.v1+json",
		Size:       int64(len(payload)),
		Payload:    payload,
		Blobs:      []digest.Digest{b.Digest},
	}
	err := s.Update(ctx, func(tx meta.Tx) error {
		if err := tx.PutBlob(ctx, b); err != nil {
			return err
		}
		if err := tx.LinkBlob(ctx, repo, b.Digest); err != nil {
			return err
		}
		if err := tx.PutManifest(ctx, m); err != nil {
			return err
		}
		return tx.PutTag(ctx, repo, tag, m.Digest)
	})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sub", "dir", "meta.db") // directories are created
	s, err := Open(ctx, Options{Path: path, Synchronous: "full"})
	if err != nil {
		t.Fatal(err)
	}
	m := push(t, s, "team/app", "v1", 100)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, Options{Path: path})
	tag, err := s.Tag(ctx, "team/app", "v1")
	if err != nil || tag.Digest != m.Digest {
		t.Fatalf("Tag after reopen = %+v, %v; want %s", tag, err, m.Digest)
	}
	got, err := s.Manifest(ctx, "team/app", m.Digest)
	if err != nil || string(got.Payload) != string(m.Payload) {
		t.Fatalf("Manifest after reopen = %q, %v", got.Payload, err)
	}
}

func TestMigrationsOnReopen(t *testing.T) {
	ctx := t.Context()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "meta.db")
	versions := func() string {
		s := openTest(t, Options{Path: path})
		rows, err := s.readers.QueryContext(ctx, `SELECT version, applied_at FROM schema_version ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v, at int64
			if err := rows.Scan(&v, &at); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(v, "@", at))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(out) != len(ms) {
			t.Fatalf("schema_version has %q, want %d migrations", out, len(ms))
		}
		return strings.Join(out, " ")
	}
	first := versions()
	if again := versions(); again != first {
		t.Errorf("reopening applied migrations again: %s, then %s", first, again)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "meta.db")
	s := openTest(t, Options{Path: path})
	if _, err := s.writer.ExecContext(ctx, `INSERT INTO schema_version VALUES (1000, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, Options{Path: path}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a database from a newer build: %v, want a refusal", err)
	}
}

// TestFailedMigrationRollsBack: migrations apply all or nothing.
func TestFailedMigrationRollsBack(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{})
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	n := len(ms)
	ms = append(ms,
		migration{version: n + 1, name: "good.sql", sql: `CREATE TABLE added (x INTEGER)`},
		migration{version: n + 2, name: "bad.sql", sql: `CREATE TABLE broken (`},
	)
	if err := migrate(ctx, s.writer, ms); err == nil || !strings.Contains(err.Error(), "bad.sql") {
		t.Fatalf("migrate with a broken migration: %v, want its error", err)
	}
	var tables, version int
	if err := s.writer.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE name = 'added'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if err := s.writer.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if tables != 0 || version != n {
		t.Errorf("after a failed migration: table added exists %d times, schema version %d; want 0, %d", tables, version, n)
	}
}

func TestOptions(t *testing.T) {
	ctx := t.Context()
	for _, tt := range []struct {
		sync string
		want int // PRAGMA synchronous: 1 normal, 2 full
	}{{"", 1}, {"normal", 1}, {"full", 2}, {"FULL", 2}} {
		s := openTest(t, Options{Synchronous: tt.sync})
		var got int
		if err := s.writer.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&got); err != nil || got != tt.want {
			t.Errorf("Synchronous %q: PRAGMA synchronous = %d, %v; want %d", tt.sync, got, err, tt.want)
		}
	}
	for _, o := range []Options{
		{Path: filepath.Join(t.TempDir(), "meta.db"), Synchronous: "sometimes"},
		{Path: ""},
	} {
		if s, err := Open(ctx, o); err == nil {
			s.Close()
			t.Errorf("Open(%+v) succeeded, want an error", o)
		}
	}
	_, err := Open(ctx, Options{Path: "x.db", Synchronous: "sometimes"})
	if err == nil || !strings.Contains(err.Error(), "synchronous") {
		t.Errorf("bad synchronous: error %v does not name the option", err)
	}
}

// TestConnections checks the settings every pooled connection gets.
func TestConnections(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{})
	var mode string
	var fk, timeout int
	if err := s.writer.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := s.writer.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("writer foreign_keys = %d, %v; want 1", fk, err)
	}
	// Hold several reader connections at once so the pool opens new ones.
	var conns []interface{ Close() error }
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 3 {
		c, err := s.readers.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if err := c.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&timeout); err != nil || timeout != busyTimeoutMillis {
			t.Errorf("reader %d busy_timeout = %d, %v; want %d", i, timeout, err, busyTimeoutMillis)
		}
		if _, err := c.ExecContext(ctx, `DELETE FROM tags`); err == nil {
			t.Errorf("reader %d could write", i)
		}
	}
}

// TestQueryPlans: the hot paths use indexes, never a full table scan. It
// runs a push (with an index and a referrer) and the reads of a pull,
// then explains every statement they ran: the statements Open prepared
// are forgotten first, so that what is prepared at the end is what ran.
func TestQueryPlans(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{})
	forgetStatements(s)
	m := push(t, s, "r", "latest", 10)
	index := meta.Manifest{Repository: "r", Digest: digest.FromString("index"), MediaType: "x", Size: 5,
		Payload: []byte("index"), Children: []digest.Digest{m.Digest}}
	referrer := meta.Manifest{Repository: "r", Digest: digest.FromString("sig"), MediaType: "x", Size: 3,
		Payload: []byte("sig"), Subject: m.Digest, Blobs: m.Blobs}
	err := s.Update(ctx, func(tx meta.Tx) error {
		for _, m := range []meta.Manifest{index, referrer} {
			if err := tx.PutManifest(ctx, m); err != nil {
				return err
			}
		}
		return tx.PutTag(ctx, "r", "index", index.Digest)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, read := range []func() error{
		func() error { _, err := s.Tag(ctx, "r", "latest"); return err },
		func() error { _, err := s.Manifest(ctx, "r", m.Digest); return err },
		func() error { _, err := s.Blob(ctx, "r", m.Blobs[0]); return err },
		func() error { _, err := s.AnyBlob(ctx, m.Blobs[0]); return err },
		func() error { _, err := s.Referrers(ctx, "r", m.Digest, ""); return err },
		func() error { _, err := s.Tags(ctx, "r", meta.Page{N: -1}); return err },
		func() error { _, err := s.RepositoryExists(ctx, "r"); return err },
	} {
		if err := read(); err != nil {
			t.Fatal(err)
		}
	}
	queries := statementsRun(s, "")
	if len(queries) < 12 {
		t.Fatalf("only %d statements ran: %q", len(queries), queries)
	}
	explainAll(t, s, queries)
}

// forgetStatements closes and forgets s's prepared statements, so that
// statementsRun names only those run after.
func forgetStatements(s *Store) {
	for _, st := range []*statements{s.readerStmts, s.writerStmts} {
		st.m.Range(func(q, stmt any) bool {
			stmt.(*sql.Stmt).Close()
			st.m.Delete(q)
			return true
		})
	}
}

// statementsRun returns the statements s prepared (those containing
// containing, when not empty), once the writer's queue has run.
func statementsRun(s *Store, containing string) []string {
	s.writerStmts.done.Wait()
	var queries []string
	for _, st := range []*statements{s.readerStmts, s.writerStmts} {
		st.m.Range(func(q, _ any) bool {
			if strings.Contains(q.(string), containing) {
				queries = append(queries, q.(string))
			}
			return true
		})
	}
	return queries
}

// explainAll fails the test if a plan of queries scans a table or sorts.
func explainAll(t *testing.T, s *Store, queries []string) {
	t.Helper()
	ctx := t.Context()
	args := make([]any, 20) // NULL for every placeholder: plans do not depend on values
	for _, q := range queries {
		rows, err := s.writer.QueryContext(ctx, "EXPLAIN QUERY PLAN "+translate(q), args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		t.Logf("%s: %q", q, plan)
		for _, step := range plan {
			// Walking a partial index of the scan queue reads the rows
			// waiting or running alone.
			partial := step == "SCAN scans USING INDEX scans_running" || step == "SCAN scans USING INDEX scans_queue" ||
				step == "SCAN events USING INDEX events_undispatched"
			scan := strings.HasPrefix(step, "SCAN ") && step != "SCAN CONSTANT ROW" && !strings.HasPrefix(step, "SCAN json_each") && !partial
			if scan || strings.Contains(step, "TEMP B-TREE") {
				t.Errorf("%s: plan %q scans or sorts", q, plan)
				break
			}
		}
	}
}

// TestScanQueuePlans: the statements of the scan queue (queue, claim,
// renew, finish, count) read only the rows they need, even when the
// planner's statistics were taken while most scans shared one state, as
// they are after a backlog of scans on push: such statistics made the
// search for lapsed claims read the whole table, and a lookup of a
// WITHOUT ROWID table with large rows read every row it passed.
func TestScanQueuePlans(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{})
	forgetStatements(s)
	m := push(t, s, "r", "latest", 1)
	now := time.Now()
	if _, err := s.EnqueueScans(ctx, now, meta.ScanRequest{Repository: "r", Digest: m.Digest}); err != nil {
		t.Fatal(err)
	}
	sc, ok, err := s.ClaimScan(ctx, meta.ScanClaim{Owner: "w", Now: now, Until: now.Add(time.Minute), MaxAttempts: 3})
	if err != nil || !ok {
		t.Fatalf("ClaimScan = %v, %v", ok, err)
	}
	if err := s.RenewScan(ctx, "r", sc.Digest, "w", now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	sc.State = meta.ScanScanned
	if err := s.Update(ctx, func(tx meta.Tx) error { return tx.FinishScan(ctx, "w", sc) }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ScanBacklog(ctx); err != nil {
		t.Fatal(err)
	}
	queries := statementsRun(s, "scans")
	if len(queries) < 7 {
		t.Fatalf("only %d statements of the queue ran: %q", len(queries), queries)
	}
	// Statistics of 100,000 scans, half of them in each state they hold.
	for _, q := range []string{
		`ANALYZE scans`,
		`DELETE FROM sqlite_stat1 WHERE tbl = 'scans'`,
		`INSERT INTO sqlite_stat1 (tbl, idx, stat) SELECT 'scans', name, '100000 50000 50000' FROM sqlite_schema
			WHERE type = 'index' AND tbl_name = 'scans' AND name <> 'scans_queue' AND name <> 'scans_running'`,
		`ANALYZE sqlite_schema`,
	} {
		if _, err := s.writer.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	explainAll(t, s, queries)
}

// TestReadersDuringWriteTransaction: reads on the Store go on, and see the
// last commit, while a write transaction is open; so a read inside an Update
// cannot wait for the writer it is part of.
func TestReadersDuringWriteTransaction(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{})
	m := push(t, s, "r", "v1", 10)
	inTx, release := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.Update(ctx, func(tx meta.Tx) error {
			if err := tx.DeleteManifest(ctx, "r", m.Digest); err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	<-inTx
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if tag, err := s.Tag(rctx, "r", "v1"); err != nil || tag.Digest != m.Digest {
				t.Errorf("Tag during a write transaction = %+v, %v; want the committed tag", tag, err)
			}
		})
	}
	wg.Wait()
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tag(ctx, "r", "v1"); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("Tag after the commit: %v, want ErrNotFound", err)
	}
}

// TestUpdatePanics: a panicking fn rolls back and frees the one writer
// connection for the next Update.
func TestUpdatePanics(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Update swallowed fn's panic")
			}
		}()
		s.Update(ctx, func(tx meta.Tx) error {
			if err := tx.CreateUpload(ctx, meta.Upload{ID: "u", Repository: "r"}); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	if _, err := s.Upload(ctx, "u"); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("Upload written by the panicking Update: %v", err)
	}
	uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Update(uctx, func(tx meta.Tx) error { return tx.CreateUpload(ctx, meta.Upload{ID: "u", Repository: "r"}) }); err != nil {
		t.Errorf("Update after a panic: %v", err)
	}
}

// TestConcurrentPushesAndPulls runs, under -race, pushes to several
// repositories alongside pulls by tag, the registry's mix of traffic.
func TestConcurrentPushesAndPulls(t *testing.T) {
	const repos, pushes, pullers = 4, 30, 6
	ctx := t.Context()
	s := openTest(t, Options{})
	for r := range repos {
		push(t, s, fmt.Sprintf("repo%d", r), "latest", 500)
	}
	var pushing sync.WaitGroup
	for r := range repos {
		pushing.Go(func() {
			for i := range pushes {
				push(t, s, fmt.Sprintf("repo%d", r), "latest", 500+i)
			}
		})
	}
	done := make(chan struct{})
	var pulling sync.WaitGroup
	for p := range pullers {
		pulling.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				repo := fmt.Sprintf("repo%d", (p+i)%repos)
				tag, err := s.Tag(ctx, repo, "latest")
				if err != nil {
					t.Errorf("pull %s: %v", repo, err)
					return
				}
				// The tag may move on, never away from a manifest.
				if m, err := s.Manifest(ctx, repo, tag.Digest); err != nil || digest.FromBytes(m.Payload) != tag.Digest {
					t.Errorf("pull %s@%s: %v", repo, tag.Digest, err)
					return
				}
			}
		})
	}
	pushing.Wait()
	close(done)
	pulling.Wait()
	for r := range repos {
		repo := fmt.Sprintf("repo%d", r)
		tag, err := s.Tag(ctx, repo, "latest")
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.Manifest(ctx, repo, tag.Digest)
		if err != nil || !strings.Contains(string(m.Payload), strings.Repeat("x", 500+pushes-1)+`"`) {
			t.Errorf("%s:latest is not the last push: %v", repo, err)
		}
	}
}

// BenchmarkTagManifestLookup measures a manifest GET by tag, the request a
// registry serves most: Tag, then Manifest, from a store of 1,000 tags.
func BenchmarkTagManifestLookup(b *testing.B) {
	const tags = 1000
	s := openTest(b, Options{})
	for i := range tags {
		push(b, s, fmt.Sprintf("team/app%d", i%10), fmt.Sprintf("v%d", i), 1500)
	}
	refs := make([][2]string, tags)
	for i := range refs {
		refs[i] = [2]string{fmt.Sprintf("team/app%d", i%10), fmt.Sprintf("v%d", i)}
	}
	lookup := func(ctx context.Context, i int) error {
		repo, tag := refs[i%tags][0], refs[i%tags][1]
		t, err := s.Tag(ctx, repo, tag)
		if err != nil {
			return err
		}
		_, err = s.Manifest(ctx, repo, t.Digest)
		return err
	}
	b.Run("serial", func(b *testing.B) {
		ctx := b.Context()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := lookup(ctx, i); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		ctx := b.Context()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i += 7 {
				if err := lookup(ctx, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func TestPromotion(t *testing.T) {
	metatest.RunPromotion(t, func(t *testing.T) (meta.Store, metatest.Exec) {
		s := openTest(t, Options{})
		return s, func(ctx context.Context, query string, args ...any) error {
			_, err := s.writer.ExecContext(ctx, strings.ReplaceAll(query, "$1", "?1"), args...)
			return err
		}
	})
}

// TestEventStreamPlans: the statements the webhook dispatcher runs twice
// a second, and the deliveries' queue, read only the rows they need. The
// dispatcher's "dispatched = FALSE" did not match the partial index's
// "dispatched = 0", and each poll walked the whole stream.
func TestEventStreamPlans(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{})
	forgetStatements(s)
	now := time.Now().UTC()
	err := s.Update(ctx, func(tx meta.Tx) error {
		return tx.AppendEvents(ctx, meta.Event{ID: "e1", Kind: "artifact.pushed", At: now, Repository: "r", Target: "r:latest", Result: "ok", Data: []byte(`{}`)})
	})
	if err != nil {
		t.Fatal(err)
	}
	es, err := s.UndispatchedEvents(ctx, 10)
	if err != nil || len(es) != 1 {
		t.Fatalf("UndispatchedEvents = %v, %v", es, err)
	}
	if err := s.Dispatch(ctx, []int64{es[0].Seq}, nil); err != nil {
		t.Fatal(err)
	}
	queries := statementsRun(s, "dispatched")
	if len(queries) < 2 {
		t.Fatalf("only %d statements of the dispatcher ran: %q", len(queries), queries)
	}
	explainAll(t, s, queries)
}
