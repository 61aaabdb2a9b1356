package postgres

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/metatest"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
)

func TestDump(t *testing.T) {
	metatest.RunDump(t, func(t *testing.T) meta.Store { return newStore(t) }, func(t *testing.T, dir string) meta.Store {
		u := pgtest.Database(t)
		ctx := context.Background()
		if err := Restore(ctx, u, filepath.Join(dir, dumpFile)); err != nil {
			t.Fatal(err)
		}
		if err := Restore(ctx, u, filepath.Join(dir, dumpFile)); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("a second restore over the first: %v", err)
		}
		return openStore(t, u)
	})
}

func TestLibpqTarget(t *testing.T) {
	for _, c := range []struct{ in, dbname, password string }{
		{"postgres://wharf:s3cret@db:5432/wharf?sslmode=require", "postgres://wharf@db:5432/wharf?sslmode=require", "s3cret"},
		{"postgres://wharf@db/wharf?password=p%40ss", "postgres://wharf@db/wharf", "p@ss"},
		{"host=db user=wharf password='a b\\'c' dbname=wharf", "host=db user=wharf dbname=wharf", `a b'c`},
		{"host=db password=x dbname=wharf", "host=db dbname=wharf", "x"},
	} {
		dbname, password, err := libpqTarget(c.in)
		if err != nil || dbname != c.dbname || password != c.password {
			t.Errorf("libpqTarget(%q) = %q, %q, %v; want %q, %q", c.in, dbname, password, err, c.dbname, c.password)
		}
	}
}
