package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scan/sbom"
)

// Limits on what an image page reads of blobs: a config and an SBOM are
// read into memory to be shown.
const (
	maxConfigBytes = 4 << 20
	maxSBOMBytes   = 16 << 20
	maxSBOMRows    = 1000
)

type imagePage struct {
	Repo      string
	Tag       string
	Digest    digest.Digest
	MediaType string
	Artifact  string
	Size      int64
	PushedAt  time.Time
	Tags      []string
	Pull      []pullCommand
	CanDelete bool

	Index     bool
	Platforms []platformRow

	Config      *v1.Image
	ConfigNote  string
	Platform    string    // of an image's config; "" if it says none
	Built       time.Time // when the config says the image was built
	Layers      []layerRow
	TotalSize   int64
	Labels      []keyValue
	Annotations []keyValue
	Subject     digest.Digest

	Signatures   []referrerRow
	SBOMs        []referrerRow
	Attestations []referrerRow
	Others       []referrerRow
	Packages     []scan.Package
	PackagesMore int
	SBOMNote     string

	Verdict     *verdictSection
	VerdictNote string            // why there is no verdict
	Vulns       *vulnSection      // nil without a scanner
	Promotions  *promotionSection // nil without promotion
	CanPromote  bool
}

type pullCommand struct {
	Tool, Command string
}

type platformRow struct {
	Platform string
	Digest   digest.Digest
	Size     int64
}

type layerRow struct {
	Digest    digest.Digest
	MediaType string
	Size      int64
}

type keyValue struct{ Key, Value string }

type referrerRow struct {
	Digest       digest.Digest
	ArtifactType string
	Size         int64
	Created      string
	Annotations  []keyValue
}

// image shows one manifest: what it is, how to pull it, its platforms or
// its layers and config, its labels and annotations, and its referrers
// (signatures, SBOMs with their packages, attestations).
func (h *Handler) image(w http.ResponseWriter, r *http.Request, v visitor, t target) {
	ctx := r.Context()
	dec, err := h.repoAccess(ctx, v, t.Repo, auth.ActionDelete, auth.ActionPush)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	m, err := h.reg.Manifest(ctx, t.Repo, t.ref())
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	pm, err := oci.ParseManifest(m.MediaType, m.Payload)
	if err != nil {
		h.fail(w, r, v, fmt.Errorf("parse stored manifest %s: %w", m.Digest, err))
		return
	}
	d := imagePage{Repo: t.Repo, Tag: t.Tag, Digest: m.Digest, MediaType: m.MediaType, Artifact: pm.ArtifactType, Size: m.Size,
		PushedAt: m.CreatedAt, CanDelete: dec.Allows(auth.ActionDelete) && v.csrf != "", Index: pm.IsIndex(),
		Annotations: sortedPairs(pm.Annotations)}
	if pm.Subject != nil {
		d.Subject = pm.Subject.Digest
	}
	if d.Tags, err = h.reg.ManifestTags(ctx, t.Repo, m.Digest); err != nil {
		h.fail(w, r, v, err)
		return
	}
	d.Pull = pullCommands(r.Host, t.Repo, t.Tag, m.Digest)
	for _, c := range pm.Manifests {
		d.Platforms = append(d.Platforms, platformRow{Platform: platformString(c.Platform), Digest: c.Digest, Size: c.Size})
	}
	for _, l := range pm.Layers {
		d.Layers = append(d.Layers, layerRow{Digest: l.Digest, MediaType: l.MediaType, Size: l.Size})
		d.TotalSize += l.Size
	}
	if pm.Config != nil {
		d.TotalSize += pm.Config.Size
		d.Config, d.ConfigNote = h.readConfig(ctx, t.Repo, *pm.Config)
		if c := d.Config; c != nil {
			d.Labels = sortedPairs(c.Config.Labels)
			if c.OS != "" || c.Architecture != "" {
				d.Platform = platformString(&c.Platform)
			}
			if c.Created != nil {
				d.Built = c.Created.UTC()
			}
		}
		if slices.Contains(imageConfigTypes, d.Artifact) {
			d.Artifact = "" // an image: its "artifact type" is only its config's
		}
	}
	if err := h.referrers(ctx, t.Repo, m.Digest, &d); err != nil {
		h.fail(w, r, v, err)
		return
	}
	if d.Verdict, err = h.verdict(r, v, t); err != nil {
		status, msg := classify(err)
		if status >= 500 {
			h.log.WarnContext(ctx, "ui: check the image policy", "repo", t.Repo, "err", err)
		}
		d.VerdictNote = msg
	}
	if d.Vulns, err = h.vulnerabilities(r, v, t, dec); err != nil {
		h.fail(w, r, v, err)
		return
	}
	if d.Promotions, err = h.promotions(r, v, t.Repo, m); err != nil {
		h.fail(w, r, v, err)
		return
	}
	d.CanPromote = d.Promotions != nil && v.csrf != ""
	var a answer
	if q := r.URL.Query(); q.Get("scan") == "queued" {
		a.Notice = "The image is queued for a scan; reload the page to see its results."
	} else if msg := q.Get("promoted"); strings.HasPrefix(msg, "Promoted to ") || strings.HasPrefix(msg, "The promotion waits") {
		a.Notice = msg
	}
	title := t.Repo + "@" + shortDigest(m.Digest)
	if t.Tag != "" {
		title = t.Repo + ":" + t.Tag
	}
	a.Page, a.Title, a.Data = "image.html", title, d
	h.render(w, r, v, a)
}

// pullCommands are the commands that pull the image, by tag and by digest.
func pullCommands(host, repo, tag string, d digest.Digest) []pullCommand {
	byDigest := host + "/" + repo + "@" + string(d)
	var out []pullCommand
	if tag != "" {
		byTag := host + "/" + repo + ":" + tag
		out = append(out, pullCommand{"docker", "docker pull " + byTag}, pullCommand{"podman", "podman pull " + byTag})
	}
	return append(out,
		pullCommand{"docker (digest)", "docker pull " + byDigest},
		pullCommand{"podman (digest)", "podman pull " + byDigest},
		pullCommand{"crane", "crane pull " + byDigest + " image.tar"},
		pullCommand{"crane manifest", "crane manifest " + byDigest},
	)
}

func platformString(p *v1.Platform) string {
	if p == nil {
		return "unknown"
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	if p.OSVersion != "" {
		s += " (" + p.OSVersion + ")"
	}
	return s
}

func sortedPairs(m map[string]string) []keyValue {
	out := make([]keyValue, 0, len(m))
	for k, v := range m {
		out = append(out, keyValue{k, v})
	}
	slices.SortFunc(out, func(a, b keyValue) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// imageConfigTypes are the config media types that hold an image config.
var imageConfigTypes = []string{v1.MediaTypeImageConfig, "application/vnd.docker.container.image.v1+json"}

// readConfig reads an image's config for its history, labels and
// platform; an artifact's config, or one that cannot be read, is a note
// instead.
func (h *Handler) readConfig(ctx context.Context, repo string, desc oci.Descriptor) (*v1.Image, string) {
	if !slices.Contains(imageConfigTypes, desc.MediaType) {
		return nil, ""
	}
	if desc.Size > maxConfigBytes {
		return nil, fmt.Sprintf("the config is %s, larger than the %s shown", humanBytes(desc.Size), humanBytes(maxConfigBytes))
	}
	rc, _, err := h.reg.OpenBlob(ctx, repo, desc.Digest)
	if err != nil {
		h.log.WarnContext(ctx, "ui: read image config", "repo", repo, "digest", desc.Digest, "err", err)
		return nil, "the config could not be read"
	}
	defer func() { _ = rc.Close() }()
	var img v1.Image
	if err := json.NewDecoder(io.LimitReader(rc, maxConfigBytes)).Decode(&img); err != nil {
		return nil, "the config is not valid JSON"
	}
	return &img, ""
}

// Artifact types of referrers, by what a person calls them.
var (
	signatureTypes = []string{
		"application/vnd.dev.cosign.artifact.sig.v1+json",
		"application/vnd.dev.sigstore.bundle.v0.3+json",
		"application/vnd.dev.sigstore.bundle+json;version=0.3",
		"application/vnd.cncf.notary.signature",
	}
	sbomTypes        = []string{sbom.MediaTypeSPDX, sbom.MediaTypeCycloneDX, "text/spdx", "application/vnd.syft+json"}
	attestationTypes = []string{"application/vnd.in-toto+json", "application/vnd.dsse.envelope.v1+json"}
)

func isType(artifactType string, types []string) bool {
	for _, t := range types {
		if artifactType == t || strings.HasPrefix(artifactType, t+";") {
			return true
		}
	}
	return false
}

// referrers fills in what refers to manifest dg: the referrers API's
// answer, and a cosign signature under its tag (sha256-<hex>.sig).
func (h *Handler) referrers(ctx context.Context, repo string, dg digest.Digest, d *imagePage) error {
	refs, err := h.reg.Referrers(ctx, repo, dg, "")
	if err != nil {
		return err
	}
	if sigTag := cosignTag(dg); sigTag != "" {
		m, err := h.reg.Manifest(ctx, repo, oci.Reference{Tag: sigTag})
		switch {
		case err == nil:
			refs = append(refs, oci.Descriptor{MediaType: m.MediaType, ArtifactType: signatureTypes[0], Digest: m.Digest,
				Size: m.Size, Annotations: m.Annotations})
		case !isUnknown(err):
			return err
		}
	}
	for _, ref := range refs {
		row := referrerRow{Digest: ref.Digest, ArtifactType: ref.ArtifactType, Size: ref.Size,
			Created: ref.Annotations[v1.AnnotationCreated], Annotations: sortedPairs(ref.Annotations)}
		switch {
		case isType(ref.ArtifactType, signatureTypes):
			d.Signatures = append(d.Signatures, row)
		case isType(ref.ArtifactType, sbomTypes):
			d.SBOMs = append(d.SBOMs, row)
		case isType(ref.ArtifactType, attestationTypes):
			d.Attestations = append(d.Attestations, row)
		default:
			d.Others = append(d.Others, row)
		}
	}
	if len(d.SBOMs) > 0 {
		d.Packages, d.PackagesMore, d.SBOMNote = h.readSBOM(ctx, repo, d.SBOMs[0].Digest)
	}
	return nil
}

// cosignTag is the tag cosign stores a signature of d under.
func cosignTag(d digest.Digest) string {
	if d.Validate() != nil {
		return ""
	}
	return d.Algorithm().String() + "-" + d.Encoded() + ".sig"
}

func isUnknown(err error) bool {
	status, _ := classify(err)
	return status == http.StatusNotFound
}

// readSBOM reads the packages the SBOM manifest sd of repo lists: the
// first layer the SBOM parser reads.
func (h *Handler) readSBOM(ctx context.Context, repo string, sd digest.Digest) ([]scan.Package, int, string) {
	m, err := h.reg.Manifest(ctx, repo, oci.Reference{Digest: sd})
	if err != nil {
		return nil, 0, "the SBOM could not be read"
	}
	pm, err := oci.ParseManifest(m.MediaType, m.Payload)
	if err != nil || len(pm.Layers) == 0 {
		return nil, 0, "the SBOM manifest holds no document"
	}
	l := pm.Layers[0]
	if l.Size > maxSBOMBytes {
		return nil, 0, fmt.Sprintf("the SBOM is %s, larger than the %s shown here", humanBytes(l.Size), humanBytes(maxSBOMBytes))
	}
	rc, _, err := h.reg.OpenBlob(ctx, repo, l.Digest)
	if err != nil {
		return nil, 0, "the SBOM document could not be read"
	}
	defer func() { _ = rc.Close() }()
	pkgs, _, err := sbom.Parse(io.LimitReader(rc, maxSBOMBytes))
	if err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, 0, "the SBOM document is not valid JSON"
		}
		return nil, 0, "the SBOM document is not SPDX or CycloneDX JSON: " + err.Error()
	}
	slices.SortFunc(pkgs, func(a, b scan.Package) int {
		return strings.Compare(a.Name+"\x00"+a.Version, b.Name+"\x00"+b.Version)
	})
	if len(pkgs) > maxSBOMRows {
		return pkgs[:maxSBOMRows], len(pkgs) - maxSBOMRows, ""
	}
	return pkgs, 0, ""
}
