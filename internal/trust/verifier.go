package trust

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/wharf-dev/wharf/internal/oci"
)

// Options configures a Verifier. The zero value works.
type Options struct {
	// RegistryHost is the host (and port) clients name this registry by:
	// notation trust policies match <RegistryHost>/<repository> against
	// their registryScopes. Default "localhost".
	RegistryHost string
	// MaxSignatures bounds the signatures looked at per image (default 32),
	// so a flood of referrers costs bounded work.
	MaxSignatures int
	// MaxBlobSize bounds a signature payload, bundle or envelope (default
	// 1 MiB; real ones are a few KiB).
	MaxBlobSize int64
	// MaxChildren bounds the platform images of an index verified one by
	// one when the index has no valid signature itself (default 64).
	MaxChildren int
}

// Verifier finds and verifies the signatures of images. It holds no state
// between calls and is safe for concurrent use.
type Verifier struct {
	opts Options
}

// NewVerifier returns a Verifier with opts, defaults filled in.
func NewVerifier(opts Options) *Verifier {
	if opts.RegistryHost == "" {
		opts.RegistryHost = "localhost"
	}
	if opts.MaxSignatures <= 0 {
		opts.MaxSignatures = 32
	}
	if opts.MaxBlobSize <= 0 {
		opts.MaxBlobSize = 1 << 20
	}
	if opts.MaxChildren <= 0 {
		opts.MaxChildren = 64
	}
	return &Verifier{opts: opts}
}

// Image is an image whose signatures were looked for.
type Image struct {
	Manifest
	// Children are the manifests an index lists.
	Children []v1.Descriptor
	// Signatures are the signatures found, in the order they were found:
	// the tag schema's first, then referrers.
	Signatures []Signature
	// Truncated reports that more than MaxSignatures were found.
	Truncated bool
}

// found is a signature's stored form, kept between Find and Check.
type found struct {
	layer v1.Descriptor
	err   error // why the signature manifest could not be read
}

// Verify finds every signature of the image image in repo and verifies each
// against ks; for an index with no valid signature of its own it verifies
// each platform image too. The error is for failures to read the source
// (ErrNotFound if the image is not stored), never for a signature that does
// not verify: that is in the Result.
func (v *Verifier) Verify(ctx context.Context, src Source, ks *KeySet, repo string, image digest.Digest) (*Result, error) {
	return v.verify(ctx, src, ks, repo, image, 0)
}

func (v *Verifier) verify(ctx context.Context, src Source, ks *KeySet, repo string, image digest.Digest, depth int) (*Result, error) {
	img, err := v.Find(ctx, src, repo, image)
	if err != nil {
		return nil, err
	}
	res := &Result{Image: img.Digest, MediaType: img.MediaType, Truncated: img.Truncated}
	for _, sig := range img.Signatures {
		sr, err := v.Check(ctx, src, ks, repo, img, sig)
		if err != nil {
			return nil, err
		}
		res.Signatures = append(res.Signatures, sr)
	}
	if res.Verified() || len(img.Children) == 0 || depth > 0 {
		return res, nil
	}
	for _, child := range platformImages(img.Children, v.opts.MaxChildren) {
		cr, err := v.verify(ctx, src, ks, repo, child.Digest, depth+1)
		if errors.Is(err, ErrNotFound) {
			cr = &Result{Image: child.Digest, MediaType: child.MediaType}
		} else if err != nil {
			return nil, err
		}
		res.Children = append(res.Children, *cr)
	}
	return res, nil
}

// PlatformImages is what an index listing children must have signed when
// it has no valid signature of its own: see platformImages. Callers that
// verify signatures one by one ([Verifier.Find], [Verifier.Check]) use it to
// do what Verify does for an index.
func (v *Verifier) PlatformImages(children []v1.Descriptor) []v1.Descriptor {
	return platformImages(children, v.opts.MaxChildren)
}

// platformImages is what an index lists that must be signed when the index
// is not: every manifest but the attestation manifests buildkit adds (they
// are not images and nobody signs them), at most max of them.
func platformImages(children []v1.Descriptor, max int) []v1.Descriptor {
	var out []v1.Descriptor
	for _, c := range children {
		if c.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue
		}
		out = append(out, c)
	}
	if len(out) > max {
		out = out[:max]
	}
	return out
}

// Find reads the image and looks for its signatures: the cosign tag schema
// (sha256-<hex>.sig) and referrers of the known signature artifact types.
// Attestations (a bundle whose predicate is not cosign's signing predicate)
// are skipped. With Check, it lets a caller verify only the signatures it
// has no cached verdict for.
func (v *Verifier) Find(ctx context.Context, src Source, repo string, image digest.Digest) (*Image, error) {
	r := reader{src: src, repo: repo, maxBlob: v.opts.MaxBlobSize}
	m, parsed, err := r.manifest(ctx, image.String())
	if err != nil {
		return nil, err
	}
	img := &Image{Manifest: m}
	if parsed.IsIndex() {
		img.Children = parsed.Manifests
	}
	add := func(s Signature) {
		if len(img.Signatures) == v.opts.MaxSignatures {
			img.Truncated = true
			return
		}
		img.Signatures = append(img.Signatures, s)
	}

	tag := SignatureTag(image)
	if err := v.findIn(ctx, r, tag, FormatCosign, tag, add); err != nil {
		return nil, err
	}
	refs, err := src.Referrers(ctx, repo, image)
	if err != nil {
		return nil, fmt.Errorf("list referrers of %s@%s: %w", repo, image, err)
	}
	for _, d := range refs {
		if img.Truncated {
			break
		}
		var format Format
		switch {
		case d.ArtifactType == ArtifactTypeCosignSig:
			format = FormatCosign
		case isBundleMediaType(d.ArtifactType):
			if p := d.Annotations[AnnotationBundlePredicateType]; p != "" && p != PredicateTypeCosignSign {
				continue
			}
			format = FormatBundle
		case d.ArtifactType == ArtifactTypeNotation:
			format = FormatNotation
		default:
			continue
		}
		if err := v.findIn(ctx, r, d.Digest.String(), format, "", add); err != nil {
			return nil, err
		}
	}
	return img, nil
}

// findIn adds the signatures of one signature manifest: a layer each. A
// manifest that cannot be read or parsed is one signature that fails.
func (v *Verifier) findIn(ctx context.Context, r reader, reference string, format Format, tag string, add func(Signature)) error {
	m, parsed, err := r.manifest(ctx, reference)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil // no signature tag, or a referrer deleted since it was listed
	case errors.Is(err, oci.ErrManifestInvalid), errors.Is(err, oci.ErrMediaType), errors.Is(err, oci.ErrSchema1):
		d, _ := digest.Parse(reference)
		add(Signature{Format: format, Manifest: d, Layer: -1, Tag: tag, found: found{err: fmt.Errorf("%w: %v", ErrMalformed, err)}})
		return nil
	case err != nil:
		return err
	}
	n := 0
	for i, l := range parsed.Layers {
		if !signatureLayer(format, l.MediaType) {
			continue
		}
		add(Signature{Format: format, Manifest: m.Digest, Layer: i, Tag: tag, found: found{layer: l}})
		n++
	}
	if n == 0 {
		add(Signature{Format: format, Manifest: m.Digest, Layer: -1, Tag: tag, found: found{err: fmt.Errorf("%w: the signature manifest has no %s signature layer", ErrMalformed, format)}})
	}
	return nil
}

func signatureLayer(format Format, mediaType string) bool {
	switch format {
	case FormatCosign:
		return mediaType == MediaTypeSimpleSigning
	case FormatBundle:
		return isBundleMediaType(mediaType)
	case FormatNotation:
		return mediaType == MediaTypeJWS || mediaType == MediaTypeCOSE
	}
	return false
}

// Check verifies one signature Find found for img against ks. The error is
// for failures to read the source; the verdict is in the SignatureResult.
func (v *Verifier) Check(ctx context.Context, src Source, ks *KeySet, repo string, img *Image, sig Signature) (SignatureResult, error) {
	res := SignatureResult{Signature: sig}
	if sig.found.err != nil {
		res.Err = sig.found.err
		return res, nil
	}
	r := reader{src: src, repo: repo, maxBlob: v.opts.MaxBlobSize}
	blob, err := r.blob(ctx, sig.found.layer)
	switch {
	case errors.Is(err, ErrNotFound):
		res.Err = fmt.Errorf("%w: signature blob %s is not stored: %v", ErrMalformed, sig.found.layer.Digest, err)
		return res, nil
	case errors.Is(err, ErrMalformed):
		res.Err = err
		return res, nil
	case err != nil:
		return res, err
	}
	switch sig.Format {
	case FormatCosign:
		res.Signer, res.Err = v.verifyCosign(ks, sig.found.layer, blob, img.Digest)
	case FormatBundle:
		res.Signer, res.Err = v.verifyBundle(ks, blob, img.Digest)
	case FormatNotation:
		target := v1.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: int64(len(img.Payload))}
		ref := v.opts.RegistryHost + "/" + repo + "@" + img.Digest.String()
		res.Signer, res.Err = v.verifyNotation(ctx, ks, blob, sig.found.layer.MediaType, target, ref)
	default:
		res.Err = fmt.Errorf("%w: unknown format %q", ErrMalformed, sig.Format)
	}
	if res.Err != nil {
		res.Signer = nil
	}
	return res, nil
}
