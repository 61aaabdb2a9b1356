package fs

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/opencontainers/go-digest"
)

// The on-disk layout under the store's root directory:
//
//	<root>/
//	├── blobs/
//	│   └── <algorithm>/             sha256, sha512
//	│       └── <first two hex>/     256 fan-out directories per algorithm
//	│           └── <hex>            a complete blob, named by its encoded digest
//	└── uploads/
//	    └── <id>                     the bytes of one upload in progress
//
// For example, blob
// sha256:4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1
// lives at blobs/sha256/4b/4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1.
//
// Why it is shaped this way:
//
//   - A blob file only ever appears by renaming a complete, fsynced upload
//     file into place, so anything at a blob path is a whole blob. Both
//     directories sit under one root, hence on one filesystem, so the rename
//     is atomic.
//   - Blobs are keyed by digest alone: every repository shares them, and
//     which repository may read which blob is metadata, kept in the database.
//   - The two-hex fan-out keeps directories small enough to list quickly.
//   - Upload ids become file names, so only [A-Za-z0-9_-] is accepted: no
//     separators, no dots, nothing that can climb out of uploads/.
//   - Anything else found under blobs/ (a stray temporary file, a directory an
//     operator made) is not a digest path and is ignored by Walk.
const (
	blobsDir   = "blobs"
	uploadsDir = "uploads"

	// maxUploadIDLen keeps an upload file name well under the usual 255-byte
	// file name limit.
	maxUploadIDLen = 128
)

// ErrInvalidUploadID is returned, wrapped, for an upload id that could not be
// a file name under uploads/: empty, too long, or holding anything but ASCII
// letters, digits, '-' and '_'.
var ErrInvalidUploadID = errors.New("invalid upload id")

// blobPath returns where blob d lives, after checking d is a well-formed
// digest of a supported algorithm; a malformed digest never becomes a path.
func (s *Store) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %w", d, err)
	}
	enc := d.Encoded()
	return filepath.Join(s.root, blobsDir, string(d.Algorithm()), enc[:2], enc), nil
}

// uploadPath returns where the bytes of upload id live.
func (s *Store) uploadPath(id string) (string, error) {
	if !validUploadID(id) {
		return "", fmt.Errorf("upload %q: %w", id, ErrInvalidUploadID)
	}
	return filepath.Join(s.root, uploadsDir, id), nil
}

func validUploadID(id string) bool {
	if id == "" || len(id) > maxUploadIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// blobDigest returns the digest stored at blobs/<alg>/<fan>/<name>, or false
// when that is not a digest path (a temporary file, a misplaced blob).
func blobDigest(alg, fan, name string) (digest.Digest, bool) {
	d := digest.NewDigestFromEncoded(digest.Algorithm(alg), name)
	if d.Validate() != nil || name[:2] != fan {
		return "", false
	}
	return d, true
}
