package archive

import (
	"archive/tar"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/oci"
)

// Writer writes an OCI image layout, as a directory or as a tar stream, and
// for a docker archive also the manifest.json docker load reads. Blobs are
// written as they come, each once; index.json (and manifest.json) last, by
// Close, so a reader never takes a layout whose writer failed for whole.
// A Writer is not safe for concurrent use.
type Writer struct {
	dir    string      // a directory layout, or
	tw     *tar.Writer // a tar stream
	docker bool
	blobs  map[digest.Digest]bool
	index  []oci.Descriptor
	images []DockerImage
}

// CreateDir returns a Writer of the image layout in directory dir, which is
// created if needed. A directory that is already a layout is added to: its
// blobs are kept and reused, and its index entries stay unless an entry
// written now has the same reference name. Any other non-empty directory
// is refused.
func CreateDir(dir string) (*Writer, error) {
	if err := os.MkdirAll(filepath.Join(dir, v1.ImageBlobsDir), 0o755); err != nil {
		return nil, fmt.Errorf("create layout %s: %w", dir, err)
	}
	w := &Writer{dir: dir, blobs: map[digest.Digest]bool{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("create layout %s: %w", dir, err)
	}
	_, layoutErr := os.Stat(filepath.Join(dir, v1.ImageLayoutFile))
	if len(entries) > 1 && layoutErr != nil {
		return nil, fmt.Errorf("create layout %s: the directory is neither empty nor an OCI image layout", dir)
	}
	if layoutErr == nil {
		b, err := os.ReadFile(filepath.Join(dir, v1.ImageIndexFile))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read layout %s: %w", dir, err)
		}
		if err == nil {
			var idx v1.Index
			if err := json.Unmarshal(b, &idx); err != nil {
				return nil, fmt.Errorf("read layout %s: index.json: %w", dir, err)
			}
			w.index = idx.Manifests
		}
	}
	layout, _ := json.Marshal(v1.ImageLayout{Version: v1.ImageLayoutVersion})
	if err := w.writeFile(v1.ImageLayoutFile, layout); err != nil {
		return nil, err
	}
	return w, nil
}

// NewTar returns a Writer of an image layout as a tar stream on out; with
// docker set, the stream is also a docker archive (manifest.json and the
// images added with AddDockerImage), as docker save writes since Docker 25.
func NewTar(out io.Writer, docker bool) (*Writer, error) {
	w := &Writer{tw: tar.NewWriter(out), docker: docker, blobs: map[digest.Digest]bool{}}
	layout, _ := json.Marshal(v1.ImageLayout{Version: v1.ImageLayoutVersion})
	if err := w.writeFile(v1.ImageLayoutFile, layout); err != nil {
		return nil, err
	}
	for _, d := range []string{v1.ImageBlobsDir + "/", v1.ImageBlobsDir + "/" + string(digest.Canonical) + "/"} {
		if err := w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return nil, fmt.Errorf("write archive: %w", err)
		}
	}
	return w, nil
}

// epoch is every tar entry's modification time, so an export of the same
// content is the same archive.
var epoch = time.Unix(0, 0).UTC()

// BlobPath is where blob d lives in a layout: blobs/<algorithm>/<hex>.
func BlobPath(d digest.Digest) string {
	return path.Join(v1.ImageBlobsDir, string(d.Algorithm()), d.Encoded())
}

// HasBlob reports whether blob d is in the layout already.
func (w *Writer) HasBlob(d digest.Digest) bool {
	if w.blobs[d] {
		return true
	}
	if w.dir == "" || d.Validate() != nil {
		return false
	}
	if _, err := os.Stat(filepath.Join(w.dir, filepath.FromSlash(BlobPath(d)))); err == nil {
		w.blobs[d] = true
		return true
	}
	return false
}

// WriteBlob writes blob desc, whose bytes r must hold: exactly desc.Size
// bytes with digest desc.Digest, or nothing is kept and an error says what
// was wrong. A blob in the layout already is not written again.
func (w *Writer) WriteBlob(desc oci.Descriptor, r io.Reader) error {
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("blob %q: %w", desc.Digest, err)
	}
	if w.HasBlob(desc.Digest) {
		return nil
	}
	name := BlobPath(desc.Digest)
	vr := NewVerifier(r, desc)
	var err error
	if w.tw != nil {
		err = w.tarCopy(name, desc.Size, vr)
	} else {
		err = w.dirCopy(name, vr)
	}
	if err != nil {
		return fmt.Errorf("write blob %s: %w", desc.Digest, err)
	}
	w.blobs[desc.Digest] = true
	return nil
}

func (w *Writer) tarCopy(name string, size int64, r io.Reader) error {
	if err := w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: epoch}); err != nil {
		return err
	}
	if _, err := io.CopyN(w.tw, r, size); err != nil {
		return err
	}
	// Read to the end, so the verifier checks the digest and that there
	// are no bytes past the size.
	_, err := io.Copy(io.Discard, r)
	return err
}

// dirCopy writes a file through a temporary name beside it, synced, then
// renamed into place: a layout never holds a partial blob under a blob's
// name, so a later export into the same directory can trust what it finds.
func (w *Writer) dirCopy(name string, r io.Reader) error {
	dst := filepath.Join(w.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(dst), ".tmp-"+filepath.Base(dst)+"-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// writeFile writes a small file of the layout (oci-layout, index.json,
// manifest.json).
func (w *Writer) writeFile(name string, b []byte) error {
	var err error
	if w.tw != nil {
		err = w.tarCopy(name, int64(len(b)), bytesReader(b))
	} else {
		err = w.dirCopy(name, bytesReader(b))
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// AddManifest lists desc in index.json, replacing an entry with the same
// reference name (org.opencontainers.image.ref.name) if desc has one. The
// manifest's own blob is written with WriteBlob.
func (w *Writer) AddManifest(desc oci.Descriptor) {
	if name := desc.Annotations[v1.AnnotationRefName]; name != "" {
		w.index = slices.DeleteFunc(w.index, func(e oci.Descriptor) bool { return e.Annotations[v1.AnnotationRefName] == name })
	} else {
		w.index = slices.DeleteFunc(w.index, func(e oci.Descriptor) bool {
			return e.Digest == desc.Digest && e.Annotations[v1.AnnotationRefName] == "" && e.Annotations[AnnotationRepository] == desc.Annotations[AnnotationRepository]
		})
	}
	w.index = append(w.index, desc)
}

// AddDockerImage lists img in the docker archive's manifest.json; its
// config and layers are written with WriteBlob. Images with the same config
// are merged into one entry with all their names.
func (w *Writer) AddDockerImage(img DockerImage) {
	for i := range w.images {
		if w.images[i].Config == img.Config && slices.Equal(w.images[i].Layers, img.Layers) {
			for _, t := range img.RepoTags {
				if !slices.Contains(w.images[i].RepoTags, t) {
					w.images[i].RepoTags = append(w.images[i].RepoTags, t)
				}
			}
			return
		}
	}
	w.images = append(w.images, img)
}

// Close writes index.json (and manifest.json for a docker archive) and
// ends the tar stream. It does not close the stream's writer.
func (w *Writer) Close() error {
	idx := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: w.index}
	idx.SchemaVersion = 2
	if idx.Manifests == nil {
		idx.Manifests = []oci.Descriptor{}
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("write index.json: %w", err)
	}
	if err := w.writeFile(v1.ImageIndexFile, b); err != nil {
		return err
	}
	if w.docker {
		images := w.images
		if images == nil {
			images = []DockerImage{}
		}
		b, err := json.Marshal(images)
		if err != nil {
			return fmt.Errorf("write %s: %w", DockerManifestFile, err)
		}
		if err := w.writeFile(DockerManifestFile, b); err != nil {
			return err
		}
	}
	if w.tw != nil {
		if err := w.tw.Close(); err != nil {
			return fmt.Errorf("finish archive: %w", err)
		}
	}
	return nil
}
