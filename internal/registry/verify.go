package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/trust"
)

// Signatures are verified with package trust, reading the repository
// through trustSource, and each verdict is cached in the metadata store
// per (image, signature, key set): a verdict depends on nothing else, so
// every replica can use every other's, and only a signature never seen
// under the key set, or one whose verdict lapsed, is verified again.

// trustSource is the repository as package trust reads it. Manifests are
// read with Manifest, not PullManifest: reading a signature is not a pull.
type trustSource struct{ r *Registry }

var _ trust.Source = trustSource{}

func (s trustSource) Manifest(ctx context.Context, repo, reference string) (trust.Manifest, error) {
	ref, err := oci.ParseReference(reference)
	if err != nil {
		return trust.Manifest{}, fmt.Errorf("reference %q: %w", reference, trust.ErrNotFound)
	}
	m, err := s.r.Manifest(ctx, repo, ref)
	if apierr.Is(err, apierr.ManifestUnknown) {
		return trust.Manifest{}, fmt.Errorf("%w: %v", trust.ErrNotFound, err)
	}
	if err != nil {
		return trust.Manifest{}, err
	}
	return trust.Manifest{Digest: m.Digest, MediaType: m.MediaType, Payload: m.Payload}, nil
}

func (s trustSource) Referrers(ctx context.Context, repo string, subject digest.Digest) ([]v1.Descriptor, error) {
	return s.r.Referrers(ctx, repo, subject, "")
}

func (s trustSource) Blob(ctx context.Context, repo string, d digest.Digest) (io.ReadCloser, error) {
	rc, _, err := s.r.OpenBlob(ctx, repo, d)
	if apierr.Is(err, apierr.BlobUnknown) {
		return nil, fmt.Errorf("%w: %v", trust.ErrNotFound, err)
	}
	return rc, err
}

// maxIndexesChecked bounds the indexes looked at for a platform image
// pulled by digest that has no valid signature of its own.
const maxIndexesChecked = 16

// signatures is the verdict on the signatures of image d of repo under
// st's key set: its own, and for an index that has no valid one, each
// platform image's. It returns when the verdict lapses (zero: never).
func (r *Registry) signatures(ctx context.Context, st *nsSettings, repo string, d digest.Digest) (*trust.Result, time.Time, error) {
	res, img, until, err := r.verifyImage(ctx, st, repo, d)
	if err != nil || res.Verified() {
		return res, until, err
	}
	for _, child := range r.verifier.PlatformImages(img.Children) {
		cr, _, cu, err := r.verifyImage(ctx, st, repo, child.Digest)
		if errors.Is(err, trust.ErrNotFound) {
			cr, err = &trust.Result{Image: child.Digest, MediaType: child.MediaType}, nil
		}
		if err != nil {
			return nil, time.Time{}, err
		}
		res.Children = append(res.Children, *cr)
		until = earliest(until, cu)
	}
	return res, until, nil
}

// signedIndex returns an index of repo that lists manifest d and has a
// valid signature of its own, if there is one: a platform image pulled by
// digest after its index counts as signed by the index's signature.
func (r *Registry) signedIndex(ctx context.Context, st *nsSettings, repo string, d digest.Digest) (digest.Digest, time.Time, error) {
	parents, err := r.meta.Indexes(ctx, repo, d)
	if err != nil {
		return "", time.Time{}, internal("list indexes", err)
	}
	if len(parents) > maxIndexesChecked {
		parents = parents[:maxIndexesChecked]
	}
	for _, p := range parents {
		res, _, until, err := r.verifyImage(ctx, st, repo, p)
		if errors.Is(err, trust.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", time.Time{}, err
		}
		if res.Verified() {
			return p, until, nil
		}
	}
	return "", time.Time{}, nil
}

// verifyImage verifies the signatures of image d of repo itself (not its
// children), checking only those without a cached verdict. It returns the
// image as found, with its signatures and children.
func (r *Registry) verifyImage(ctx context.Context, st *nsSettings, repo string, d digest.Digest) (*trust.Result, *trust.Image, time.Time, error) {
	img, err := r.verifier.Find(ctx, r.source, repo, d)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	res := &trust.Result{Image: img.Digest, MediaType: img.MediaType, Truncated: img.Truncated}
	var cached map[string]meta.SignatureVerdict
	if len(img.Signatures) > 0 {
		vs, err := r.meta.SignatureVerdicts(ctx, repo, d, st.fingerprint)
		if err != nil {
			return nil, nil, time.Time{}, internal("read signature verdicts", err)
		}
		cached = make(map[string]meta.SignatureVerdict, len(vs))
		for _, v := range vs {
			cached[v.Signature] = v
		}
	}
	now := r.now()
	var fresh []meta.SignatureVerdict
	current := make([]string, 0, len(img.Signatures))
	var until time.Time
	for _, sig := range img.Signatures {
		id := sig.ID()
		current = append(current, id)
		sr, ok := cachedResult(cached[id], now)
		r.hooks.policyCache("store", ok)
		if !ok {
			if sr, err = r.verifier.Check(ctx, r.source, st.keySet, repo, img, sig); err != nil {
				return nil, nil, time.Time{}, err
			}
			v := sr.Verdict()
			b, err := json.Marshal(v)
			if err != nil {
				return nil, nil, time.Time{}, internal("encode verdict", err)
			}
			fv := meta.SignatureVerdict{Signature: id, Fingerprint: st.fingerprint, Verdict: b, VerifiedAt: now}
			if sr.Signer != nil {
				fv.ValidUntil = sr.Signer.ValidUntil
			}
			fresh = append(fresh, fv)
			r.hooks.signatureVerified(ctx, repo, d, v)
		}
		if sr.Valid() {
			until = earliest(until, sr.Signer.ValidUntil)
		}
		res.Signatures = append(res.Signatures, sr)
	}
	if len(fresh) > 0 || len(cached) > len(img.Signatures)-len(fresh) {
		if err := r.meta.PutSignatureVerdicts(ctx, repo, d, st.fingerprint, fresh, current); err != nil {
			// A cache: the verdict stands, it is only computed again next time.
			r.log.Warn("storing signature verdicts failed", "repository", repo, "digest", d, "err", err)
		}
	}
	return res, img, until, nil
}

// cachedResult rebuilds a signature's result from its cached verdict,
// unless there is none, it lapsed, or it cannot be read.
func cachedResult(v meta.SignatureVerdict, now time.Time) (trust.SignatureResult, bool) {
	if v.Verdict == nil || (!v.ValidUntil.IsZero() && !now.Before(v.ValidUntil)) {
		return trust.SignatureResult{}, false
	}
	var verdict trust.Verdict
	if err := json.Unmarshal(v.Verdict, &verdict); err != nil || verdict.Signature != v.Signature {
		return trust.SignatureResult{}, false
	}
	return verdict.SignatureResult(), true
}

// earliest returns the earlier of two expiries, zero meaning never.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}
