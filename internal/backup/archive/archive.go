// Package archive reads and writes the formats images travel in outside a
// registry: the OCI image layout, as a directory or a tar file, and the
// docker archive that docker save writes and docker load reads. It knows
// files and descriptors, not registries: what goes in and what it means is
// the caller's (internal/backup).
//
// Everything that reads bytes checks them: a blob is read through a
// [Verifier] that fails unless the bytes have the descriptor's size and
// digest, and an archive whose entries leave their directory, repeat a
// name, or end early is refused as it is opened.
package archive

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/oci"
)

const (
	// DockerManifestFile lists a docker archive's images.
	DockerManifestFile = "manifest.json"
	// AnnotationRepository, on an index.json entry, names the repository a
	// manifest came from when the entry has no reference name (a referrer,
	// such as a signature) or to say it plainly when it has.
	AnnotationRepository = "dev.wharf.repository"
	// AnnotationContainerdName is the full image name containerd and
	// Docker 25+ put beside a bare tag in org.opencontainers.image.ref.name.
	AnnotationContainerdName = "io.containerd.image.name"
)

// DockerImage is one entry of a docker archive's manifest.json: the path
// of the image config, the image's names (repository:tag) and the paths of
// its layers, all within the archive.
type DockerImage struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// ErrDigest is returned, wrapped, when bytes do not have the size or the
// digest their descriptor says.
var ErrDigest = errors.New("content does not match its descriptor")

// Verifier passes bytes through and fails the read that ends them unless
// they are exactly the descriptor's size and have its digest. Reading past
// the size fails at once.
type Verifier struct {
	r    io.Reader
	desc oci.Descriptor
	h    hash.Hash
	n    int64
	err  error
}

// NewVerifier returns a Verifier of r against desc. desc.Digest must be
// a valid digest of an available algorithm.
func NewVerifier(r io.Reader, desc oci.Descriptor) *Verifier {
	return &Verifier{r: r, desc: desc, h: desc.Digest.Algorithm().Hash()}
}

func (v *Verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.desc.Size {
		v.err = fmt.Errorf("%w: %s has more than the %d bytes its descriptor says", ErrDigest, v.desc.Digest, v.desc.Size)
		return 0, v.err
	}
	if err == io.EOF {
		if v.n < v.desc.Size {
			v.err = fmt.Errorf("%w: %s ends after %d of %d bytes (truncated)", ErrDigest, v.desc.Digest, v.n, v.desc.Size)
			return n, v.err
		}
		if got := digest.NewDigest(v.desc.Digest.Algorithm(), v.h); got != v.desc.Digest {
			v.err = fmt.Errorf("%w: the bytes said to be %s have digest %s", ErrDigest, v.desc.Digest, got)
			return n, v.err
		}
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

// Verify reads r to its end through a Verifier of desc.
func Verify(r io.Reader, desc oci.Descriptor) error {
	_, err := io.Copy(io.Discard, NewVerifier(r, desc))
	return err
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
