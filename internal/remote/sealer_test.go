package remote

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if _, err := LoadSealer(path, false); err == nil {
		t.Fatal("a missing key file without create: no error")
	}
	s, err := LoadSealer(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	sealed, err := s.Seal("rule-a", "hunter2")
	if err != nil || strings.Contains(string(sealed), "hunter2") {
		t.Fatalf("seal: %q, %v", sealed, err)
	}
	again, err := LoadSealer(path, true) // reads the key it made
	if err != nil {
		t.Fatal(err)
	}
	if pw, err := again.Open("rule-a", sealed); err != nil || pw != "hunter2" {
		t.Fatalf("open with the same key: %q, %v", pw, err)
	}
	if _, err := again.Open("rule-b", sealed); err == nil {
		t.Fatal("a secret sealed for rule-a opens for rule-b")
	}
	other, err := NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open("rule-a", sealed); err == nil || !strings.Contains(err.Error(), "another key") {
		t.Fatalf("another key: %v", err)
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSealer(path, true); err == nil || !strings.Contains(err.Error(), "32 bytes") {
		t.Fatalf("a bad key file: %v", err)
	}
}
