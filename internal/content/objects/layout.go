package objects

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
)

// The bucket layout, the same in every object store. Every key starts with
// Options.Prefix (without leading or trailing slashes; omitted when empty):
//
//	<prefix>/blobs/<alg>/<first 2 hex>/<hex>       blob bytes, keyed by digest alone
//	<prefix>/uploads/<id>/<offset, 20 digits>-<token>
//	                                               bytes of one Append to upload id,
//	                                               starting at that byte offset
//
// For example, with prefix "wharf":
//
//	wharf/blobs/sha256/ab/abcdef0123…
//	wharf/uploads/9f86d081884c7d65/00000000000000000000-3f2a9c0d5e6b7a81
//	wharf/uploads/9f86d081884c7d65/00000000000005242880-b0c4e1f27a9d3356
//
// Every other key under uploads/<id>/ belongs to that upload too (a store
// keeps the intermediate objects of a composition there, see scratch), and
// goes when the upload is committed or aborted.
//
// An upload is the ordered list of part objects its parts string names (the
// registry keeps it in the metadata store with the offset), so any replica
// can continue it. The token is random per Append, so two replicas writing
// the same offset of one upload write two objects, and only the one whose
// parts string won the metadata store's compare-and-set is ever read: the
// loser's bytes are unreachable, and Commit or Abort deletes them. The
// offsets are zero-padded so that the lexical order of a listing is the byte
// order of the upload. A part may be empty: an upload whose first Append
// carried no bytes still has to exist.
//
// What a store keeps of a write in progress (S3's multipart uploads, Azure's
// uncommitted blocks) lives under the key it will become. A process that
// dies mid-way leaves it behind: [Store.Abort] removes that of its upload
// when the bucket is a [RemnantRemover], and the store's own expiry (an S3
// lifecycle rule, Azure's week for uncommitted blocks) the rest.

const (
	blobsDir   = "blobs"
	uploadsDir = "uploads"
	offsetLen  = 20 // digits of the largest int64, and one more
	maxIDLen   = 128
	// scratchName starts the keys of intermediate objects under an upload's
	// directory; no part key starts with it.
	scratchName = "scratch-"
)

// layout turns blob digests and upload ids into object keys.
type layout struct {
	prefix string // "" or "<prefix>/"
}

// CheckPrefix reports whether prefix is a valid Options.Prefix, for
// drivers that check their options before connecting.
func CheckPrefix(prefix string) error {
	_, err := newLayout(prefix)
	return err
}

func newLayout(prefix string) (layout, error) {
	p := strings.Trim(prefix, "/")
	if p == "" {
		return layout{}, nil
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return layout{}, fmt.Errorf("prefix %q: empty, . or .. path segment", prefix)
		}
	}
	return layout{prefix: p + "/"}, nil
}

// blobsRoot is the prefix every blob key starts with.
func (l layout) blobsRoot() string { return l.prefix + blobsDir + "/" }

// uploadsRoot is the prefix every upload part key starts with.
func (l layout) uploadsRoot() string { return l.prefix + uploadsDir + "/" }

func (l layout) blob(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("blob %q: %w", d, err)
	}
	enc := d.Encoded()
	return l.blobsRoot() + string(d.Algorithm()) + "/" + enc[:2] + "/" + enc, nil
}

// parseBlob is the inverse of blob; ok is false for keys that are not blobs.
func (l layout) parseBlob(key string) (d digest.Digest, ok bool) {
	rest, found := strings.CutPrefix(key, l.blobsRoot())
	if !found {
		return "", false
	}
	alg, rest, _ := strings.Cut(rest, "/")
	dir, enc, _ := strings.Cut(rest, "/")
	d = digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)
	if d.Validate() != nil || len(enc) < 2 || dir != enc[:2] {
		return "", false
	}
	return d, true
}

// uploadDir is the prefix of upload id's part keys. The caller has checked id.
func (l layout) uploadDir(id string) string { return l.uploadsRoot() + id + "/" }

// scratch is the key prefix where a store may keep the intermediate objects
// of composing upload id's parts.
func (l layout) scratch(id string) string { return l.uploadDir(id) + scratchName }

func (l layout) part(id string, offset int64, token string) string {
	return l.uploadDir(id) + fmt.Sprintf("%0*d-%s", offsetLen, offset, token)
}

// parsePart returns the offset a part key of upload id starts at and its
// token; ok is false for keys that are not parts. A key without a token,
// as wharf wrote before parts were recorded, has the empty token, which no
// parts string names: it is only ever removed.
func (l layout) parsePart(id, key string) (offset int64, token string, ok bool) {
	name, found := strings.CutPrefix(key, l.uploadDir(id))
	if !found || path.Base(name) != name {
		return 0, "", false
	}
	num, token, hasToken := strings.Cut(name, "-")
	if len(num) != offsetLen || (hasToken && token == "") || strings.Contains(token, partSep) {
		return 0, "", false
	}
	offset, err := strconv.ParseInt(num, 10, 64)
	if err != nil || offset < 0 {
		return 0, "", false
	}
	return offset, token, true
}

// checkUploadID refuses ids that could escape an upload's own key space.
func checkUploadID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("upload id %q: must be 1 to %d characters", id, maxIDLen)
	}
	for _, c := range id {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return fmt.Errorf("upload id %q: only A-Z, a-z, 0-9, _ and - are allowed", id)
		}
	}
	return nil
}
