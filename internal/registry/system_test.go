package registry_test

import (
	"context"
	"testing"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/trust"
)

// TestPolicySystemWide: the system-wide key set is trusted in every
// namespace besides its own, and the system-wide image policy is the floor
// of every namespace's: a namespace without settings is held to it, and
// one that turns a rule off is held to it still.
func TestPolicySystemWide(t *testing.T) {
	release, team, stranger := newSigner(t, "release"), newSigner(t, "team"), newSigner(t, "stranger")
	system := &trust.KeySetConfig{Keys: []trust.KeyConfig{release.cfg}}
	floor := &policy.ImagePolicy{RequireSignature: policy.SignatureRule{Mode: policy.ModeEnforce}}
	eachStoreWith(t, func(o *registry.Options) { o.SystemKeySet, o.SystemPolicy = system, floor }, func(t *testing.T, r *testReg) {
		// A namespace with no settings of its own.
		r.createNamespace("prod")
		d := r.image("prod/app", "v1", "one")
		r.wantRefused("unsigned, no settings", "prod/app", "v1", policy.RuleRequireSignature,
			"no signature by a trusted key (expected key system/release)")
		r.sign("prod/app", d, stranger.key, nil, nil)
		r.wantRefused("signed by a stranger", "prod/app", "v1", policy.RuleRequireSignature)
		r.sign("prod/app", d, release.key, nil, nil)
		r.wantServed("signed by the system-wide key", "prod/app", "v1")

		// A namespace that trusts a key of its own and turns the rule off:
		// the rule stays enforced; its key and the system-wide one count.
		r.createNamespace("team")
		r.keySet("team", team)
		r.imagePolicy("team", policy.ImagePolicy{RequireSignature: policy.SignatureRule{Mode: policy.ModeOff}, RequireSBOM: policy.SBOMRule{Mode: policy.ModeWarn}})
		a := r.image("team/a", "v1", "a")
		r.wantRefused("unsigned, rule off in the namespace", "team/a", "v1", policy.RuleRequireSignature,
			"expected key team or key system/release")
		r.sign("team/a", a, team.key, nil, nil)
		if _, w, err := r.pull("team/a", "v1"); err != nil || w == "" {
			t.Errorf("signed by the namespace's key: %v, warning %q; want served with the SBOM warning", err, w)
		}
		b := r.image("team/b", "v1", "b")
		r.sign("team/b", b, release.key, nil, nil)
		if _, _, err := r.pull("team/b", "v1"); err != nil {
			t.Errorf("signed by the system-wide key in a namespace with its own: %v", err)
		}

		// What the check shows is the policy applied, floor included.
		c, err := r.Check(context.Background(), "team/a", ref("v1"), "")
		if err != nil {
			t.Fatal(err)
		}
		if c.Policy.RequireSignature.Mode != policy.ModeEnforce || c.Policy.RequireSBOM.Mode != policy.ModeWarn {
			t.Errorf("check shows policy %+v, want the namespace's joined with the floor", c.Policy)
		}

		// A namespace's key named like a system-wide one is its own.
		r.createNamespace("dup")
		r.keySet("dup", signer{key: stranger.key, cfg: trust.KeyConfig{Name: "release", PEM: stranger.cfg.PEM}})
		e := r.image("dup/x", "v1", "x")
		r.sign("dup/x", e, release.key, nil, nil)
		r.wantServed("system key beside a namespace key of the same name", "dup/x", "v1")
	})
}

// TestPolicySystemTrustedRoot: keyless identities of a namespace and of
// the system-wide key set are verified against one trusted root, so a
// namespace's key set naming another root is refused, saying why.
func TestPolicySystemTrustedRoot(t *testing.T) {
	system := &trust.KeySetConfig{
		Identities:  []trust.IdentityConfig{{Issuer: "https://issuer.example.com", Subject: "ci@example.com"}},
		TrustedRoot: []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`),
	}
	eachStoreWith(t, func(o *registry.Options) { o.SystemKeySet = system }, func(t *testing.T, r *testReg) {
		r.createNamespace("prod")
		own := trust.KeySetConfig{
			Identities:  []trust.IdentityConfig{{Issuer: "https://other.example.com", Subject: "me@example.com"}},
			TrustedRoot: []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[]}`),
		}
		_, err := r.SetKeySet(context.Background(), "prod", &own)
		wantCode(t, "another trusted root", err, apierr.RequestInvalid, "trustedRoot differs from the system-wide key set's")
		own.TrustedRoot = []byte(` {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`)
		if _, err := r.SetKeySet(context.Background(), "prod", &own); err != nil {
			t.Errorf("the same trusted root, written otherwise: %v", err)
		}
		own.TrustedRoot = nil
		if _, err := r.SetKeySet(context.Background(), "prod", &own); err != nil {
			t.Errorf("identities without a root of their own (the system-wide one): %v", err)
		}
	})
}
