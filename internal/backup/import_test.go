package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// tarEntry is one entry of a tar file, read whole.
type tarEntry struct {
	h    tar.Header
	data []byte
}

func readTar(t *testing.T, p string) []tarEntry {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tarEntry
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{*h, b})
	}
}

func writeTar(t *testing.T, entries []tarEntry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "edited.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.h
		h.Size = int64(len(e.data))
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// withoutEntries copies tar p without the entries named.
func withoutEntries(t *testing.T, p string, names ...string) string {
	t.Helper()
	var keep []tarEntry
	for _, e := range readTar(t, p) {
		drop := false
		for _, n := range names {
			drop = drop || e.h.Name == n
		}
		if !drop {
			keep = append(keep, e)
		}
	}
	return writeTar(t, keep)
}

// largestBlob is the index of the biggest blob entry: a layer.
func largestBlob(entries []tarEntry) int {
	best := -1
	for i, e := range entries {
		if strings.HasPrefix(e.h.Name, "blobs/sha256/") && e.h.Typeflag == tar.TypeReg && (best < 0 || len(e.data) > len(entries[best].data)) {
			best = i
		}
	}
	return best
}

// TestImportRefusesBadInput imports damaged archives into an empty
// registry: each is refused with an error that says what is wrong, and
// the registry stays empty.
func TestImportRefusesBadInput(t *testing.T) {
	src := newRegistry(t, "fs+sqlite")
	f := populate(t, src)
	good, _ := export(t, NewLocal(src), "oci-archive", ExportOptions{Selection: Selection{Repositories: []string{"team/app:v1", "team/app:v2"}}})
	dockerGood, _ := export(t, NewLocal(src), "docker-archive", ExportOptions{Selection: Selection{Repositories: []string{"team/app:v1"}}, Platform: Platform{OS: "linux", Architecture: "amd64"}})
	edit := func(p string, fn func([]tarEntry) []tarEntry) func(*testing.T) string {
		return func(t *testing.T) string { return writeTar(t, fn(readTar(t, p))) }
	}
	cases := []struct {
		name, want string
		make       func(t *testing.T) string
	}{
		{"wrong digest", "have digest", edit(good, func(es []tarEntry) []tarEntry {
			i := largestBlob(es)
			es[i].data = bytes.Clone(es[i].data)
			es[i].data[len(es[i].data)/2] ^= 0xff
			return es
		})},
		{"truncated", "truncated", func(t *testing.T) string {
			b, _ := os.ReadFile(good)
			p := filepath.Join(t.TempDir(), "cut.tar")
			_ = os.WriteFile(p, b[:len(b)/2+100], 0o644)
			return p
		}},
		{"path traversal", "leaves the archive", edit(good, func(es []tarEntry) []tarEntry {
			return append(es, tarEntry{tar.Header{Name: "../../etc/cron.d/evil", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("* * * * * root true\n")})
		})},
		{"absolute path", "leaves the archive", edit(good, func(es []tarEntry) []tarEntry {
			return append([]tarEntry{{tar.Header{Name: "/etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("x")}}, es...)
		})},
		{"link out of the archive", "outside the archive", edit(good, func(es []tarEntry) []tarEntry {
			return append(es, tarEntry{tar.Header{Name: "blobs/sha256/evil", Typeflag: tar.TypeSymlink, Linkname: "../../../etc/passwd"}, nil})
		})},
		{"device", "only files", edit(good, func(es []tarEntry) []tarEntry {
			return append(es, tarEntry{tar.Header{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, nil})
		})},
		{"same name twice", "twice", edit(good, func(es []tarEntry) []tarEntry {
			return append(es, es[largestBlob(es)])
		})},
		{"missing blob", "missing from the archive", edit(good, func(es []tarEntry) []tarEntry {
			i := largestBlob(es)
			return append(es[:i], es[i+1:]...)
		})},
		{"missing manifest", "missing from the archive", edit(good, func(es []tarEntry) []tarEntry {
			return drop(es, "blobs/sha256/"+f.arm.Digest.Encoded())
		})},
		{"bad index.json", "index.json", edit(good, func(es []tarEntry) []tarEntry {
			for i := range es {
				if es[i].h.Name == "index.json" {
					es[i].data = []byte(`{"schemaVersion": 2, "manifests": [`)
				}
			}
			return es
		})},
		{"name with another digest", "names digest", edit(good, func(es []tarEntry) []tarEntry {
			for i := range es {
				if es[i].h.Name == "index.json" {
					var idx map[string]any
					_ = json.Unmarshal(es[i].data, &idx)
					for _, m := range idx["manifests"].([]any) {
						ann, _ := m.(map[string]any)["annotations"].(map[string]any)
						if name, ok := ann["org.opencontainers.image.ref.name"].(string); ok {
							ann["org.opencontainers.image.ref.name"] = name + "@" + digest.FromString("another").String()
						}
					}
					es[i].data, _ = json.Marshal(idx)
				}
			}
			return es
		})},
		{"neither layout nor docker archive", "neither", edit(good, func(es []tarEntry) []tarEntry {
			return drop(es, "index.json")
		})},
		{"gzip-compressed", "gzip", func(t *testing.T) string {
			b, _ := os.ReadFile(good)
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(b)
			_ = zw.Close()
			p := filepath.Join(t.TempDir(), "good.tar.gz")
			_ = os.WriteFile(p, buf.Bytes(), 0o644)
			return p
		}},
		{"docker layer not what the config says", "the config says", edit(dockerGood, func(es []tarEntry) []tarEntry {
			es = drop(drop(es, "index.json"), "oci-layout")
			i := largestBlob(es)
			es[i].data = bytes.Clone(es[i].data)
			es[i].data[len(es[i].data)-1] ^= 0xff
			return es
		})},
		{"docker config renamed", "config", edit(dockerGood, func(es []tarEntry) []tarEntry {
			es = drop(drop(es, "index.json"), "oci-layout")
			renamed := "blobs/sha256/" + digest.FromString("another").Encoded()
			var config string
			for i := range es {
				if es[i].h.Name == "manifest.json" {
					var imgs []map[string]any
					_ = json.Unmarshal(es[i].data, &imgs)
					config = imgs[0]["Config"].(string)
					imgs[0]["Config"] = renamed
					es[i].data, _ = json.Marshal(imgs)
				}
			}
			for i := range es {
				if es[i].h.Name == config {
					es[i].h.Name = renamed
				}
			}
			return es
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := newRegistry(t, "fs+sqlite")
			_, err := importPath(t, c.make(t), NewLocal(dst), ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("import: %v; want an error saying %q", err, c.want)
			}
			t.Logf("refused: %v", err)
			if s := state(t, dst); len(s) != 0 {
				t.Fatalf("a refused import changed the registry: %v", s)
			}
		})
	}
	// The unedited archives import.
	for _, p := range []string{good, dockerGood} {
		if _, err := importPath(t, p, NewLocal(newRegistry(t, "fs+sqlite")), ImportOptions{}); err != nil {
			t.Fatalf("the good archive %s: %v", filepath.Base(p), err)
		}
	}
}

func drop(es []tarEntry, name string) []tarEntry {
	var out []tarEntry
	for _, e := range es {
		if e.h.Name != name {
			out = append(out, e)
		}
	}
	return out
}
