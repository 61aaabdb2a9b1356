// Package content defines the blob [Store]: the bytes of blobs, keyed by digest
// alone and shared by every repository, and the bytes of uploads in progress.
//
// A Store knows nothing of repositories, manifests or metadata. The registry
// service hashes upload bytes as they stream and records progress in the
// metadata store; the content store only keeps bytes and makes an upload become
// a blob atomically. Nothing ever reads a half-written blob: upload bytes live
// apart from blobs until [Store.Commit] moves them into place.
//
// Drivers live in sub-packages (fs, s3) and must pass contenttest.Run.
package content

import (
	"context"
	"errors"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"
)

// Errors a Store returns, possibly wrapped.
var (
	// ErrNotFound: no such blob or upload.
	ErrNotFound = errors.New("content not found")
	// ErrOffset: an Append started somewhere other than the upload's end.
	ErrOffset = errors.New("upload offset mismatch")
	// ErrSize: Commit found the upload's size is not what the caller proved.
	ErrSize = errors.New("upload size mismatch")
	// ErrDigest: Commit re-read an upload whose bytes it could not vouch for
	// (they were written before a restart) and found another digest.
	ErrDigest = errors.New("upload digest mismatch")
	// ErrUnavailable: the backend cannot be reached (network failure, the
	// store answering 5xx or throttling). The operation may or may not have
	// taken effect; retrying it later is the remedy, and the registry
	// reports it as 503.
	ErrUnavailable = errors.New("content store unavailable")
)

// Every method that does I/O returns an error matching context.Canceled (via
// errors.Is) when its context is cancelled, and leaves what it touched as it
// was or as a later call can repair.

// Store keeps blob and upload bytes.
type Store interface {
	// Stat returns the size of blob d, or ErrNotFound.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Open opens blob d for reading and returns its size. On a local disk the
	// reader also sends ranges of the blob itself (fs: SendTo, with sendfile
	// or direct reads).
	Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, int64, error)
	// Delete removes blob d. Deleting a missing blob is not an error.
	Delete(ctx context.Context, d digest.Digest) error
	// Walk calls fn for every stored blob, in no particular order.
	Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error

	// Append writes r to upload id starting at offset and returns the number
	// of bytes written and the upload's new parts. parts is what the Append
	// whose bytes the caller acknowledged returned ("" for a new upload): the
	// upload continues from the first offset bytes it names, and bytes stored
	// past them (by a write that was never acknowledged, or by a concurrent
	// writer) are not part of it. When parts names fewer than offset bytes,
	// it returns ErrOffset. An upload is created by its first Append at offset
	// 0, even of zero bytes. When Append returns, the bytes survive a crash of
	// the process; Commit makes them durable against power loss.
	//
	// parts is what keeps replicas that race on one upload apart: a driver
	// whose uploads several processes may write at once (s3) stores each
	// Append's bytes apart and returns parts naming exactly them, so that
	// the writer whose parts the caller recorded (in the metadata store,
	// under a compare-and-set) is the one whose bytes are read back and
	// committed; the loser's bytes are unreachable. A driver used by one
	// process (fs), whose caller serialises the writers of an upload, may
	// keep parts empty and ignore it.
	Append(ctx context.Context, id string, offset int64, parts string, r io.Reader) (n int64, newParts string, err error)
	// ReadUpload reads the upload bytes parts names from offset, for
	// re-hashing with another digest algorithm than the one hashed while
	// streaming. It returns ErrNotFound for a missing upload and an error for
	// an offset past its end.
	ReadUpload(ctx context.Context, id, parts string, offset int64) (io.ReadCloser, error)
	// Commit makes the upload bytes parts names the blob d, atomically, and
	// removes the upload. The caller has proven the digest. If blob d already
	// exists the upload is simply removed. It returns ErrSize, leaving the
	// upload intact, if parts does not name exactly size bytes, and
	// ErrNotFound if there is no such upload (for example because it was
	// committed already). A driver that cannot vouch for bytes written before
	// a restart re-hashes them and returns ErrDigest, leaving the upload
	// intact, if they are not d.
	Commit(ctx context.Context, id, parts string, size int64, d digest.Digest) error
	// Abort removes upload id. Aborting a missing upload is not an error.
	Abort(ctx context.Context, id string) error
	// Uploads calls fn for every upload held, for expiring abandoned ones.
	Uploads(ctx context.Context, fn func(id string) error) error
}

// Pinger is implemented by stores that can check the backend is reachable,
// for readiness. Ping should be cheap: it runs on every readiness probe.
type Pinger interface {
	Ping(ctx context.Context) error
}

// HashingAppender is implemented by stores that can hash the bytes they
// append while they write them, off the goroutine that reads the request:
// faster than the caller hashing as it reads, on a machine with cores to
// spare.
type HashingAppender interface {
	// AppendHashing is Append, and writes every byte it appends to h, in
	// order, before it returns. On error, what h holds is undefined.
	AppendHashing(ctx context.Context, id string, offset int64, parts string, r io.Reader, h hash.Hash) (n int64, newParts string, err error)
}

// Redirector is implemented by stores that can hand clients a URL to fetch a
// blob from directly, such as a presigned object-store URL.
type Redirector interface {
	RedirectURL(ctx context.Context, d digest.Digest) (string, error)
}
