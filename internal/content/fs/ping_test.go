package fs_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPing: a root whose volume did not mount (empty, or its directories
// gone) is not ready.
func TestPing(t *testing.T) {
	s := newStore(t)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(s.Root(), "blobs")); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Fatal("Ping with the blobs directory gone succeeded")
	}
}
