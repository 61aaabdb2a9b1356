package e2e

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/trust"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

// cosignEnv runs the real cosign against r from dir w: logged in as dev,
// no transparency log (there is no Rekor here), plain HTTP.
type cosignEnv struct {
	t   *testing.T
	r   *clientRegistry
	w   string
	env []string
}

func newCosignEnv(t *testing.T, r *clientRegistry) *cosignEnv {
	t.Helper()
	w := t.TempDir()
	c := &cosignEnv{t: t, r: r, w: w, env: []string{
		"DOCKER_CONFIG=" + filepath.Join(w, "docker"),
		"COSIGN_PASSWORD=e2e-key-password",
		"COSIGN_EXPERIMENTAL=1",
		"TUF_ROOT=" + filepath.Join(w, "tuf"),
		"SIGSTORE_NO_CACHE=true",
	}}
	c.run(true, "login", r.p.addr, "-u", "dev", "-p", devPassword)
	return c
}

func (c *cosignEnv) run(ok bool, args ...string) string {
	c.t.Helper()
	return sh(c.t, c.w, c.env, ok, "cosign", args...)
}

// sign signs ref with the key pair named by prefix (prefix.key), adding args.
func (c *cosignEnv) sign(ref, key string, args ...string) {
	c.t.Helper()
	a := append([]string{"sign", "--key", key, "--tlog-upload=false", "-y", "--allow-http-registry", "--allow-insecure-registry"}, args...)
	c.run(true, append(a, ref)...)
}

// importKey writes priv as PKCS #8 and imports it with cosign
// import-key-pair as name.key/name.pub; it returns the public key PEM.
func (c *cosignEnv) importKey(name string, priv any) string {
	c.t.Helper()
	pem, err := trusttest.PrivateKeyPEM(priv)
	if err != nil {
		c.t.Fatal(err)
	}
	writeFile(c.t, filepath.Join(c.w, name+".pem"), string(pem))
	c.run(true, "import-key-pair", "--key", name+".pem", "--output-key-prefix", name)
	pub, err := os.ReadFile(filepath.Join(c.w, name+".pub"))
	if err != nil {
		c.t.Fatal(err)
	}
	return string(pub)
}

// TestTrustCosign signs images pushed to wharf with the real cosign, in the
// tag schema, as OCI 1.1 referrers and as sigstore bundles, with ECDSA,
// Ed25519 and RSA keys and with a certificate from a test CA, then verifies
// what wharf stored with internal/trust: trusted key or identity verified;
// wrong key, moved tag, replaced index child, tampered payload and
// signature, another image's signature, wrong issuer or subject, untrusted
// CA refused.
func TestTrustCosign(t *testing.T) {
	needTools(t, "cosign", "crane")
	r := startClientRegistry(t)
	R := r.p.addr
	c := newCosignEnv(t, r)
	c.run(true, "generate-key-pair", "--output-key-prefix", "ci")
	ciPub, err := os.ReadFile(filepath.Join(c.w, "ci.pub"))
	if err != nil {
		t.Fatal(err)
	}
	c.run(true, "generate-key-pair", "--output-key-prefix", "other")
	otherPub, _ := os.ReadFile(filepath.Join(c.w, "other.pub"))
	ks := newKeySet(t, trust.KeySetConfig{Keys: []trust.KeyConfig{{Name: "ci", PEM: string(ciPub)}}})
	ksOther := newKeySet(t, trust.KeySetConfig{Keys: []trust.KeyConfig{{Name: "other", PEM: string(otherPub)}}})

	t.Run("tag schema", func(t *testing.T) {
		_, d := cranePush(t, r, t.TempDir(), "team/app:v1", "signed in the tag schema")
		c.sign(R+"/team/app@"+d, "ci.key")
		wantSigned(t, verifyStored(t, r, ks, "team/app", d), "key ci")
		wantUnsigned(t, verifyStored(t, r, ksOther, "team/app", d), trust.ErrUntrustedKey)

		// The tag moves to an unsigned manifest: what it names is unsigned;
		// the old signature copied to the new digest's .sig tag signs
		// another image.
		_, d2 := cranePush(t, r, t.TempDir(), "team/app:v1", "pushed over the signed tag")
		wantUnsigned(t, verifyStored(t, r, ks, "team/app", d2), trust.ErrNoSignature)
		craneEnv := []string{"DOCKER_CONFIG=" + filepath.Join(c.w, "crane")}
		sh(t, c.w, craneEnv, true, "crane", "auth", "login", R, "-u", "dev", "-p", devPassword)
		sh(t, c.w, craneEnv, true, "crane", "--insecure", "copy",
			R+"/team/app:"+strings.Replace(d, ":", "-", 1)+".sig", R+"/team/app:"+strings.Replace(d2, ":", "-", 1)+".sig")
		wantUnsigned(t, verifyStored(t, r, ks, "team/app", d2), trust.ErrWrongImage)
	})

	t.Run("tampered", func(t *testing.T) {
		_, d := cranePush(t, r, t.TempDir(), "team/tamper:v1", "signed, then tampered with")
		c.sign(R+"/team/tamper@"+d, "ci.key")
		wantSigned(t, verifyStored(t, r, ks, "team/tamper", d), "key ci")
		src := registrySource{R}
		sigTag := strings.Replace(d, ":", "-", 1) + ".sig"
		m, err := src.Manifest(t.Context(), "team/tamper", sigTag)
		if err != nil {
			t.Fatal(err)
		}
		var sig map[string]any
		if err := json.Unmarshal(m.Payload, &sig); err != nil {
			t.Fatal(err)
		}
		layer := sig["layers"].([]any)[0].(map[string]any)
		annotations := layer["annotations"].(map[string]any)
		original := annotations[trust.AnnotationCosignSignature].(string)

		// The signature: one character of its base64 changed.
		flip := "A"
		if original[10:11] == "A" {
			flip = "B"
		}
		annotations[trust.AnnotationCosignSignature] = original[:10] + flip + original[11:]
		tampered, _ := json.Marshal(sig)
		src.putManifest(t, "team/tamper", sigTag, m.MediaType, tampered)
		wantUnsigned(t, verifyStored(t, r, ks, "team/tamper", d), trust.ErrUntrustedKey)

		// The payload: a new blob naming another repository, the layer
		// pointing at it, the signature left as it was.
		annotations[trust.AnnotationCosignSignature] = original
		payload, err := src.Blob(t.Context(), "team/tamper", digestOf(layer["digest"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		var p map[string]any
		if err := json.NewDecoder(payload).Decode(&p); err != nil {
			t.Fatal(err)
		}
		p["critical"].(map[string]any)["identity"] = map[string]any{"docker-reference": R + "/team/evil"}
		pb, _ := json.Marshal(p)
		layer["digest"] = src.putBlob(t, "team/tamper", pb).String()
		layer["size"] = len(pb)
		tampered, _ = json.Marshal(sig)
		src.putManifest(t, "team/tamper", sigTag, m.MediaType, tampered)
		wantUnsigned(t, verifyStored(t, r, ks, "team/tamper", d), trust.ErrUntrustedKey)
	})

	t.Run("key types", func(t *testing.T) {
		ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		rs, _ := rsa.GenerateKey(rand.Reader, 2048)
		for name, priv := range map[string]any{"ecdsa": ec, "ed25519": ed, "rsa": rs} {
			pub := c.importKey(name, priv)
			_, d := cranePush(t, r, t.TempDir(), "team/keys:"+name, "signed with "+name)
			c.sign(R+"/team/keys@"+d, name+".key")
			wantSigned(t, verifyStored(t, r, newKeySet(t, trust.KeySetConfig{Keys: []trust.KeyConfig{{Name: name, PEM: pub}}}), "team/keys", d), "key "+name)
			wantUnsigned(t, verifyStored(t, r, ks, "team/keys", d), trust.ErrUntrustedKey)
		}
	})

	t.Run("referrers", func(t *testing.T) {
		_, d := cranePush(t, r, t.TempDir(), "team/ref:v1", "signed as an OCI 1.1 referrer")
		c.sign(R+"/team/ref@"+d, "ci.key", "--registry-referrers-mode=oci-1-1")
		res := verifyStored(t, r, ks, "team/ref", d)
		wantSigned(t, res, "key ci")
		if s := res.Signatures[0].Signature; s.Format != trust.FormatCosign || s.Tag != "" {
			t.Errorf("found %+v, want cosign's referrer form", s)
		}
		wantUnsigned(t, verifyStored(t, r, ksOther, "team/ref", d), trust.ErrUntrustedKey)

		_, d2 := cranePush(t, r, t.TempDir(), "team/ref:v2", "signed as a sigstore bundle")
		c.sign(R+"/team/ref@"+d2, "ci.key", "--new-bundle-format")
		res = verifyStored(t, r, ks, "team/ref", d2)
		wantSigned(t, res, "key ci")
		if s := res.Signatures[0].Signature; s.Format != trust.FormatBundle {
			t.Errorf("found %+v, want a sigstore bundle", s)
		}
		wantUnsigned(t, verifyStored(t, r, ksOther, "team/ref", d2), trust.ErrUntrustedKey)
	})

	t.Run("index", func(t *testing.T) {
		w := t.TempDir()
		amd, amdD := cranePush(t, r, w, "team/multi:amd64", "amd64 image")
		arm, armD := cranePush(t, r, t.TempDir(), "team/multi:arm64", "arm64 image")
		evil, evilD := cranePush(t, r, t.TempDir(), "team/multi:evil", "replacement arm64 image")
		craneEnv := []string{"DOCKER_CONFIG=" + filepath.Join(w, "crane")}
		index := func(tag string, children ...string) string {
			args := []string{"--insecure", "index", "append", "-t", R + "/team/multi:" + tag}
			for _, ch := range children {
				args = append(args, "-m", ch)
			}
			sh(t, w, craneEnv, true, "crane", args...)
			return trimmed(sh(t, w, craneEnv, true, "crane", "--insecure", "digest", R+"/team/multi:"+tag))
		}

		// Every platform image signed, the index not.
		idx := index("v1", amd, arm)
		wantUnsigned(t, verifyStored(t, r, ks, "team/multi", idx), trust.ErrNoSignature)
		c.sign(R+"/team/multi@"+amdD, "ci.key")
		c.sign(R+"/team/multi@"+armD, "ci.key")
		wantSigned(t, verifyStored(t, r, ks, "team/multi", idx), "")

		// The tag now names an index whose arm64 child was replaced.
		idx2 := index("v1", amd, evil)
		res := verifyStored(t, r, ks, "team/multi", idx2)
		wantUnsigned(t, res, trust.ErrNoSignature)
		if !strings.Contains(res.Err().Error(), evilD) {
			t.Errorf("refusal %v does not name the replaced child %s", res.Err(), evilD)
		}

		// An index signed with --recursive is signed itself.
		idx3 := index("v3", amd, evil)
		c.sign(R+"/team/multi@"+idx3, "ci.key", "--recursive")
		res = verifyStored(t, r, ks, "team/multi", idx3)
		wantSigned(t, res, "key ci")
		if len(res.Children) != 0 {
			t.Errorf("children verified for a signed index")
		}
	})

	t.Run("certificate", func(t *testing.T) {
		ca, err := trusttest.NewCA("fulcio-like")
		if err != nil {
			t.Fatal(err)
		}
		otherCA, _ := trusttest.NewCA("other")
		const issuer, subject = "https://token.actions.wharf.test", "release@wharf.test"
		now := time.Now()
		leaf, err := ca.Issue(subject, issuer, now.Add(-time.Minute), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		c.importKey("leaf", leaf.Key)
		writeFile(t, filepath.Join(c.w, "leaf.crt"), string(trusttest.CertPEM(leaf.Cert)))
		writeFile(t, filepath.Join(c.w, "chain.crt"), string(ca.ChainPEM()))
		_, d := cranePush(t, r, t.TempDir(), "team/keyless:v1", "signed with a certificate")
		c.sign(R+"/team/keyless@"+d, "leaf.key", "--certificate", "leaf.crt", "--certificate-chain", "chain.crt")
		stored := r.manifest(t, "team/keyless", strings.Replace(d, ":", "-", 1)+".sig")
		if stored.Layers[0].Annotations[trust.AnnotationCosignCert] == "" || stored.Layers[0].Annotations[trust.AnnotationCosignChain] == "" {
			t.Fatalf("cosign stored no certificate or chain: %+v", stored.Layers[0].Annotations)
		}

		root, err := trusttest.TrustedRoot(ca, nil)
		if err != nil {
			t.Fatal(err)
		}
		otherRoot, _ := trusttest.TrustedRoot(otherCA, nil)
		id := func(tr []byte, iss, subjectRE string) *trust.KeySet {
			return newKeySet(t, trust.KeySetConfig{TrustedRoot: tr, Identities: []trust.IdentityConfig{{Issuer: iss, SubjectRegexp: subjectRE}}})
		}
		wantSigned(t, verifyStored(t, r, id(root, issuer, `^release@wharf\.test$`), "team/keyless", d), "identity "+subject+" (issuer "+issuer+")")
		wantUnsigned(t, verifyStored(t, r, id(root, "https://accounts.wharf.test", `^release@wharf\.test$`), "team/keyless", d), trust.ErrIdentity)
		wantUnsigned(t, verifyStored(t, r, id(root, issuer, `^ops@wharf\.test$`), "team/keyless", d), trust.ErrIdentity)
		wantUnsigned(t, verifyStored(t, r, id(otherRoot, issuer, `^release@wharf\.test$`), "team/keyless", d), trust.ErrCertificate)
		wantUnsigned(t, verifyStored(t, r, ks, "team/keyless", d), trust.ErrNotTrusted)

		// A certificate that expires seconds after signing, and no log entry
		// or timestamp to prove it was valid then: refused once expired.
		shortLived, err := ca.Issue(subject, issuer, now.Add(-time.Minute), time.Now().Add(8*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		c.importKey("short", shortLived.Key)
		writeFile(t, filepath.Join(c.w, "short.crt"), string(trusttest.CertPEM(shortLived.Cert)))
		_, d2 := cranePush(t, r, t.TempDir(), "team/keyless:v2", "signed with a certificate about to expire")
		c.sign(R+"/team/keyless@"+d2, "short.key", "--certificate", "short.crt", "--certificate-chain", "chain.crt")
		trusted := id(root, issuer, `^release@wharf\.test$`)
		if time.Until(shortLived.Cert.NotAfter) > time.Second { // a loaded machine may have used the window up
			wantSigned(t, verifyStored(t, r, trusted, "team/keyless", d2), "")
		}
		time.Sleep(time.Until(shortLived.Cert.NotAfter.Add(time.Second)))
		wantUnsigned(t, verifyStored(t, r, trusted, "team/keyless", d2), trust.ErrCertificate)
	})
}
