package registry_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/trust"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

// signer is a cosign key pair and the key set entry trusting it.
type signer struct {
	key crypto.PrivateKey
	cfg trust.KeyConfig
}

func newSigner(t testing.TB, name string) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := trusttest.PublicKeyPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return signer{key: k, cfg: trust.KeyConfig{Name: name, PEM: string(pem)}}
}

// createNamespace creates namespace ns in the test's store.
func (r *testReg) createNamespace(ns string) {
	r.t.Helper()
	if err := r.store.(meta.Access).CreateNamespace(context.Background(), meta.Namespace{Name: ns}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *testReg) keySet(ns string, keys ...signer) {
	r.t.Helper()
	cfg := trust.KeySetConfig{}
	for _, k := range keys {
		cfg.Keys = append(cfg.Keys, k.cfg)
	}
	if _, err := r.SetKeySet(context.Background(), ns, &cfg); err != nil {
		r.t.Fatal(err)
	}
}

func (r *testReg) imagePolicy(ns string, p policy.ImagePolicy) {
	r.t.Helper()
	if _, err := r.SetImagePolicy(context.Background(), ns, &p); err != nil {
		r.t.Fatal(err)
	}
}

// pull pulls repo:ref as a client does.
func (r *testReg) pull(repo, ref string) (digest.Digest, registry.Warning, error) {
	m, w, err := r.PullManifest(context.Background(), repo, refOrTag(ref))
	if err != nil {
		return "", "", err
	}
	return m.Digest, w, nil
}

func refOrTag(s string) oci.Reference { return ref(s) }

// descriptor describes a blob or manifest payload.
func descriptor(mediaType string, b []byte) v1.Descriptor {
	return v1.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

// pushManifest stores m (marshalled) in repo under ref.
func (r *testReg) pushManifest(repo, ref, mediaType string, m any) digest.Digest {
	r.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		r.t.Fatal(err)
	}
	d, _, err := r.PutManifest(context.Background(), repo, refOrDigest(ref, b), mediaType, b)
	if err != nil {
		r.t.Fatalf("push manifest to %s: %v", repo, err)
	}
	return d
}

func refOrDigest(s string, payload []byte) oci.Reference {
	if s == "" {
		return ref(digest.FromBytes(payload).String())
	}
	return ref(s)
}

// sign pushes a cosign signature of image by k: in the tag schema, or as
// a referrer of subject when subject is set.
func (r *testReg) sign(repo string, image digest.Digest, k crypto.PrivateKey, annotations map[string]string, subject *v1.Descriptor) digest.Digest {
	r.t.Helper()
	layer, err := trusttest.NewCosignLayer(k, trusttest.SimpleSigning(image))
	if err != nil {
		r.t.Fatal(err)
	}
	for name, v := range annotations {
		layer.Annotations[name] = v
	}
	cfg := []byte(`{}`)
	r.mustBlob(repo, cfg)
	r.mustBlob(repo, layer.Payload)
	l := descriptor(trust.MediaTypeSimpleSigning, layer.Payload)
	l.Annotations = layer.Annotations
	m := v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		Config: descriptor(v1.MediaTypeImageConfig, cfg), Layers: []v1.Descriptor{l}}
	tag := trust.SignatureTag(image)
	if subject != nil {
		m.ArtifactType, m.Config.MediaType, m.Subject, tag = trust.ArtifactTypeCosignSig, v1.MediaTypeEmptyJSON, subject, ""
	}
	return r.pushManifest(repo, tag, v1.MediaTypeImageManifest, m)
}

// index pushes an index of children under tag.
func (r *testReg) index(repo, tag string, children ...digest.Digest) digest.Digest {
	r.t.Helper()
	idx := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex}
	for i, c := range children {
		m, err := r.Manifest(context.Background(), repo, ref(c.String()))
		if err != nil {
			r.t.Fatal(err)
		}
		arch := []string{"amd64", "arm64", "s390x"}[i%3]
		idx.Manifests = append(idx.Manifests, v1.Descriptor{MediaType: m.MediaType, Digest: c, Size: m.Size, Platform: &v1.Platform{OS: "linux", Architecture: arch}})
	}
	return r.pushManifest(repo, tag, v1.MediaTypeImageIndex, idx)
}

// wantRefused fails unless pulling repo:ref is refused by rule, saying
// each of says.
func (r *testReg) wantRefused(what, repo, ref, rule string, says ...string) *apierr.Error {
	r.t.Helper()
	_, _, err := r.pull(repo, ref)
	e := wantCode(r.t, what, err, apierr.Denied, append([]string{"policy " + strings.SplitN(repo, "/", 2)[0] + "/" + rule + ": "}, says...)...)
	if d, _ := e.Detail.(map[string]any); d["rule"] != rule {
		r.t.Errorf("%s: detail %v, want rule %s", what, e.Detail, rule)
	}
	return e
}

// wantServed fails unless pulling repo:ref is served without a warning.
func (r *testReg) wantServed(what, repo, ref string) digest.Digest {
	r.t.Helper()
	d, w, err := r.pull(repo, ref)
	if err != nil || w != "" {
		r.t.Fatalf("%s: pull %s:%s = %v, warning %q; want it served", what, repo, ref, err, w)
	}
	return d
}

var enforceSignatures = policy.ImagePolicy{RequireSignature: policy.SignatureRule{Mode: policy.ModeEnforce}}

func TestPolicyRequireSignature(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		ci, other := newSigner(t, "ci"), newSigner(t, "other")
		r.createNamespace("prod")
		r.keySet("prod", ci)
		r.imagePolicy("prod", enforceSignatures)

		v1d := r.image("prod/app", "v1", "one")
		r.wantRefused("unsigned by tag", "prod/app", "v1", policy.RuleRequireSignature,
			"no signature by a trusted key (expected key ci)", "no signature")
		r.wantRefused("unsigned by digest", "prod/app", v1d.String(), policy.RuleRequireSignature)
		if n := r.counts.get(r.counts.policy, "refused prod require-signature"); n != 2 {
			t.Errorf("refusals counted: %d, want 2", n)
		}

		// Signed by the trusted key: served, verified once. The push of the
		// signature dropped the refusal held in memory.
		r.sign("prod/app", v1d, ci.key, nil, nil)
		r.wantServed("signed", "prod/app", "v1")
		r.wantServed("signed, by digest", "prod/app", v1d.String())
		if n := r.counts.get(r.counts.policy, "verified cosign true"); n != 1 {
			t.Errorf("signatures verified: %d, want 1 (the second pull is answered from memory)", n)
		}
		// Another replica wrote to the repository: the decision is made
		// again, from the verdict stored, without verifying.
		r.Invalidate("prod/app")
		r.wantServed("after invalidation", "prod/app", "v1")
		if n := r.counts.get(r.counts.policy, "verified cosign true"); n != 1 {
			t.Errorf("signatures verified: %d, want still 1 (the verdict is stored)", n)
		}
		if r.counts.get(r.counts.policy, "cache store true") == 0 || r.counts.get(r.counts.policy, "cache memory true") == 0 {
			t.Errorf("cache look-ups %v, want hits in memory and in the store", r.counts.policy)
		}

		// The signature itself stays pullable, or cosign cannot verify.
		r.wantServed("the signature", "prod/app", trust.SignatureTag(v1d))

		// The tag moved to an unsigned manifest: refused; the signed one by
		// digest is still served.
		r.image("prod/app", "v1", "two")
		r.wantRefused("tag moved", "prod/app", "v1", policy.RuleRequireSignature, "no signature")
		r.wantServed("signed manifest by digest", "prod/app", v1d.String())

		// A caller who may push (CI, about to sign it) is served it, with
		// the refusal as a warning; unless the policy says otherwise.
		_, w, err := r.PullManifest(registry.WithPusher(ctx), "prod/app", ref("v1"))
		if err != nil || !strings.HasPrefix(string(w), "policy prod/require-signature: no signature by a trusted key") ||
			!strings.Contains(string(w), "served to a caller who may push to prod/app") {
			t.Errorf("pull by a pusher: %v, warning %q", err, w)
		}
		strict := enforceSignatures
		strict.EnforceOnPushers = true
		r.imagePolicy("prod", strict)
		_, _, err = r.PullManifest(registry.WithPusher(ctx), "prod/app", ref("v1"))
		wantCode(t, "pull by a pusher, enforceOnPushers", err, apierr.Denied, "policy prod/require-signature")
		r.imagePolicy("prod", enforceSignatures)

		// Signed with a key the namespace does not trust.
		wrong := r.image("prod/app", "wrong", "signed by another key")
		r.sign("prod/app", wrong, other.key, nil, nil)
		r.wantRefused("wrong key", "prod/app", "wrong", policy.RuleRequireSignature, "expected key ci", "no trusted key verifies the signature")

		// A signature pushed as an OCI 1.1 referrer counts too.
		ref11 := r.image("prod/app", "referrer", "signed as a referrer")
		m, _ := r.Manifest(ctx, "prod/app", ref(ref11.String()))
		r.sign("prod/app", ref11, ci.key, nil, &v1.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size})
		r.wantServed("referrer signature", "prod/app", "referrer")

		// A namespace without a policy serves anything.
		r.image("dev/app", "v1", "one")
		r.wantServed("open namespace", "dev/app", "v1")

		// Another key set: what the old one verified is judged again,
		// though the decision on it is held in memory.
		r.wantServed("signed, held in memory", "prod/app", v1d.String())
		r.keySet("prod", other)
		r.wantRefused("key set changed", "prod/app", v1d.String(), policy.RuleRequireSignature, "expected key other")
		r.wantServed("signed by the key now trusted", "prod/app", "wrong")

		// Warn: served, with the warning.
		r.imagePolicy("prod", policy.ImagePolicy{RequireSignature: policy.SignatureRule{Mode: policy.ModeWarn}})
		_, w, err = r.pull("prod/app", "v1")
		if err != nil || !strings.HasPrefix(string(w), "policy prod/require-signature: no signature by a trusted key") {
			t.Errorf("warn mode: %v, warning %q", err, w)
		}
		if r.counts.get(r.counts.policy, "warned prod require-signature") != 2 { // the pusher's pull, and this one
			t.Errorf("warnings counted: %v", r.counts.policy)
		}

		// No policy: served.
		if _, err := r.SetImagePolicy(ctx, "prod", nil); err != nil {
			t.Fatal(err)
		}
		r.wantServed("policy removed", "prod/app", "v1")
	})
}

func TestPolicySignedIndex(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		ci := newSigner(t, "ci")
		r.createNamespace("prod")
		r.keySet("prod", ci)
		r.imagePolicy("prod", enforceSignatures)
		amd, _ := r.put("prod/multi", "amd-tmp", manifest("", r.cfgBlob("prod/multi", "amd")))
		arm, _ := r.put("prod/multi", "arm-tmp", manifest("", r.cfgBlob("prod/multi", "arm")))
		evil, _ := r.put("prod/multi", "evil-tmp", manifest("", r.cfgBlob("prod/multi", "evil")))

		idx := r.index("prod/multi", "v1", amd, arm)
		r.wantRefused("unsigned index", "prod/multi", "v1", policy.RuleRequireSignature, "no signature")

		// The index signed: it and what it lists are served, the platform
		// images pulled by digest as a client does after the index.
		r.sign("prod/multi", idx, ci.key, nil, nil)
		r.wantServed("signed index", "prod/multi", "v1")
		r.wantServed("child of the signed index", "prod/multi", amd.String())
		c, err := r.Check(ctx, "prod/multi", ref(arm.String()), "")
		if err != nil || c.SignedIndex != idx {
			t.Errorf("check of a child: signed index %s, %v; want %s", c.SignedIndex, err, idx)
		}
		// A manifest no signed index lists is not.
		r.wantRefused("unlisted image", "prod/multi", evil.String(), policy.RuleRequireSignature)

		// The tag moves to an index whose arm64 child was replaced.
		r.index("prod/multi", "v1", amd, evil)
		e := r.wantRefused("child replaced", "prod/multi", "v1", policy.RuleRequireSignature, "no signature")
		if !strings.Contains(e.Message, evil.String()) {
			t.Errorf("refusal %q does not name the replaced child", e.Message)
		}

		// Every platform image signed, the index not: served.
		r.sign("prod/multi", amd, ci.key, nil, nil)
		r.sign("prod/multi", arm, ci.key, nil, nil)
		r.index("prod/multi", "v2", amd, arm)
		r.wantServed("children signed", "prod/multi", "v2")
		r.wantRefused("still the replaced child", "prod/multi", "v1", policy.RuleRequireSignature, evil.String())
	})
}

// cfgBlob pushes a unique image config to repo and returns it.
func (r *testReg) cfgBlob(repo, name string) []byte {
	r.t.Helper()
	b := []byte(`{"architecture":"amd64","os":"linux","name":"` + name + `"}`)
	r.mustBlob(repo, b)
	return b
}

func TestPolicyKeylessLapses(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		ca, err := trusttest.NewCA("fulcio-like")
		if err != nil {
			t.Fatal(err)
		}
		root, err := trusttest.TrustedRoot(ca, nil)
		if err != nil {
			t.Fatal(err)
		}
		const issuer, subject = "https://token.actions.wharf.test", "release@wharf.test"
		r.createNamespace("prod")
		cfg := trust.KeySetConfig{TrustedRoot: root, Identities: []trust.IdentityConfig{{Issuer: issuer, Subject: subject}}}
		if _, err := r.SetKeySet(ctx, "prod", &cfg); err != nil {
			t.Fatal(err)
		}
		r.imagePolicy("prod", enforceSignatures)
		now := time.Now()
		leaf, err := ca.Issue(subject, issuer, now.Add(-time.Minute), now.Add(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		d := r.image("prod/app", "v1", "keyless")
		r.sign("prod/app", d, leaf.Key, map[string]string{
			trust.AnnotationCosignCert:  string(trusttest.CertPEM(leaf.Cert)),
			trust.AnnotationCosignChain: string(ca.ChainPEM()),
		}, nil)
		if time.Until(leaf.Cert.NotAfter) < time.Second {
			t.Skip("the machine took the certificate's lifetime to push the image")
		}
		r.wantServed("certificate valid", "prod/app", "v1")
		c, err := r.Check(ctx, "prod/app", ref("v1"), "")
		if err != nil || !c.ValidUntil.Equal(leaf.Cert.NotAfter.Truncate(time.Second)) && !c.ValidUntil.Equal(leaf.Cert.NotAfter) {
			t.Errorf("decision valid until %v, %v; want the certificate's end %v", c.ValidUntil, err, leaf.Cert.NotAfter)
		}
		// Without a log entry or timestamp, the certificate counts only
		// while it is valid: the decision held in memory lapses with it,
		// and so does the verdict stored.
		time.Sleep(time.Until(leaf.Cert.NotAfter.Add(time.Second)))
		r.wantRefused("certificate expired", "prod/app", "v1", policy.RuleRequireSignature, "identity subject "+subject, "certificate not trusted")
	})
}

func TestPolicySettingsValidated(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		if _, err := r.SetKeySet(ctx, "nowhere", &trust.KeySetConfig{}); !apierr.Is(err, apierr.NotFound) {
			t.Errorf("key set of a namespace that does not exist: %v", err)
		}
		r.createNamespace("prod")
		bad := trust.KeySetConfig{Keys: []trust.KeyConfig{newSigner(t, "ci").cfg, {Name: "broken", PEM: "not a key"}}}
		wantCode(t, "bad key", func() error { _, err := r.SetKeySet(ctx, "prod", &bad); return err }(), apierr.RequestInvalid, "keys[1] (broken)")
		_, err := r.SetImagePolicy(ctx, "prod", &policy.ImagePolicy{Vulnerabilities: policy.VulnerabilityRule{Mode: "block", Severity: "severe"}})
		wantCode(t, "bad policy", err, apierr.RequestInvalid, "vulnerabilities.mode", "vulnerabilities.severity")
		ts, err := r.TrustSettings(ctx, "prod")
		if err != nil || ts.KeySet != nil || ts.Policy != nil {
			t.Errorf("settings after refusals: %+v, %v; want none", ts, err)
		}
		// A namespace with require-signature and no key set refuses all,
		// saying it has no key set.
		r.imagePolicy("prod", enforceSignatures)
		r.image("prod/app", "v1", "one")
		r.wantRefused("no key set", "prod/app", "v1", policy.RuleRequireSignature, "namespace prod has none")
	})
}

func TestPolicyRequireSBOM(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		r.createNamespace("prod")
		r.imagePolicy("prod", policy.ImagePolicy{RequireSBOM: policy.SBOMRule{Mode: policy.ModeEnforce}})
		d := r.image("prod/app", "v1", "one")
		r.wantRefused("no SBOM", "prod/app", "v1", policy.RuleRequireSBOM, "no SBOM", "application/spdx+json")
		m, _ := r.Manifest(ctx, "prod/app", ref(d.String()))
		doc := []byte(`{"spdxVersion":"SPDX-2.3"}`)
		r.mustBlob("prod/app", doc)
		r.mustBlob("prod/app", []byte(`{}`))
		sbomD := r.pushManifest("prod/app", "", v1.MediaTypeImageManifest, v1.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest, ArtifactType: "application/spdx+json",
			Config: descriptor(v1.MediaTypeEmptyJSON, []byte(`{}`)), Layers: []v1.Descriptor{descriptor("application/spdx+json", doc)},
			Subject: &v1.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size},
		})
		r.wantServed("SBOM attached", "prod/app", "v1")
		r.wantServed("the SBOM itself", "prod/app", sbomD.String())
	})
}
