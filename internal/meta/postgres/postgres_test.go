package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/metatest"
)

// The tests run against a real PostgreSQL named by WHARF_TEST_POSTGRES_URL,
// a URL of a superuser's connection to any database (scripts/start-postgres.sh
// starts one and prints it). Every test creates its own database.

func TestStore(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store { return newStore(t) })
}

func TestAccess(t *testing.T) {
	metatest.RunAccess(t, func(t *testing.T) meta.Access { return newStore(t) })
}

func BenchmarkAccess(b *testing.B) {
	metatest.BenchAccess(b, func(tb testing.TB) meta.Access { return newStore(tb) })
}

// adminURL returns the server's URL, or skips the test when there is none;
// in CI it fails instead, so that the backend is never silently untested.
func adminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("WHARF_TEST_POSTGRES_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("WHARF_TEST_POSTGRES_URL is not set; CI must test the PostgreSQL backend (see scripts/start-postgres.sh)")
		}
		t.Skip("WHARF_TEST_POSTGRES_URL is not set; eval \"$(scripts/start-postgres.sh /tmp/wharf-postgres)\" to run these tests")
	}
	return u
}

// freshDatabase creates an empty database, dropped when the test ends, and
// returns its URL. Its default collation is ICU's en-US where the server has
// ICU, which sorts "v1" before "V2": a query that forgot COLLATE "C" would
// list names in another order than SQLite.
func freshDatabase(t testing.TB) string {
	t.Helper()
	admin := adminURL(t)
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatal("WHARF_TEST_POSTGRES_URL must be a postgres:// URL")
	}
	name := "wharf_test_" + strings.ToLower(rand.Text()[:12])

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to WHARF_TEST_POSTGRES_URL: %v", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'
		LOCALE_PROVIDER icu ICU_LOCALE 'en-US'`)
	if err != nil {
		t.Logf("no ICU database (%v); using the server's default collation", err)
		_, err = conn.Exec(ctx, `CREATE DATABASE `+name)
	}
	if err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// newStore opens a Store on a fresh database, closed before it is dropped.
func newStore(t testing.TB) *Store {
	t.Helper()
	return openStore(t, freshDatabase(t))
}

// openStore opens a Store on the database at u, closed when the test ends.
func openStore(t testing.TB, u string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{URL: u, MaxConns: 8})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// connect opens a plain connection to the database at u, as a second client
// (a garbage collector, an operator) would.
func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestOpenOptions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no URL", Options{}, "URL must be set"},
		{"negative MaxConns", Options{URL: "postgres://localhost/wharf", MaxConns: -1}, "MaxConns"},
		{"malformed URL", Options{URL: "postgres://wharf:s3cret@localhost:port/wharf"}, "not a valid connection string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.o)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Open: %v; want an error about %q that does not show the password", err, tt.want)
			}
		})
	}
}

// TestOpenConcurrently starts replicas together on an empty database: the
// advisory lock must let one migrate while the others wait, and then find
// the schema current. Without it they race to create the same tables.
func TestOpenConcurrently(t *testing.T) {
	u := freshDatabase(t)
	const replicas = 6
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() {
			<-start
			s, err := Open(context.Background(), Options{URL: u, MaxConns: 2})
			if err == nil {
				err = s.Ping(context.Background())
				s.Close()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: Open: %v", i, err)
		}
	}
	wantVersions(t, connect(t, u))
}

// wantVersions checks that schema_version lists each migration once.
func wantVersions(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := conn.Query(context.Background(), `SELECT version FROM schema_version ORDER BY version`)
	got, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	var want []int32
	for _, m := range ms {
		want = append(want, int32(m.version))
	}
	if !slices.Equal(got, want) {
		t.Errorf("schema_version has versions %v, want %v", got, want)
	}
}

func TestOpenMigratedDatabase(t *testing.T) {
	ctx := context.Background()
	u := freshDatabase(t)
	s, err := Open(ctx, Options{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx meta.Tx) error { return tx.CreateUpload(ctx, meta.Upload{ID: "kept"}) }); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(ctx, Options{URL: u})
	if err != nil {
		t.Fatalf("Open a second time: %v", err)
	}
	if _, err := s.Upload(ctx, "kept"); err != nil {
		t.Errorf("Upload after reopening: %v", err)
	}
	s.Close()
	conn := connect(t, u)
	wantVersions(t, conn)

	// A database that a newer wharf migrated is refused, not misread.
	if _, err := conn.Exec(ctx, `INSERT INTO schema_version VALUES (9999, now())`); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, Options{URL: u})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a database of a newer schema")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open: %v; want it to say the schema is newer", err)
	}
}

// TestSortsByteWise lists names whose byte order differs from the database's
// default collation, as SQLite and the distribution API order them.
func TestSortsByteWise(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var collationSorts bool
	if err := s.pool.QueryRow(ctx, `SELECT 'v1' < 'V2'`).Scan(&collationSorts); err != nil {
		t.Fatal(err)
	}
	if !collationSorts {
		t.Fatal("the test database's default collation sorts byte-wise, so this test would prove nothing; use a PostgreSQL built with ICU")
	}

	repos := []string{"b", "a_b", "a.b", "a/b", "a-b", "ab", "a0"}
	tags := []string{"v1", "V2", "_x", "a.b", "a-b", "ab", "A", "1"}
	m := meta.Manifest{Repository: "r", Digest: digest.FromString("m"), MediaType: "x", Payload: []byte("m")}
	err := s.Update(ctx, func(tx meta.Tx) error {
		if err := tx.PutBlob(ctx, meta.Blob{Digest: digest.FromString("b"), Size: 1}); err != nil {
			return err
		}
		for _, r := range repos {
			if err := tx.LinkBlob(ctx, r, digest.FromString("b")); err != nil {
				return err
			}
		}
		if err := tx.PutManifest(ctx, m); err != nil {
			return err
		}
		for _, name := range tags {
			if err := tx.PutTag(ctx, "r", name, m.Digest); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	repos = append(repos, "r")
	slices.Sort(repos) // byte-wise
	slices.Sort(tags)

	gotRepos, err := s.Repositories(ctx, meta.Page{N: -1})
	if err != nil || !slices.Equal(gotRepos, repos) {
		t.Errorf("Repositories = %q, %v; want %q", gotRepos, err, repos)
	}
	gotRepos, err = s.Repositories(ctx, meta.Page{Last: repos[2], N: 3})
	if err != nil || !slices.Equal(gotRepos, repos[3:6]) {
		t.Errorf("Repositories after %q = %q, %v; want %q", repos[2], gotRepos, err, repos[3:6])
	}
	gotTags, err := s.Tags(ctx, "r", meta.Page{N: -1})
	if err != nil || !slices.Equal(gotTags, tags) {
		t.Errorf("Tags = %q, %v; want %q", gotTags, err, tags)
	}
	gotTags, err = s.Tags(ctx, "r", meta.Page{Last: tags[1], N: 4})
	if err != nil || !slices.Equal(gotTags, tags[2:6]) {
		t.Errorf("Tags after %q = %q, %v; want %q", tags[1], gotTags, err, tags[2:6])
	}
}

// TestTxUsableAfterRefusal: a refused write (a missing reference, a missing
// manifest, a moved upload) must not abort the PostgreSQL transaction, so
// the caller can go on in it.
func TestTxUsableAfterRefusal(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	b := meta.Blob{Digest: digest.FromString("layer"), Size: 5}
	m := meta.Manifest{Repository: "r", Digest: digest.FromString("m"), MediaType: "x", Payload: []byte("m"),
		Blobs: []digest.Digest{b.Digest}}
	err := s.Update(ctx, func(tx meta.Tx) error {
		var refErr *meta.ReferenceError
		if err := tx.PutManifest(ctx, m); !errors.As(err, &refErr) || refErr.Digest != b.Digest {
			t.Errorf("PutManifest before the blob is linked: %v, want a ReferenceError for %s", err, b.Digest)
		}
		if err := tx.PutTag(ctx, "r", "latest", m.Digest); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("PutTag before the manifest: %v, want ErrNotFound", err)
		}
		if err := tx.LinkBlob(ctx, "r", b.Digest); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("LinkBlob before PutBlob: %v, want ErrNotFound", err)
		}
		if err := tx.CreateUpload(ctx, meta.Upload{ID: "u", Repository: "r"}); err != nil {
			return err
		}
		if err := tx.AdvanceUpload(ctx, meta.Upload{ID: "u", Offset: 9}, 3); !errors.Is(err, meta.ErrConflict) {
			t.Errorf("AdvanceUpload from the wrong offset: %v, want ErrConflict", err)
		}
		if err := tx.PutBlob(ctx, b); err != nil {
			return err
		}
		if err := tx.LinkBlob(ctx, "r", b.Digest); err != nil {
			return err
		}
		if err := tx.PutManifest(ctx, m); err != nil {
			return err
		}
		return tx.PutTag(ctx, "r", "latest", m.Digest)
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if tag, err := s.Tag(ctx, "r", "latest"); err != nil || tag.Digest != m.Digest {
		t.Errorf("Tag = %+v, %v; want %s", tag, err, m.Digest)
	}
}
