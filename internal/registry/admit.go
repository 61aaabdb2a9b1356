package registry

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/trust"
)

// Every manifest pull (GET or HEAD, by tag or by digest, of a stored or a
// pull-through cached manifest) passes the image policy of its namespace
// here, in [Registry.PullManifest]. The decision on a manifest is kept in
// the manifest cache beside the manifest, so it is dropped with it on any
// write to the repository (a tag moved, a signature pushed or deleted),
// and when the namespace's settings change; it is also dropped when a
// verdict it relied on lapses. Decisions are per digest: a tag moved to
// another manifest is judged as that manifest.
//
// What is not judged here, on purpose: blob reads (a blob is content
// shared by every image that holds it, and a blob GET names no image), the
// referrers API and tag listing (metadata that cosign and notation need to
// verify an image), and signatures, attestations and SBOMs themselves
// (policy.IsAttachment), which clients must read to verify an image.

// admission is the image policy's decision on pulls of one manifest under
// one reading of its namespace's settings.
type admission struct {
	settings *nsSettings
	refusal  *policy.Violation
	warnings []policy.Violation
	expires  time.Time // zero: does not lapse
}

// PolicyOutcome is a rule of an image policy that a pull broke.
type PolicyOutcome struct {
	Namespace  string
	Repository string
	// Reference is what the pull named: a tag or a digest.
	Reference string
	Digest    digest.Digest
	policy.Violation
	// Pusher is set when an enforced rule was broken but the pull was
	// served, with a warning, to a caller who may push (see WithPusher).
	Pusher bool
}

// ImageCheck is what a namespace's image policy makes of an image, with
// the facts it judged.
type ImageCheck struct {
	Repository string
	Digest     digest.Digest
	MediaType  string
	// Namespace is the namespace whose policy and key set applied.
	Namespace string
	// Policy is that policy; no rule is on without one.
	Policy policy.ImagePolicy
	// Exempt says why the policy does not apply to the manifest ("" when
	// it does): signatures, attestations and SBOMs are always served.
	Exempt string
	// Decision is the policy's verdict: the rules broken.
	Decision policy.Decision
	// Signatures is the verdict on the image's signatures; nil when the
	// namespace has no key set and no rule needed it.
	Signatures *trust.Result
	// SignedIndex is set when the image counts as signed because an index
	// of the repository that lists it has a valid signature.
	SignedIndex digest.Digest
	// KeySet says what the namespace's key set trusts.
	KeySet string
	// Platforms are the scans judged; SBOM whether an SBOM is stored.
	Platforms []policy.PlatformScan
	Allowlist []policy.AllowedVulnerability
	SBOM      bool
	// ValidUntil is when the decision lapses; zero for never.
	ValidUntil time.Time
}

// admit applies the image policy of repo's namespace to a pull of m by
// ref: an error refuses the pull; a warning is served with it.
func (r *Registry) admit(ctx context.Context, repo string, ref oci.Reference, m *meta.Manifest) (Warning, error) {
	ns := oci.Namespace(repo)
	st, err := r.namespaceSettings(ctx, ns)
	if err != nil {
		return "", err
	}
	if st.err != nil {
		return "", internal("apply the image policy", st.err)
	}
	if !st.policy.Active() {
		return "", nil
	}
	now := r.now()
	a := r.cache.decision(repo, m.Digest)
	hit := a != nil && a.settings == st && (a.expires.IsZero() || now.Before(a.expires))
	r.hooks.policyCache("memory", hit)
	if !hit {
		gen := r.cache.generation()
		c, err := r.judge(ctx, st, repo, m, false)
		if err != nil {
			return "", err
		}
		a = &admission{settings: st, refusal: c.Decision.Refusal(), warnings: c.Decision.Warnings(), expires: c.ValidUntil}
		r.cache.putDecision(gen, repo, m.Digest, a)
	}
	outcome := func(v policy.Violation) PolicyOutcome {
		return PolicyOutcome{Namespace: ns, Repository: repo, Reference: ref.String(), Digest: m.Digest, Violation: v}
	}
	var msgs []string
	if v := a.refusal; v != nil {
		if st.policy.EnforceOnPushers || !mayPush(ctx) {
			r.hooks.pullRefused(ctx, outcome(*v))
			detail := map[string]any{"namespace": ns, "rule": v.Rule, "digest": m.Digest.String()}
			if len(v.Vulnerabilities) > 0 {
				detail["vulnerabilities"] = v.Vulnerabilities
			}
			return "", apierr.New(apierr.Denied, "%s", v.Message).WithDetail(detail)
		}
		o := outcome(*v)
		o.Pusher = true
		r.hooks.pullWarned(ctx, o)
		msgs = append(msgs, v.Message+" (served to a caller who may push to "+repo+"; refused to those who may only pull)")
	}
	for _, v := range a.warnings {
		r.hooks.pullWarned(ctx, outcome(v))
		msgs = append(msgs, v.Message)
	}
	return Warning(strings.Join(msgs, "; ")), nil
}

type pushCheckKey struct{}

// WithPushCheck returns ctx carrying mayPush, which says whether the
// caller of a pull may also push to the repository; the registry asks it
// only when an enforced rule would refuse the pull. An image policy serves
// such a caller what the rule refuses, with the refusal as a warning,
// unless the policy says enforceOnPushers: CI must read the image it
// pushed to sign it, scan it or attach its SBOM (cosign sign reads the
// manifest before it pushes the signature), and a pusher could push the
// image anyway. The pulls the policy guards, those of deployments with
// credentials that may only pull, are refused. Without a check (a
// registry without access control) every caller is refused.
func WithPushCheck(ctx context.Context, mayPush func(context.Context) bool) context.Context {
	return context.WithValue(ctx, pushCheckKey{}, mayPush)
}

// WithPusher is WithPushCheck for a caller known to be able to push.
func WithPusher(ctx context.Context) context.Context {
	return WithPushCheck(ctx, func(context.Context) bool { return true })
}

func mayPush(ctx context.Context) bool {
	check, _ := ctx.Value(pushCheckKey{}).(func(context.Context) bool)
	return check != nil && check(ctx)
}

// Check says what the image policy of namespace (repo's own when "")
// makes of image ref of repo, and why, without pulling it: what `wharf
// policy check` shows, and what a promotion into namespace must pass. It
// reads every fact the policy could judge, whether or not its rule is on,
// and scans nothing.
func (r *Registry) Check(ctx context.Context, repo string, ref oci.Reference, namespace string) (*ImageCheck, error) {
	if err := checkName(repo); err != nil {
		return nil, err
	}
	if namespace == "" {
		namespace = oci.Namespace(repo)
	}
	m, err := r.Manifest(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	st, err := r.namespaceSettings(ctx, namespace)
	if err != nil {
		return nil, err
	}
	if st.err != nil {
		return nil, internal("apply the image policy", st.err)
	}
	return r.judge(ctx, st, repo, m, true)
}

// judge gathers the facts st's policy judges of m and judges them.
// With all, it gathers every fact, not only those of the rules on, and
// does not scan.
func (r *Registry) judge(ctx context.Context, st *nsSettings, repo string, m *meta.Manifest, all bool) (*ImageCheck, error) {
	ns := st.stored.Namespace
	p := st.policy
	c := &ImageCheck{Repository: repo, Digest: m.Digest, MediaType: m.MediaType, Namespace: ns, Policy: p, KeySet: expected(st)}
	parsed, err := oci.ParseManifest(m.MediaType, m.Payload)
	if err != nil {
		return nil, internal("parse stored manifest", err)
	}
	if policy.IsAttachment(parsed) {
		c.Exempt = "a signature, attestation or SBOM: served whatever the policy, so that clients can verify images"
		return c, nil
	}
	img := policy.Image{Namespace: ns, Digest: m.Digest}
	if p.RequireSignature.Mode.On() || (all && st.configured) {
		if err := r.signatureFacts(ctx, st, repo, m.Digest, parsed, c, &img); err != nil {
			return nil, err
		}
	}
	if p.NeedsScans() || all {
		if all {
			p.RequireScan.ScanFirst = false
		}
		if img.Platforms, img.Allowlist, err = r.scanFacts(ctx, p, ns, repo, m.Digest, parsed); err != nil {
			return nil, err
		}
		c.Platforms, c.Allowlist = img.Platforms, img.Allowlist
	}
	if p.RequireSBOM.Mode.On() || all {
		if img.SBOM, err = r.hasSBOM(ctx, repo, m.Digest, parsed); err != nil {
			return nil, err
		}
		c.SBOM = img.SBOM
	}
	c.Decision = policy.EvaluateImage(st.policy, img, r.now())
	c.ValidUntil = earliest(c.ValidUntil, c.Decision.ValidUntil)
	return c, nil
}

// signatureFacts verifies the signatures of image d for the
// require-signature rule.
func (r *Registry) signatureFacts(ctx context.Context, st *nsSettings, repo string, d digest.Digest, parsed *oci.Manifest, c *ImageCheck, img *policy.Image) error {
	res, until, err := r.signatures(ctx, st, repo, d)
	if err != nil {
		return verifyError(err)
	}
	c.Signatures = res
	facts := policy.SignatureFacts{Verified: res.Verified(), Expected: c.KeySet}
	if !facts.Verified && !parsed.IsIndex() {
		idx, iu, err := r.signedIndex(ctx, st, repo, d)
		if err != nil {
			return verifyError(err)
		}
		if idx != "" {
			facts.Verified, facts.ViaIndex, until = true, idx, iu
			c.SignedIndex = idx
		}
	}
	for _, s := range res.Signers() {
		facts.Signers = append(facts.Signers, s.String())
	}
	if !facts.Verified {
		facts.Reason = res.Err().Error()
	}
	img.Signature = facts
	c.ValidUntil = earliest(c.ValidUntil, until)
	return nil
}

// expected says what st's key set trusts, for refusals.
func expected(st *nsSettings) string {
	if !st.configured {
		return fmt.Sprintf("a key set, but namespace %s has none", st.stored.Namespace)
	}
	return st.keySet.Expected()
}

func verifyError(err error) error { return internal("verify signatures", err) }
