package imagefs

import (
	"context"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// FuzzApply applies arbitrary bytes as a layer: it must return (an error or
// not) without panicking, and never write outside its scratch directory.
func FuzzApply(f *testing.F) {
	f.Add(layerTar(f, reg("a.txt", "a"), symlink("l", "../../x"), hardlink("h.txt", "a.txt"), reg(".wh.b", ""), dir("d/"), reg("d/.wh..wh..opq", "")))
	f.Add(gzipped(f, layerTar(f, reg("x/y/z.txt", "zzz"))))
	f.Add([]byte("\x28\xb5\x2f\xfd garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parent := t.TempDir()
		fsys, err := New(parent, Limits{MaxBytes: 16 << 20, MaxEntries: 1000}, func(p string, _ fs.FileInfo) (Keep, error) {
			return Keep{Want: strings.HasSuffix(p, ".txt")}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		fsys.Apply(context.Background(), bytesLayer("", b))
		fsys.Walk(func(p string, fi fs.FileInfo) error {
			if fi.Mode().IsRegular() {
				if f, err := fsys.Open(p); err == nil {
					f.Close()
				}
			}
			return nil
		})
		fsys.Close()
		if left, _ := os.ReadDir(parent); len(left) != 0 {
			t.Fatalf("left %v in the scratch parent", left)
		}
	})
}
