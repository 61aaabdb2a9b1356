package access_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
)

// backend opens an empty metadata store.
type backend struct {
	name string
	open func(t *testing.T) meta.Access
}

// backends: SQLite always; PostgreSQL when WHARF_TEST_POSTGRES_URL names a
// server (and under CI always).
func backends(t *testing.T) []backend {
	bs := []backend{{"sqlite", func(t *testing.T) meta.Access {
		st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "meta.db")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}}}
	if os.Getenv("WHARF_TEST_POSTGRES_URL") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must test PostgreSQL: WHARF_TEST_POSTGRES_URL is required")
		}
		return bs
	}
	return append(bs, backend{"postgres", func(t *testing.T) meta.Access {
		st, err := postgres.Open(context.Background(), postgres.Options{URL: pgtest.Database(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}})
}

// eachBackend runs fn as a subtest per backend.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}
