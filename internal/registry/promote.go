package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// Promotion is a server-side copy of an image from one repository to
// another of the same registry: see [Registry.Promote].
type Promotion struct {
	Source string // the source repository
	Digest digest.Digest
	Target string // the target repository
	Tag    string // the tag to point at it in Target; "" copies by digest only
	// Record, if set, is called inside the copy's transaction, after the
	// copy and before the commit, with what the copy holds: the
	// promotion's record is committed with it or not at all. An error
	// rolls the copy back.
	Record func(ctx context.Context, tx meta.Tx, copied []PromotedManifest) error
}

// PromotedManifest is one manifest of a promotion's closure.
type PromotedManifest struct {
	Digest       digest.Digest `json:"digest"`
	MediaType    string        `json:"mediaType"`
	ArtifactType string        `json:"artifactType,omitempty"`
	// Role is "image" for the promoted manifest, "platform" for a
	// manifest an index lists, "referrer" for a signature, attestation,
	// SBOM or other manifest whose subject is in the closure, "attachment"
	// for one attached by cosign's tag schema (Tag).
	Role    string        `json:"role"`
	Subject digest.Digest `json:"subject,omitempty"`
	// Tag is the tag of an attachment, sha256-<hex>.sig, .att or .sbom.
	Tag string `json:"tag,omitempty"`
	// New is set when the target did not hold it before.
	New bool `json:"new"`
}

// maxClosure bounds the manifests one promotion copies: an image with more
// referrers and platforms than this is not an image but a mistake.
const maxClosure = 10000

// closureManifest is a manifest of the closure with what PutManifest needs.
type closureManifest struct {
	PromotedManifest
	rec meta.Manifest
}

// ClosureManifest is a manifest of an image's closure with its payload
// and the blobs it references.
type ClosureManifest struct {
	PromotedManifest
	Payload []byte
	Blobs   []digest.Digest
}

// Closure returns what [Registry.Promote] would copy of manifest d of
// repo, in the order it would copy it: the manifests an index lists
// before it, each subject before its referrers. A promotion to another
// registry sends it in that order.
func (r *Registry) Closure(ctx context.Context, repo string, d digest.Digest) ([]ClosureManifest, error) {
	if err := checkName(repo); err != nil {
		return nil, err
	}
	var out []ClosureManifest
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		out = nil
		c, err := promotionClosure(ctx, tx, repo, d)
		for _, m := range c {
			out = append(out, ClosureManifest{PromotedManifest: m.PromotedManifest, Payload: m.rec.Payload, Blobs: m.rec.Blobs})
		}
		return err
	})
	var missing *sourceMissing
	switch {
	case errors.As(err, &missing):
		return nil, apierr.New(apierr.ManifestUnknown, "%s", missing.Error()).
			WithDetail(map[string]string{"repository": repo, "digest": missing.digest.String()})
	case err != nil:
		return nil, internal("read the image's closure", err)
	}
	return out, nil
}

// Promote copies manifest p.Digest of p.Source into p.Target with every
// manifest an index lists (nested indexes included) and the referrers of
// each (signatures, attestations, SBOMs, and their own referrers), links
// the blobs they reference, and points p.Tag at it: in one metadata
// transaction, so that a crash leaves either all of it in the target or
// nothing. No blob bytes move: a blob is linked, as a cross-repository
// mount links it, and counted in the target namespace's quota once.
// Promoting what the target holds already changes nothing, so a repeated
// promotion is harmless. The target tag is subject to the target's
// immutability rules like a push.
func (r *Registry) Promote(ctx context.Context, p Promotion) ([]PromotedManifest, error) {
	for _, repo := range []string{p.Source, p.Target} {
		if err := checkName(repo); err != nil {
			return nil, err
		}
	}
	if err := p.Digest.Validate(); err != nil {
		return nil, apierr.Wrap(apierr.DigestInvalid, err)
	}
	if p.Tag != "" {
		if err := oci.ValidateTag(p.Tag); err != nil {
			return nil, apierr.Wrap(apierr.TagInvalid, err)
		}
	}
	var out []PromotedManifest
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		out = nil
		closure, err := promotionClosure(ctx, tx, p.Source, p.Digest)
		if err != nil {
			return err
		}
		var warning *events.QuotaWarning
		for _, m := range closure {
			var w *events.QuotaWarning
			if m.New, w, err = r.copyManifest(ctx, tx, p.Source, p.Target, m.rec); err != nil {
				return err
			}
			warning = cmp.Or(w, warning)
			if m.Tag != "" {
				if m.New, err = tagAttachment(ctx, tx, p.Target, m.Tag, m.Digest); err != nil {
					return err
				}
			}
			out = append(out, m.PromotedManifest)
		}
		var previous digest.Digest
		if p.Tag != "" {
			if previous, err = guardTagMove(ctx, tx, p.Target, p.Tag, p.Digest); err != nil {
				return err
			}
			if err := tx.PutTag(ctx, p.Target, p.Tag, p.Digest); err != nil {
				return err
			}
		}
		if err := r.promotionEvents(ctx, tx, p, closure, previous, warning); err != nil {
			return err
		}
		if p.Record != nil {
			return p.Record(ctx, tx, out)
		}
		return nil
	})
	r.cache.invalidate(p.Target)
	err = r.lifecycleError(ctx, err, "promotion", p.Target, p.Digest, p.Tag)
	var missing *sourceMissing
	switch {
	case errors.As(err, &missing):
		return nil, apierr.New(apierr.ManifestUnknown, "%s", missing.Error()).
			WithDetail(map[string]string{"repository": p.Source, "digest": missing.digest.String()})
	case err != nil:
		return nil, internal("promote", err)
	}
	return out, nil
}

// promotionEvents appends, in tx, the events of promotion p: the target
// repository created (when it held nothing), the image promoted, its tag
// moved from previous, and a quota warning.
func (r *Registry) promotionEvents(ctx context.Context, tx meta.Tx, p Promotion, closure []closureManifest, previous digest.Digest, w *events.QuotaWarning) error {
	first, err := tx.ListRepository(ctx, p.Target)
	if err != nil {
		return err
	}
	var evs []events.Event
	if first {
		evs = append(evs, events.New(ctx, p.Target, &events.RepositoryCreated{}))
	}
	promoted := &events.ArtifactPromoted{Digest: p.Digest, From: p.Source}
	for _, m := range closure {
		if m.Role == "image" {
			promoted.MediaType = m.MediaType
		}
	}
	if p.Tag != "" {
		promoted.Tags = []string{p.Tag}
	}
	evs = append(evs, events.New(ctx, p.Target, promoted))
	if previous != "" && previous != p.Digest {
		evs = append(evs, events.New(ctx, p.Target, &events.TagMoved{Tag: p.Tag, Digest: p.Digest, Previous: previous}))
	}
	if w != nil {
		w.Tag = p.Tag
		evs = append(evs, events.New(ctx, p.Target, w))
	}
	return events.Append(ctx, tx, evs...)
}

// sourceMissing: the source lacks the image or part of it.
type sourceMissing struct {
	repo   string
	digest digest.Digest
	what   string
}

func (e *sourceMissing) Error() string {
	return fmt.Sprintf("%s %s is not in %s", e.what, e.digest, e.repo)
}

// promotionClosure reads, in tx, manifest d of repo with what it lists and
// every referrer of each, children before the indexes that list them and
// subjects before their referrers, each once.
func promotionClosure(ctx context.Context, tx meta.Tx, repo string, d digest.Digest) ([]closureManifest, error) {
	var out []closureManifest
	seen := map[digest.Digest]bool{}
	var visit func(d digest.Digest, role string, subject digest.Digest) error
	visit = func(d digest.Digest, role string, subject digest.Digest) error {
		if seen[d] {
			return nil
		}
		seen[d] = true
		if len(seen) > maxClosure {
			return apierr.New(apierr.Denied, "the image %s has more than %d manifests with its platforms and referrers; not promoted", d, maxClosure)
		}
		m, err := tx.Manifest(ctx, repo, d)
		if errors.Is(err, meta.ErrNotFound) {
			what := "manifest"
			if role == "platform" {
				what = "platform manifest"
			}
			return &sourceMissing{repo: repo, digest: d, what: what}
		}
		if err != nil {
			return err
		}
		parsed, err := oci.ParseManifest(m.MediaType, m.Payload)
		if err != nil {
			return fmt.Errorf("parse stored manifest %s of %s: %w", d, repo, err)
		}
		for _, c := range parsed.Manifests {
			if err := visit(c.Digest, "platform", ""); err != nil {
				return err
			}
		}
		rec := m
		rec.Blobs, rec.Children = nil, nil
		for _, b := range parsed.Blobs() {
			if !oci.IsNonDistributable(b.MediaType) {
				rec.Blobs = append(rec.Blobs, b.Digest)
			}
		}
		for _, c := range parsed.Manifests {
			rec.Children = append(rec.Children, c.Digest)
		}
		out = append(out, closureManifest{PromotedManifest: PromotedManifest{
			Digest: d, MediaType: m.MediaType, ArtifactType: m.ArtifactType, Role: role, Subject: subject,
		}, rec: rec})
		refs, err := tx.Referrers(ctx, repo, d, "")
		if err != nil {
			return err
		}
		for _, ref := range refs {
			if err := visit(ref.Digest, "referrer", d); err != nil {
				return err
			}
		}
		for _, tag := range attachmentTags(d) {
			t, err := tx.Tag(ctx, repo, tag)
			if errors.Is(err, meta.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			n := len(out)
			if err := visit(t.Digest, "attachment", d); err != nil {
				return err
			}
			if len(out) > n {
				out[len(out)-1].Tag = tag
			} else {
				// Listed already (as a referrer too): tag it all the same.
				for _, m := range out[:n] {
					if m.Digest == t.Digest {
						m.Role, m.Subject, m.Tag = "attachment", d, tag
						out = append(out, m)
						break
					}
				}
			}
		}
		return nil
	}
	if err := visit(d, "image", ""); err != nil {
		return nil, err
	}
	return out, nil
}

// attachmentTags are the tags cosign's tag schema attaches signatures,
// attestations and SBOMs of manifest d by: sha256-<hex>.sig, .att, .sbom.
func attachmentTags(d digest.Digest) []string {
	if d.Algorithm() != digest.SHA256 {
		return nil
	}
	base := "sha256-" + d.Encoded()
	return []string{base + ".sig", base + ".att", base + ".sbom"}
}

// tagAttachment points an attachment's tag in repo at d, reporting whether
// it moved. An attachment tag the target's immutability rules hold keeps
// what it names: the image is promoted with the attachments it had, and
// the promotion is not refused for them.
func tagAttachment(ctx context.Context, tx meta.Tx, repo, tag string, d digest.Digest) (bool, error) {
	cur, err := tx.Tag(ctx, repo, tag)
	if err == nil && cur.Digest == d {
		return false, nil
	}
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return false, err
	}
	var ie *immutableError
	if _, err := guardTagMove(ctx, tx, repo, tag, d); errors.As(err, &ie) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, tx.PutTag(ctx, repo, tag, d)
}

// copyManifest links m's blobs from repo src into dst and stores m there,
// reporting whether dst did not hold it. The quota of dst's namespace is
// checked for each blob it did not hold and for the manifest; the warning
// of a write that crossed its warning share is returned.
func (r *Registry) copyManifest(ctx context.Context, tx meta.Tx, src, dst string, m meta.Manifest) (bool, *events.QuotaWarning, error) {
	_, err := tx.Manifest(ctx, dst, m.Digest)
	if err == nil {
		return false, nil, nil
	}
	if !errors.Is(err, meta.ErrNotFound) {
		return false, nil, err
	}
	var warning *events.QuotaWarning
	for _, d := range m.Blobs {
		b, err := tx.Blob(ctx, src, d)
		if errors.Is(err, meta.ErrNotFound) {
			return false, nil, &sourceMissing{repo: src, digest: d, what: "blob"}
		}
		if err != nil {
			return false, nil, err
		}
		w, err := r.checkBlobQuota(ctx, tx, dst, b)
		if err != nil {
			return false, nil, err
		}
		warning = cmp.Or(w, warning)
		if err := tx.LinkBlob(ctx, dst, d); err != nil {
			return false, nil, err
		}
	}
	m.Repository = dst
	m.CreatedAt = time.Now().UTC() // when it came to dst: the age retention counts
	w, err := r.checkManifestQuota(ctx, tx, m)
	if err != nil {
		return false, nil, err
	}
	warning = cmp.Or(w, warning)
	if err := tx.PutManifest(ctx, m); err != nil {
		var refErr *meta.ReferenceError
		if errors.As(err, &refErr) {
			return false, nil, &sourceMissing{repo: src, digest: refErr.Digest, what: "a reference"}
		}
		return false, nil, err
	}
	return true, warning, nil
}
