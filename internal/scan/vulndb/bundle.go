// Package vulndb turns osv.dev's per-ecosystem all.zip exports into one
// content-addressed bundle, stores bundles with a pointer to the current
// one, and keeps the current bundle loaded as an osv.Index.
//
// A bundle is gzip-compressed JSON lines: a header line (format, counts per
// ecosystem, the sources it was built from, the newest advisory's modified
// time), then one compacted OSV advisory per line, sorted by id, withdrawn
// ones left out. It holds no import time, so importing the same data again
// yields the same bytes and digest, and replicas watching the pointer see
// no change.
//
// Storage is two seams: [Bundles] keeps bundle bytes by digest (the blob
// store's job) and [Pointer] says which bundle is current (the metadata
// store's job). [DirStore] implements both on a local directory, for a
// single node and for `wharf vulndb import`; the registry's integration
// implements them over the content store and a metadata row, so that every
// replica loads the same data.
package vulndb

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"time"

	"github.com/wharf-dev/wharf/internal/scan/osv"
)

// Format names the bundle format this package writes and reads.
const Format = "wharf-vulndb/1"

// maxLine bounds one line of a bundle (one advisory).
const maxLine = 32 << 20

// Info describes a bundle: what it holds and where it came from.
type Info struct {
	Format     string         `json:"format"`
	Advisories int            `json:"advisories"`
	Ecosystems map[string]int `json:"ecosystems"`
	Sources    []Source       `json:"sources"`
	// Newest is the latest modified time of any advisory: how fresh the
	// data is.
	Newest time.Time `json:"newest"`
}

// Source is one file a bundle was built from.
type Source struct {
	Name       string `json:"name"`
	SHA256     string `json:"sha256"`
	Advisories int    `json:"advisories"`
}

// writeBundle writes the bundle of the advisories (sorted by id here) and
// returns its digest and size.
func writeBundle(w io.Writer, info Info, advs []*osv.Advisory) (digest string, size int64, err error) {
	sort.Slice(advs, func(i, j int) bool { return advs[i].ID < advs[j].ID })
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, h)}
	zw, err := gzip.NewWriterLevel(cw, gzip.BestCompression)
	if err != nil {
		return "", 0, err
	}
	bw := bufio.NewWriterSize(zw, 1<<20)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	info.Format = Format
	if err := enc.Encode(info); err != nil {
		return "", 0, err
	}
	for _, a := range advs {
		if err := enc.Encode(a); err != nil {
			return "", 0, fmt.Errorf("encode %s: %w", a.ID, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return "", 0, err
	}
	if err := zw.Close(); err != nil {
		return "", 0, err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ErrBundle is returned for a bundle that is not one: wrong format, bad
// line, or bytes that do not hash to its digest.
var ErrBundle = errors.New("bad vulnerability bundle")

// ReadBundle reads a bundle, checking that its bytes hash to digest ("" to
// skip the check), and returns its header and advisories.
func ReadBundle(r io.Reader, digest string) (Info, []*osv.Advisory, error) {
	var h hash.Hash
	if digest != "" {
		h = sha256.New()
		r = io.TeeReader(r, h)
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return Info{}, nil, fmt.Errorf("%w: %v", ErrBundle, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	var info Info
	if !sc.Scan() {
		return Info{}, nil, fmt.Errorf("%w: no header: %v", ErrBundle, sc.Err())
	}
	if err := json.Unmarshal(sc.Bytes(), &info); err != nil || info.Format != Format {
		return Info{}, nil, fmt.Errorf("%w: header is not %s (%v)", ErrBundle, Format, err)
	}
	advs := make([]*osv.Advisory, 0, info.Advisories)
	for sc.Scan() {
		a := new(osv.Advisory)
		if err := json.Unmarshal(sc.Bytes(), a); err != nil {
			return Info{}, nil, fmt.Errorf("%w: advisory %d: %v", ErrBundle, len(advs)+1, err)
		}
		advs = append(advs, a)
	}
	if err := sc.Err(); err != nil {
		return Info{}, nil, fmt.Errorf("%w: %v", ErrBundle, err)
	}
	if len(advs) != info.Advisories {
		return Info{}, nil, fmt.Errorf("%w: header counts %d advisories, found %d", ErrBundle, info.Advisories, len(advs))
	}
	if h != nil {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return Info{}, nil, fmt.Errorf("%w: %v", ErrBundle, err)
		}
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
			return Info{}, nil, fmt.Errorf("%w: content is %s, not %s", ErrBundle, got, digest)
		}
	}
	return info, advs, nil
}
