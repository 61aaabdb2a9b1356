package bench

import (
	crand "crypto/rand"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/opencontainers/go-digest"
)

// blobFile is a random blob written to a temporary file with its digest
// computed on the way, so a push streams it from the page cache (by sendfile
// where the kernel offers it) without generating bytes on the clock, and a
// pull can be checked against it.
type blobFile struct {
	path   string
	size   int64
	digest digest.Digest
}

// newRNG returns a fast generator with a fresh random seed, so every blob a
// run pushes is new to the registry and no deduplication skips the work.
func newRNG() *rand.ChaCha8 {
	var seed [32]byte
	crand.Read(seed[:])
	return rand.NewChaCha8(seed)
}

// writeBlobFile writes size random bytes to a new file in dir.
func writeBlobFile(dir string, size int64) (*blobFile, error) {
	f, err := os.CreateTemp(dir, "wharf-bench-*.blob")
	if err != nil {
		return nil, fmt.Errorf("blob file: %w", err)
	}
	b := &blobFile{path: f.Name(), size: size}
	d := digest.Canonical.Digester()
	w := io.MultiWriter(f, d.Hash())
	rng := newRNG()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		chunk := buf[:min(left, int64(len(buf)))]
		rng.Read(chunk)
		if _, err := w.Write(chunk); err != nil {
			f.Close()
			b.remove()
			return nil, fmt.Errorf("blob file: %w", err)
		}
		left -= int64(len(chunk))
	}
	// Written back now, so that the disk's writeback of the file does not
	// compete with the registry's writes in the timed section that follows.
	if err := f.Sync(); err != nil {
		f.Close()
		b.remove()
		return nil, fmt.Errorf("blob file: %w", err)
	}
	if err := f.Close(); err != nil {
		b.remove()
		return nil, fmt.Errorf("blob file: %w", err)
	}
	b.digest = d.Digest()
	return b, nil
}

func (b *blobFile) remove() { os.Remove(b.path) }

// splitBlobFile writes b in parts of size bytes, each to a temporary file
// of its own in dir, written back to the disk as writeBlobFile's are, and
// returns their paths in order. On an error the paths returned so far are
// the caller's to remove.
func splitBlobFile(dir string, b *blobFile, size int64) ([]string, error) {
	src, err := os.Open(b.path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var paths []string
	for off := int64(0); off < b.size; off += size {
		f, err := os.CreateTemp(dir, "wharf-bench-*.part")
		if err != nil {
			return paths, fmt.Errorf("blob part: %w", err)
		}
		paths = append(paths, f.Name())
		_, err = io.CopyN(f, src, min(size, b.size-off))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return paths, fmt.Errorf("blob part: %w", err)
		}
	}
	return paths, nil
}

// verifier hashes what is written to it and compares the result with an
// expected blob.
type verifier struct {
	want digest.Digest
	size int64
	d    digest.Digester
}

func newVerifier(want digest.Digest, size int64) *verifier {
	return &verifier{want: want, size: size, d: want.Algorithm().Digester()}
}

func (v *verifier) Write(p []byte) (int, error) { return v.d.Hash().Write(p) }

// check reports a mismatch between the n bytes received and the expected blob.
func (v *verifier) check(n int64) error {
	if n != v.size {
		return fmt.Errorf("blob %s: received %d bytes, want %d", v.want, n, v.size)
	}
	if got := v.d.Digest(); got != v.want {
		return fmt.Errorf("blob %s: received bytes hash to %s", v.want, got)
	}
	return nil
}
