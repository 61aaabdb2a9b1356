package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/metatest"
)

func TestDump(t *testing.T) {
	metatest.RunDump(t, func(t *testing.T) meta.Store { return openTest(t, Options{}) }, func(t *testing.T, dir string) meta.Store {
		p := filepath.Join(t.TempDir(), "data", "wharf.db")
		if err := Restore(filepath.Join(dir, dumpFile), p); err != nil {
			t.Fatal(err)
		}
		if err := Restore(filepath.Join(dir, dumpFile), p); err == nil || !strings.Contains(err.Error(), "exists") {
			t.Fatalf("a second restore over the first: %v", err)
		}
		return openTest(t, Options{Path: p})
	})
}

// TestRestoreRefusesDamage: a file that is not an intact SQLite database is
// not put in place.
func TestRestoreRefusesDamage(t *testing.T) {
	s := openTest(t, Options{})
	dir := t.TempDir()
	if _, err := s.Dump(context.Background(), dir, func(meta.Blob) error { return nil }); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, dumpFile))
	if err != nil {
		t.Fatal(err)
	}
	for i := 100; i < len(b); i += 512 {
		b[i] ^= 0xff
	}
	bad := filepath.Join(dir, "damaged.db")
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "wharf.db")
	if err := Restore(bad, p); err == nil {
		t.Fatal("a damaged database was restored")
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("a refused restore left %s: %v", p, err)
	}
}
