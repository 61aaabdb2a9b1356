package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/backup/archive"
	"github.com/wharf-dev/wharf/internal/oci"
)

// ExportOptions says what to export and how.
type ExportOptions struct {
	Selection
	// Hostname, if set, starts every reference name the export records
	// ("registry.example.com/team/app:v1" rather than "team/app:v1").
	Hostname string
	// Docker writes what docker load reads: for every tag one image of
	// Platform (an index's child of that platform), listed in
	// manifest.json. Artifacts other than images, and referrers, which
	// docker cannot load, are left out and reported in Skipped.
	Docker   bool
	Platform Platform
	Progress func(Progress)
}

// Platform picks an image from an index for a docker archive.
type Platform struct{ OS, Architecture, Variant string }

// ParsePlatform reads "os/arch[/variant]".
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, fmt.Errorf("platform %q: want os/arch[/variant], such as linux/amd64", s)
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

func (p Platform) String() string {
	if p.Variant != "" {
		return p.OS + "/" + p.Architecture + "/" + p.Variant
	}
	return p.OS + "/" + p.Architecture
}

func (p Platform) matches(q *v1.Platform) bool {
	return q != nil && q.OS == p.OS && q.Architecture == p.Architecture && (p.Variant == "" || q.Variant == p.Variant)
}

// ExportReport is what an export wrote.
type ExportReport struct {
	Repositories int
	Tags         int
	Manifests    int      // manifests written, each once
	Blobs        int      // blobs written, each once
	Bytes        int64    // bytes of those blobs
	Skipped      []string // what a docker archive could not hold, and why
}

// exporter plans an export: every manifest it will write, with its
// payload, and every blob, each once, in the order a reader wants them
// (what a manifest references before the manifest).
type exporter struct {
	src       Source
	o         ExportOptions
	seen      map[string]bool // repo@digest walked
	manifests []planned
	have      map[digest.Digest]bool // planned manifests and blobs
	blobs     []planned
	index     []oci.Descriptor
	images    []archive.DockerImage
	rep       ExportReport
}

// planned is a blob or manifest to write; payload is set for manifests.
type planned struct {
	repo    string
	desc    oci.Descriptor
	payload []byte
}

// Export writes what o selects from src to w, and closes w.
func Export(ctx context.Context, src Source, w *archive.Writer, o ExportOptions) (ExportReport, error) {
	e := &exporter{src: src, o: o, seen: map[string]bool{}, have: map[digest.Digest]bool{}}
	repos, err := o.Selection.resolve(func(prefix string) ([]string, error) { return src.Repositories(ctx, prefix) })
	if err != nil {
		return e.rep, err
	}
	for _, repo := range slices.Sorted(maps.Keys(repos)) {
		if err := e.planRepository(ctx, repo, repos[repo]); err != nil {
			return e.rep, err
		}
	}
	if o.Docker && len(e.index) == 0 {
		return e.rep, fmt.Errorf("nothing to write that docker load reads: %s", strings.Join(e.rep.Skipped, "; "))
	}
	if err := e.write(ctx, w); err != nil {
		return e.rep, err
	}
	return e.rep, w.Close()
}

// cosignTag matches the tags that hold a manifest's signatures,
// attestations and SBOMs in the tag schema (cosign's sha256-<hex>.sig,
// .att, .sbom, and the referrers API's fallback sha256-<hex>).
var cosignTag = regexp.MustCompile(`^(sha256|sha512)-([0-9a-f]{64}|[0-9a-f]{128})(\..+)?$`)

func (e *exporter) planRepository(ctx context.Context, repo string, chosen []string) error {
	all, err := e.src.Tags(ctx, repo)
	if err != nil {
		return fmt.Errorf("export %s: %w", repo, err)
	}
	tags := chosen
	if tags == nil {
		tags = all
	}
	e.rep.Repositories++
	done := map[string]bool{}
	for len(tags) > 0 {
		for _, tag := range tags {
			done[tag] = true
			if err := e.planTag(ctx, repo, tag); err != nil {
				return err
			}
		}
		// Chosen tags bring the tag-schema signatures of what they name,
		// and those may be signed in turn.
		tags = nil
		for _, t := range all {
			if e.o.Docker {
				break
			}
			if m := cosignTag.FindStringSubmatch(t); m != nil && !done[t] && e.seen[repo+"@"+m[1]+":"+m[2]] {
				tags = append(tags, t)
			}
		}
	}
	return nil
}

func (e *exporter) refName(repo, tag string) string {
	if e.o.Hostname != "" {
		return e.o.Hostname + "/" + repo + ":" + tag
	}
	return repo + ":" + tag
}

func (e *exporter) planTag(ctx context.Context, repo, tag string) error {
	desc, payload, err := e.manifest(ctx, repo, tag)
	if err != nil {
		return err
	}
	if e.o.Docker {
		var ok bool
		if desc, payload, ok, err = e.dockerImage(ctx, repo, tag, desc, payload); err != nil || !ok {
			return err
		}
	}
	if err := e.walk(ctx, repo, desc, payload); err != nil {
		return err
	}
	name := e.refName(repo, tag)
	desc.Annotations = map[string]string{v1.AnnotationRefName: name, archive.AnnotationContainerdName: name, archive.AnnotationRepository: repo}
	e.index = append(e.index, desc)
	e.rep.Tags++
	return nil
}

// manifest fetches a manifest and checks its payload has its digest.
func (e *exporter) manifest(ctx context.Context, repo, ref string) (oci.Descriptor, []byte, error) {
	desc, payload, err := e.src.Manifest(ctx, repo, ref)
	if err != nil {
		return desc, nil, fmt.Errorf("export %s:%s: %w", repo, ref, err)
	}
	if err := archive.Verify(bytes.NewReader(payload), desc); err != nil {
		return desc, nil, fmt.Errorf("export %s:%s: %w", repo, ref, err)
	}
	return oci.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}, payload, nil
}

// walk plans manifest desc of repo: its children and blobs first, then
// itself, then (unless for docker) its referrers, each once.
func (e *exporter) walk(ctx context.Context, repo string, desc oci.Descriptor, payload []byte) error {
	key := repo + "@" + desc.Digest.String()
	if e.seen[key] {
		return nil
	}
	e.seen[key] = true
	m, err := oci.ParseManifest(desc.MediaType, payload)
	if err != nil {
		return fmt.Errorf("export %s: manifest %s: %w", repo, desc.Digest, err)
	}
	for _, c := range m.Manifests {
		cd, cp, err := e.manifest(ctx, repo, c.Digest.String())
		if err != nil {
			return err
		}
		if err := e.walk(ctx, repo, cd, cp); err != nil {
			return err
		}
	}
	for _, b := range m.Blobs() {
		if oci.IsNonDistributable(b.MediaType) || e.have[b.Digest] {
			continue
		}
		e.have[b.Digest] = true
		e.blobs = append(e.blobs, planned{repo: repo, desc: oci.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}})
	}
	if !e.have[desc.Digest] {
		e.have[desc.Digest] = true
		e.manifests = append(e.manifests, planned{repo: repo, desc: desc, payload: payload})
	}
	if e.o.Docker {
		return nil
	}
	refs, err := e.src.Referrers(ctx, repo, desc.Digest)
	if err != nil {
		return fmt.Errorf("export %s: referrers of %s: %w", repo, desc.Digest, err)
	}
	for _, r := range refs {
		rd, rp, err := e.manifest(ctx, repo, r.Digest.String())
		if err != nil {
			return err
		}
		if err := e.walk(ctx, repo, rd, rp); err != nil {
			return err
		}
		rd.Annotations = map[string]string{archive.AnnotationRepository: repo}
		e.index = append(e.index, rd)
	}
	return nil
}

// write writes the planned blobs, then the manifests.
func (e *exporter) write(ctx context.Context, w *archive.Writer) error {
	var total int64
	for _, b := range e.blobs {
		total += b.desc.Size
	}
	for _, m := range e.manifests {
		total += m.desc.Size
	}
	p := &progress{fn: e.o.Progress}
	p.start("export", len(e.blobs)+len(e.manifests), total)
	for _, b := range e.blobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !w.HasBlob(b.desc.Digest) {
			if err := e.copyBlob(ctx, w, b); err != nil {
				return err
			}
			e.rep.Blobs++
			e.rep.Bytes += b.desc.Size
		}
		p.done(b.desc.Size)
	}
	for _, m := range e.manifests {
		if err := w.WriteBlob(m.desc, bytes.NewReader(m.payload)); err != nil {
			return fmt.Errorf("export %s: %w", m.repo, err)
		}
		e.rep.Manifests++
		p.done(m.desc.Size)
	}
	for _, d := range e.index {
		w.AddManifest(d)
	}
	for _, img := range e.images {
		w.AddDockerImage(img)
	}
	return nil
}

func (e *exporter) copyBlob(ctx context.Context, w *archive.Writer, b planned) error {
	rc, err := e.src.OpenBlob(ctx, b.repo, b.desc.Digest)
	if err != nil {
		return fmt.Errorf("export %s: blob %s: %w", b.repo, b.desc.Digest, err)
	}
	defer rc.Close()
	if err := w.WriteBlob(b.desc, rc); err != nil {
		if errors.Is(err, archive.ErrDigest) {
			return fmt.Errorf("export %s: the registry's copy of blob %s is damaged (run wharf scrub): %w", b.repo, b.desc.Digest, err)
		}
		return fmt.Errorf("export %s: %w", b.repo, err)
	}
	return nil
}
