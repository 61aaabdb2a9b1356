// Package backup takes images and whole registries out of wharf and puts
// them back.
//
// Export and import move images: export writes repositories to OCI image
// layouts and docker archives (package archive holds the formats), import
// reads them, either over this wharf's own stores ([Local]) or over another
// registry's API ([Remote]). Export walks what it is asked for
// (repositories, tags, namespaces), each tag's manifest, an index's
// children and every manifest's referrers (signatures, SBOMs, attestations),
// and writes each blob once. Import reads an archive whole before it writes
// anything: every manifest and blob is checked against its digest, and
// every reference must resolve within the archive, so bad input is refused
// and changes nothing. It then writes per repository: blobs the target
// lacks, manifests children first, and the tags last, in one transaction on
// a local target.
//
// Backup and restore move the whole registry: [TakeBackup] holds garbage
// collection off (meta.GCHolder), snapshots the metadata (meta.Dumper) and
// copies the blobs that snapshot records into a backup directory ([Dir]),
// each blob once across snapshots; [RestoreBlobs] puts them back.
package backup

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/oci"
)

// Source is a registry that export reads: this wharf's stores ([Local])
// or another registry (a *remote.Client).
type Source interface {
	// Repositories lists the repositories named prefix or under prefix/,
	// or every repository when prefix is "".
	Repositories(ctx context.Context, prefix string) ([]string, error)
	// Tags lists the tags of repo.
	Tags(ctx context.Context, repo string) ([]string, error)
	// Manifest returns manifest reference (a tag or a digest) of repo.
	Manifest(ctx context.Context, repo, reference string) (oci.Descriptor, []byte, error)
	// Referrers lists the manifests of repo whose subject is d.
	Referrers(ctx context.Context, repo string, d digest.Digest) ([]oci.Descriptor, error)
	// OpenBlob streams blob d of repo.
	OpenBlob(ctx context.Context, repo string, d digest.Digest) (io.ReadCloser, error)
}

// Target is a registry that import writes.
type Target interface {
	// PutBlob makes blob desc readable in repo. Nothing is sent when repo
	// holds it already or the registry can link it from where it is
	// (a mount); otherwise the bytes open returns are uploaded. sent
	// reports whether they were.
	PutBlob(ctx context.Context, repo string, desc oci.Descriptor, open func() (io.ReadCloser, error)) (sent bool, err error)
	// PutManifest stores payload as manifest desc of repo, untagged.
	PutManifest(ctx context.Context, repo string, desc oci.Descriptor, payload []byte) error
	// PutTags points the tags at their manifests, which repo holds; all at
	// once where the target can.
	PutTags(ctx context.Context, repo string, tags []Tag) error
}

// Tag is a tag to apply and the manifest it names.
type Tag struct {
	Name     string
	Manifest oci.Descriptor
	Payload  []byte
}

// Progress is how far an export or import is, for a progress display.
type Progress struct {
	Phase      string // "export", "verify" or "import"
	Blobs      int    // blobs done (written, checked or skipped)
	BlobsTotal int
	Bytes      int64 // bytes of the blobs done
	BytesTotal int64
}

// progress counts blobs done and reports them.
type progress struct {
	p  Progress
	fn func(Progress)
}

func (p *progress) start(phase string, blobs int, bytes int64) {
	p.p = Progress{Phase: phase, BlobsTotal: blobs, BytesTotal: bytes}
	p.report()
}

func (p *progress) done(size int64) {
	p.p.Blobs++
	p.p.Bytes += size
	p.report()
}

func (p *progress) report() {
	if p.fn != nil {
		p.fn(p.p)
	}
}
