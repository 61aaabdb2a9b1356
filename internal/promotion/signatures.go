package promotion

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
)

// RegistrySignatures reads the signature gate's evidence from the
// registry's image policies: the signatures of the image in its source
// repository, verified against the key set of the *target* namespace (what
// `wharf policy check --namespace TARGET` shows). A target without a key
// set trusts no one: the gate then refuses, saying so.
type RegistrySignatures struct {
	Registry *registry.Registry
}

// Signature verifies the signatures of image d of repo for namespace.
func (s RegistrySignatures) Signature(ctx context.Context, repo string, d digest.Digest, namespace string) (SignatureEvidence, error) {
	c, err := s.Registry.Check(ctx, repo, oci.Reference{Digest: d}, namespace)
	if err != nil {
		return SignatureEvidence{}, err
	}
	ev := SignatureEvidence{Expected: c.KeySet}
	if c.Signatures == nil {
		ev.Reason = "namespace " + namespace + " trusts no key or identity (no key set)"
		return ev, nil
	}
	ev.Verified = c.Signatures.Verified() || c.SignedIndex != ""
	for _, sg := range c.Signatures.Signers() {
		ev.Signers = append(ev.Signers, sg.String())
	}
	for _, r := range c.Signatures.Signatures {
		if r.Valid() {
			ev.Signatures = append(ev.Signatures, r.Signature.Manifest)
		}
	}
	if c.SignedIndex != "" {
		ev.Signers = append(ev.Signers, "the index "+c.SignedIndex.String()+" that lists it")
	}
	if !ev.Verified {
		if err := c.Signatures.Err(); err != nil {
			ev.Reason = err.Error()
		}
	}
	return ev, nil
}
