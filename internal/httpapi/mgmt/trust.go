package mgmt

import (
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/trust"
)

// The trust endpoints: per namespace, its key set (the keys, keyless
// identities and notation trust policies signatures are verified against)
// and its image policy (what a pull must pass); and the check of an image
// against a policy. A namespace's admins manage its settings, system
// administrators every namespace's; anyone who may see a namespace may read
// them (they hold public keys and certificates, no secret); anyone who may
// pull an image may check it.
var trustRoutes = []route{
	{method: http.MethodGet, path: "/api/v1/namespaces/{namespace}/trust", handler: (*Handler).getKeySet},
	{method: http.MethodPut, path: "/api/v1/namespaces/{namespace}/trust", handler: (*Handler).putKeySet},
	{method: http.MethodDelete, path: "/api/v1/namespaces/{namespace}/trust", handler: (*Handler).deleteKeySet},
	{method: http.MethodGet, path: "/api/v1/namespaces/{namespace}/image-policy", handler: (*Handler).getImagePolicy},
	{method: http.MethodPut, path: "/api/v1/namespaces/{namespace}/image-policy", handler: (*Handler).putImagePolicy},
	{method: http.MethodDelete, path: "/api/v1/namespaces/{namespace}/image-policy", handler: (*Handler).deleteImagePolicy},
	{method: http.MethodGet, path: "/api/v1/repositories/{repository}/manifests/{reference}/check", handler: (*Handler).checkImage},
}

// KeySet is a namespace's key set as the API shows it.
type KeySet struct {
	Namespace string             `json:"namespace"`
	KeySet    trust.KeySetConfig `json:"keySet"`
	// Fingerprint identifies the configuration: verdicts are cached under it.
	Fingerprint string    `json:"fingerprint"`
	Version     int64     `json:"version"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// ImagePolicy is a namespace's image policy as the API shows it.
type ImagePolicy struct {
	Namespace string             `json:"namespace"`
	Policy    policy.ImagePolicy `json:"policy"`
	Version   int64              `json:"version"`
	UpdatedAt time.Time          `json:"updatedAt"`
}

func (h *Handler) getKeySet(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	if _, err := h.namespace(r.Context(), c, ns); err != nil {
		return err
	}
	ts, err := h.opts.Registry.TrustSettings(r.Context(), ns)
	if err != nil {
		return storeError(err, "key set")
	}
	if ts.KeySet == nil {
		return apierr.New(apierr.NotFound, "namespace %s has no key set", ns)
	}
	return writeJSON(w, http.StatusOK, KeySet{Namespace: ns, KeySet: *ts.KeySet, Fingerprint: ts.Fingerprint, Version: ts.Version, UpdatedAt: ts.UpdatedAt})
}

func (h *Handler) putKeySet(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	var in trust.KeySetConfig
	var ts registry.TrustSettings
	err := func() error {
		if _, err := h.manageable(r.Context(), c, ns); err != nil {
			return err
		}
		if err := decode(w, r, &in); err != nil {
			return err
		}
		var err error
		ts, err = h.opts.Registry.SetKeySet(r.Context(), ns, &in)
		return err
	}()
	h.refused(r, c, "trust.set", ns, err) // the change's event is in its transaction
	if err != nil {
		return storeError(err, "key set")
	}
	return writeJSON(w, http.StatusOK, KeySet{Namespace: ns, KeySet: *ts.KeySet, Fingerprint: ts.Fingerprint, Version: ts.Version, UpdatedAt: ts.UpdatedAt})
}

func (h *Handler) deleteKeySet(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	err := func() error {
		if _, err := h.manageable(r.Context(), c, ns); err != nil {
			return err
		}
		ts, err := h.opts.Registry.TrustSettings(r.Context(), ns)
		if err != nil {
			return err
		}
		if ts.KeySet == nil {
			return apierr.New(apierr.NotFound, "namespace %s has no key set", ns)
		}
		_, err = h.opts.Registry.SetKeySet(r.Context(), ns, nil)
		return err
	}()
	h.refused(r, c, "trust.delete", ns, err)
	if err != nil {
		return storeError(err, "key set")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) getImagePolicy(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	if _, err := h.namespace(r.Context(), c, ns); err != nil {
		return err
	}
	ts, err := h.opts.Registry.TrustSettings(r.Context(), ns)
	if err != nil {
		return storeError(err, "image policy")
	}
	if ts.Policy == nil {
		return apierr.New(apierr.NotFound, "namespace %s has no image policy", ns)
	}
	return writeJSON(w, http.StatusOK, ImagePolicy{Namespace: ns, Policy: *ts.Policy, Version: ts.Version, UpdatedAt: ts.UpdatedAt})
}

func (h *Handler) putImagePolicy(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	var in policy.ImagePolicy
	var ts registry.TrustSettings
	err := func() error {
		if _, err := h.manageable(r.Context(), c, ns); err != nil {
			return err
		}
		if err := decode(w, r, &in); err != nil {
			return err
		}
		var err error
		ts, err = h.opts.Registry.SetImagePolicy(r.Context(), ns, &in)
		return err
	}()
	h.refused(r, c, "image-policy.set", ns, err) // the change's event is in its transaction
	if err != nil {
		return storeError(err, "image policy")
	}
	return writeJSON(w, http.StatusOK, ImagePolicy{Namespace: ns, Policy: *ts.Policy, Version: ts.Version, UpdatedAt: ts.UpdatedAt})
}

func (h *Handler) deleteImagePolicy(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	err := func() error {
		if _, err := h.manageable(r.Context(), c, ns); err != nil {
			return err
		}
		ts, err := h.opts.Registry.TrustSettings(r.Context(), ns)
		if err != nil {
			return err
		}
		if ts.Policy == nil {
			return apierr.New(apierr.NotFound, "namespace %s has no image policy", ns)
		}
		_, err = h.opts.Registry.SetImagePolicy(r.Context(), ns, nil)
		return err
	}()
	h.refused(r, c, "image-policy.delete", ns, err)
	if err != nil {
		return storeError(err, "image policy")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// PolicyCheck is what an image policy makes of an image, and why.
type PolicyCheck struct {
	Repository string        `json:"repository"`
	Reference  string        `json:"reference"`
	Digest     digest.Digest `json:"digest"`
	MediaType  string        `json:"mediaType"`
	// Namespace is the namespace whose policy and key set were applied.
	Namespace string `json:"namespace"`
	// Allowed: a pull would be served (with Warnings, if any).
	Allowed  bool     `json:"allowed"`
	Refusal  string   `json:"refusal,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Exempt says why no rule applies: the manifest is a signature,
	// attestation or SBOM.
	Exempt string      `json:"exempt,omitempty"`
	Rules  []RuleCheck `json:"rules"`
	// KeySet says what the namespace's key set trusts.
	KeySet string `json:"keySet"`
	// Signatures are the verdicts on the image's own signatures;
	// PlatformSignatures, for an index without a valid one, each platform
	// image's. SignedIndex names the signed index a platform image counts
	// as signed by.
	Signatures         []trust.Verdict     `json:"signatures"`
	PlatformSignatures []PlatformSignature `json:"platformSignatures,omitempty"`
	SignedIndex        digest.Digest       `json:"signedIndex,omitempty"`
	Scans              []ScanCheck         `json:"scans,omitempty"`
	SBOM               bool                `json:"sbom"`
	// ValidUntil is when the decision lapses (a certificate expires, an
	// allowlist entry ends).
	ValidUntil *time.Time `json:"validUntil,omitempty"`
}

// RuleCheck is one rule's verdict.
type RuleCheck struct {
	Rule   string      `json:"rule"`
	Mode   policy.Mode `json:"mode"`
	Passed bool        `json:"passed"`
	// Message says what broke the rule, for a rule broken.
	Message         string   `json:"message,omitempty"`
	Vulnerabilities []string `json:"vulnerabilities,omitempty"`
}

// PlatformSignature is the verdict on a platform image's signatures.
type PlatformSignature struct {
	Digest     digest.Digest   `json:"digest"`
	Verified   bool            `json:"verified"`
	Signatures []trust.Verdict `json:"signatures"`
}

// ScanCheck is a platform image's scan as a check shows it.
type ScanCheck struct {
	Platform    string            `json:"platform,omitempty"`
	Digest      digest.Digest     `json:"digest"`
	Status      policy.ScanStatus `json:"status"`
	Error       string            `json:"error,omitempty"`
	ScannedAt   *time.Time        `json:"scannedAt,omitempty"`
	DataVersion string            `json:"dataVersion,omitempty"`
	Summary     scan.Summary      `json:"summary"`
}

func (h *Handler) checkImage(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	repo, reference := p["repository"], p["reference"]
	if err := h.repoAccess(r.Context(), c, repo, auth.ActionPull); err != nil {
		return err
	}
	ref, err := oci.ParseReference(reference)
	if err != nil {
		return invalid("reference %q: %v", truncate(reference), err)
	}
	ns := r.URL.Query().Get("namespace")
	if ns != "" {
		if _, err := h.namespace(r.Context(), c, ns); err != nil {
			return err
		}
	}
	ic, err := h.opts.Registry.Check(r.Context(), repo, ref, ns)
	if err != nil {
		return registryError(err, "manifest "+repo+":"+reference)
	}
	return writeJSON(w, http.StatusOK, policyCheck(ic, reference))
}

func policyCheck(ic *registry.ImageCheck, reference string) PolicyCheck {
	out := PolicyCheck{
		Repository: ic.Repository, Reference: reference, Digest: ic.Digest, MediaType: ic.MediaType,
		Namespace: ic.Namespace, Allowed: true, Exempt: ic.Exempt, KeySet: ic.KeySet,
		Signatures: []trust.Verdict{}, SignedIndex: ic.SignedIndex, SBOM: ic.SBOM, Rules: []RuleCheck{},
	}
	if v := ic.Decision.Refusal(); v != nil {
		out.Allowed, out.Refusal = false, v.Message
	}
	for _, v := range ic.Decision.Warnings() {
		out.Warnings = append(out.Warnings, v.Message)
	}
	for _, rule := range policy.Rules {
		rc := RuleCheck{Rule: rule, Mode: ic.Policy.WithDefaults().Mode(rule), Passed: true}
		for _, v := range ic.Decision.Violations {
			if v.Rule == rule {
				rc.Passed, rc.Message, rc.Vulnerabilities = false, v.Message, v.Vulnerabilities
			}
		}
		out.Rules = append(out.Rules, rc)
	}
	if res := ic.Signatures; res != nil {
		for _, s := range res.Signatures {
			out.Signatures = append(out.Signatures, s.Verdict())
		}
		for _, child := range res.Children {
			ps := PlatformSignature{Digest: child.Image, Verified: child.Verified(), Signatures: []trust.Verdict{}}
			for _, s := range child.Signatures {
				ps.Signatures = append(ps.Signatures, s.Verdict())
			}
			out.PlatformSignatures = append(out.PlatformSignatures, ps)
		}
	}
	for _, ps := range ic.Platforms {
		sc := ScanCheck{Platform: ps.Platform, Digest: ps.Digest, Status: ps.Status, Error: ps.Error,
			DataVersion: ps.DataVersion, Summary: scan.Summarize(ps.Findings)}
		if !ps.ScannedAt.IsZero() {
			t := ps.ScannedAt
			sc.ScannedAt = &t
		}
		out.Scans = append(out.Scans, sc)
	}
	if !ic.ValidUntil.IsZero() {
		t := ic.ValidUntil
		out.ValidUntil = &t
	}
	return out
}
