package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/backup/archive"
	"github.com/wharf-dev/wharf/internal/oci"
)

// ImportOptions says how to import.
type ImportOptions struct {
	// Mappings rename repositories, the first that matches applying.
	Mappings []Mapping
	// Repository is the repository of entries named by a bare tag, as
	// other tools write OCI layouts ("v1" rather than "team/app:v1").
	Repository string
	Progress   func(Progress)
}

// ImportReport is what an import did.
type ImportReport struct {
	Repositories int
	Tags         int
	Manifests    int
	Blobs        int      // blobs uploaded
	BlobsPresent int      // blobs the target held already, not sent
	Bytes        int64    // bytes uploaded
	Skipped      []string // entries left out, and why
}

// importer plans an import from an archive, checks it, then writes it.
type importer struct {
	a        *archive.Archive
	o        ImportOptions
	repos    map[string]*repoPlan
	payloads map[digest.Digest][]byte // manifests, read and checked
	files    map[digest.Digest]*blobFile
	rep      ImportReport
}

// repoPlan is what an import writes to one repository.
type repoPlan struct {
	name      string
	have      map[digest.Digest]bool // manifests and blobs planned
	blobs     []oci.Descriptor
	manifests []oci.Descriptor // children before the indexes that list them
	tags      map[string]oci.Descriptor
}

// blobFile is where a blob's bytes are in the archive.
type blobFile struct {
	path     string
	desc     oci.Descriptor
	verified bool
}

// Import reads a and writes its images to t. It checks the whole archive
// first, writing nothing unless every manifest and blob it needs is there
// and has its digest.
func Import(ctx context.Context, a *archive.Archive, t Target, o ImportOptions) (ImportReport, error) {
	im := &importer{a: a, o: o, repos: map[string]*repoPlan{}, payloads: map[digest.Digest][]byte{}, files: map[digest.Digest]*blobFile{}}
	var err error
	if a.Index != nil {
		err = im.planLayout()
	} else {
		err = im.planDocker()
	}
	if err == nil && len(im.repos) == 0 {
		err = errors.New("the archive holds nothing to import")
		if len(im.rep.Skipped) > 0 {
			err = fmt.Errorf("%w: %s", err, strings.Join(im.rep.Skipped, "; "))
		}
	}
	if err == nil {
		err = im.verify(ctx)
	}
	if err != nil {
		return im.rep, fmt.Errorf("refused, nothing imported: %w", err)
	}
	return im.rep, im.write(ctx, t)
}

func (im *importer) plan(repo string) *repoPlan {
	p := im.repos[repo]
	if p == nil {
		p = &repoPlan{name: repo, have: map[digest.Digest]bool{}, tags: map[string]oci.Descriptor{}}
		im.repos[repo] = p
	}
	return p
}

// entryName reads the repository and tag an index.json entry names; repo
// is "" for an entry that names neither (a referrer from another tool).
func (im *importer) entryName(e oci.Descriptor) (repo, tag string, err error) {
	ref := e.Annotations[v1.AnnotationRefName]
	cname := e.Annotations[archive.AnnotationContainerdName]
	def := e.Annotations[archive.AnnotationRepository]
	if def == "" {
		def = im.o.Repository
	}
	switch {
	case ref != "" && strings.ContainsAny(ref, "/:"):
		repo, tag, err = parseRefName(ref, "")
		err = errors.Join(err, namesDigest(ref, e.Digest))
	case cname != "":
		repo, tag, err = parseRefName(cname, "")
		err = errors.Join(err, namesDigest(cname, e.Digest))
	case ref != "":
		repo, tag, err = parseRefName(ref, def)
		err = errors.Join(err, namesDigest(ref, e.Digest))
	case e.Annotations[archive.AnnotationRepository] != "":
		repo = e.Annotations[archive.AnnotationRepository]
		err = oci.ValidateName(repo)
	default:
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("index.json entry %s: %w", e.Digest, err)
	}
	repo, err = remap(repo, im.o.Mappings)
	return repo, tag, err
}

func (im *importer) planLayout() error {
	var unnamed []oci.Descriptor
	for _, e := range im.a.Index {
		repo, tag, err := im.entryName(e)
		if err != nil {
			return err
		}
		if repo == "" {
			unnamed = append(unnamed, e)
			continue
		}
		if err := im.planEntry(repo, tag, e); err != nil {
			return err
		}
	}
	// An entry without a name joins every repository its subject is in.
	for _, e := range unnamed {
		m, err := im.manifest(e)
		if err != nil {
			return err
		}
		var placed bool
		for _, repo := range slices.Sorted(maps.Keys(im.repos)) {
			if m.Subject != nil && im.repos[repo].have[m.Subject.Digest] {
				if err := im.planEntry(repo, "", e); err != nil {
					return err
				}
				placed = true
			}
		}
		if !placed {
			im.rep.Skipped = append(im.rep.Skipped, fmt.Sprintf("index.json entry %s names no repository and refers to nothing imported", e.Digest))
		}
	}
	return nil
}

func (im *importer) planEntry(repo, tag string, e oci.Descriptor) error {
	p := im.plan(repo)
	desc := oci.Descriptor{MediaType: e.MediaType, Digest: e.Digest, Size: e.Size}
	if err := im.walk(p, desc); err != nil {
		return fmt.Errorf("%s: %w", repo, err)
	}
	if tag == "" {
		return nil
	}
	if prev, ok := p.tags[tag]; ok && prev.Digest != desc.Digest {
		return fmt.Errorf("the archive names %s:%s twice, as %s and %s", repo, tag, prev.Digest, desc.Digest)
	}
	p.tags[tag] = desc
	return nil
}

// manifest reads manifest desc from the archive, checks its digest and
// parses it.
func (im *importer) manifest(desc oci.Descriptor) (*oci.Manifest, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("manifest %q: %w", desc.Digest, err)
	}
	payload, ok := im.payloads[desc.Digest]
	if !ok {
		if desc.Size > oci.MaxManifestSize {
			return nil, fmt.Errorf("manifest %s: %d bytes is more than the %d a registry takes", desc.Digest, desc.Size, oci.MaxManifestSize)
		}
		b, err := im.a.ReadSmall(archive.BlobPath(desc.Digest), oci.MaxManifestSize)
		if errors.Is(err, archive.ErrNotFound) {
			return nil, fmt.Errorf("manifest %s is missing from the archive", desc.Digest)
		}
		if err != nil {
			return nil, err
		}
		if err := archive.Verify(bytes.NewReader(b), desc); err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		payload = b
		im.payloads[desc.Digest] = b
	}
	m, err := oci.ParseManifest(desc.MediaType, payload)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	return m, nil
}

// walk plans manifest desc for p: its children, its blobs, then itself.
func (im *importer) walk(p *repoPlan, desc oci.Descriptor) error {
	if p.have[desc.Digest] {
		return nil
	}
	m, err := im.manifest(desc)
	if err != nil {
		return err
	}
	p.have[desc.Digest] = true // before the children: an index cannot list itself, but a bad archive may say so
	for _, c := range m.Manifests {
		if err := im.walk(p, oci.Descriptor{MediaType: c.MediaType, Digest: c.Digest, Size: c.Size}); err != nil {
			return fmt.Errorf("child of %s: %w", desc.Digest, err)
		}
	}
	for _, b := range m.Blobs() {
		if oci.IsNonDistributable(b.MediaType) || p.have[b.Digest] {
			continue
		}
		bd := oci.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
		if err := im.addBlob(archive.BlobPath(b.Digest), bd); err != nil {
			return fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
		p.have[b.Digest] = true
		p.blobs = append(p.blobs, bd)
	}
	p.manifests = append(p.manifests, desc)
	return nil
}

// addBlob records that blob desc's bytes are at path, after checking the
// archive holds a file there of the right size.
func (im *importer) addBlob(path string, desc oci.Descriptor) error {
	if f, ok := im.files[desc.Digest]; ok {
		if f.desc.Size != desc.Size {
			return fmt.Errorf("blob %s is said to have %d bytes and %d", desc.Digest, f.desc.Size, desc.Size)
		}
		return nil
	}
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("blob %q: %w", desc.Digest, err)
	}
	rc, size, err := im.a.Open(path)
	if errors.Is(err, archive.ErrNotFound) {
		return fmt.Errorf("blob %s is missing from the archive", desc.Digest)
	}
	if err != nil {
		return err
	}
	rc.Close()
	if size != desc.Size {
		return fmt.Errorf("blob %s: %w: %d bytes in the archive, %d in its descriptor", desc.Digest, archive.ErrDigest, size, desc.Size)
	}
	im.files[desc.Digest] = &blobFile{path: path, desc: desc}
	return nil
}

// verify reads every blob to be imported and checks its digest.
func (im *importer) verify(ctx context.Context) error {
	var total int64
	for _, f := range im.files {
		total += f.desc.Size
	}
	p := &progress{fn: im.o.Progress}
	p.start("verify", len(im.files), total)
	for _, d := range slices.Sorted(maps.Keys(im.files)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := im.files[d]
		if !f.verified {
			if err := im.check(f); err != nil {
				return err
			}
		}
		p.done(f.desc.Size)
	}
	return nil
}

func (im *importer) check(f *blobFile) error {
	rc, _, err := im.a.Open(f.path)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := archive.Verify(rc, f.desc); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	f.verified = true
	return nil
}

// open returns the archive's bytes of blob f, checked again as they are
// read: the archive may have changed since verify read it.
func (im *importer) open(f *blobFile) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		rc, _, err := im.a.Open(f.path)
		if err != nil {
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{archive.NewVerifier(rc, f.desc), rc}, nil
	}
}

// write writes each repository's blobs, then its manifests, then its tags.
func (im *importer) write(ctx context.Context, t Target) error {
	var blobs int
	var total int64
	for _, p := range im.repos {
		blobs += len(p.blobs)
		for _, b := range p.blobs {
			total += b.Size
		}
	}
	pr := &progress{fn: im.o.Progress}
	pr.start("import", blobs, total)
	for _, name := range slices.Sorted(maps.Keys(im.repos)) {
		p := im.repos[name]
		for _, b := range p.blobs {
			if err := ctx.Err(); err != nil {
				return err
			}
			sent, err := t.PutBlob(ctx, name, b, im.open(im.files[b.Digest]))
			if err != nil {
				return fmt.Errorf("import %s: blob %s: %w", name, b.Digest, err)
			}
			if sent {
				im.rep.Blobs++
				im.rep.Bytes += b.Size
			} else {
				im.rep.BlobsPresent++
			}
			pr.done(b.Size)
		}
		for _, m := range p.manifests {
			if err := t.PutManifest(ctx, name, m, im.payloads[m.Digest]); err != nil {
				return fmt.Errorf("import %s: manifest %s: %w", name, m.Digest, err)
			}
			im.rep.Manifests++
		}
		var tags []Tag
		for _, tag := range slices.Sorted(maps.Keys(p.tags)) {
			d := p.tags[tag]
			tags = append(tags, Tag{Name: tag, Manifest: d, Payload: im.payloads[d.Digest]})
		}
		if len(tags) > 0 {
			if err := t.PutTags(ctx, name, tags); err != nil {
				return fmt.Errorf("import %s: tags: %w", name, err)
			}
		}
		im.rep.Repositories++
		im.rep.Tags += len(tags)
	}
	return nil
}
