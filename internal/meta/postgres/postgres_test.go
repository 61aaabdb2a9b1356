package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/metatest"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
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

func TestIdentities(t *testing.T) {
	metatest.RunIdentities(t, func(t *testing.T) metatest.IdentityStore { return newStore(t) })
}

func TestReplication(t *testing.T) {
	metatest.RunReplication(t, func(t *testing.T) meta.Store { return newStore(t) })
}

func TestScans(t *testing.T) {
	metatest.RunScans(t, func(t *testing.T) meta.Store { return newStore(t) })
}

func TestProxy(t *testing.T) {
	metatest.RunProxy(t, func(t *testing.T) metatest.ProxyStore { return newStore(t) })
}

func TestEvents(t *testing.T) {
	metatest.RunEvents(t, func(t *testing.T) metatest.EventStore { return newStore(t) })
}

func BenchmarkAccess(b *testing.B) {
	metatest.BenchAccess(b, func(tb testing.TB) meta.Access { return newStore(tb) })
}

// newStore opens a Store on a fresh database, closed before it is dropped.
func newStore(t testing.TB) *Store {
	t.Helper()
	return openStore(t, pgtest.Database(t))
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
	u := pgtest.Database(t)
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
	u := pgtest.Database(t)
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

func TestPromotion(t *testing.T) {
	metatest.RunPromotion(t, func(t *testing.T) (meta.Store, metatest.Exec) {
		s := newStore(t)
		return s, func(ctx context.Context, query string, args ...any) error {
			_, err := s.pool.Exec(ctx, query, args...)
			return err
		}
	})
}
