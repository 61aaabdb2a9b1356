package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/internal/trust"
)

// TestTrustNotation signs images pushed to wharf with the real notation
// client (JWS and COSE envelopes, with and without the referrers tag
// schema) and verifies what wharf stored with internal/trust against a
// notation trust policy and trust store: the signing CA trusted verifies;
// another CA, another repository's scope, and a moved tag are refused.
func TestTrustNotation(t *testing.T) {
	needTools(t, "notation", "crane")
	r := startClientRegistry(t)
	R := r.p.addr
	w := t.TempDir()
	// notation keeps no plaintext credentials (it wants a credential
	// store), so it is given the account in its environment variables.
	env := []string{"XDG_CONFIG_HOME=" + filepath.Join(w, "config"), "HOME=" + w, "NOTATION_USERNAME=dev", "NOTATION_PASSWORD=" + devPassword}
	notation := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, w, env, ok, "notation", args...)
	}
	notation(true, "cert", "generate-test", "--default", "wharf.test")
	notation(true, "cert", "generate-test", "other.test")
	cert := func(name string) string {
		b, err := os.ReadFile(filepath.Join(w, "config", "notation", "localkeys", name+".crt"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	keySet := func(scope, certName string) *trust.KeySet {
		policy, _ := json.Marshal(map[string]any{
			"version": "1.0",
			"trustPolicies": []any{map[string]any{
				"name":                  "team-app",
				"registryScopes":        []string{scope},
				"signatureVerification": map[string]any{"level": "strict"},
				"trustStores":           []string{"ca:release"},
				"trustedIdentities":     []string{"*"},
			}},
		})
		return newKeySet(t, trust.KeySetConfig{Notation: &trust.NotationConfig{
			TrustPolicy: policy,
			TrustStores: []trust.TrustStoreConfig{{Type: "ca", Name: "release", Certificates: cert(certName)}},
		}})
	}
	ks := keySet(R+"/team/app", "wharf.test")

	for _, tc := range []struct{ name, content string }{
		{"jws", "signed by notation, JWS"},
		{"cose", "signed by notation, COSE"},
		{"jws-no-tag-schema", "signed by notation, referrers API only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, d := cranePush(t, r, t.TempDir(), "team/app:"+tc.name, tc.content)
			args := []string{"sign", "--insecure-registry"}
			switch tc.name {
			case "cose":
				args = append(args, "--signature-format", "cose")
			case "jws-no-tag-schema":
				args = append(args, "--force-referrers-tag=false")
			}
			notation(true, append(args, R+"/team/app@"+d)...)
			res := verifyStored(t, r, ks, "team/app", d)
			wantSigned(t, res, "")
			if s := res.Signers()[0]; s.TrustPolicy != "team-app" || s.Certificate == "" || res.Signatures[0].Signature.Format != trust.FormatNotation {
				t.Errorf("signer %+v, signature %+v", s, res.Signatures[0].Signature)
			}
			wantUnsigned(t, verifyStored(t, r, keySet(R+"/team/app", "other.test"), "team/app", d), trust.ErrNotation)
			wantUnsigned(t, verifyStored(t, r, keySet(R+"/team/other", "wharf.test"), "team/app", d), trust.ErrNotation)

			// The tag moves to an unsigned manifest.
			_, d2 := cranePush(t, r, t.TempDir(), "team/app:"+tc.name, "pushed over "+tc.name)
			wantUnsigned(t, verifyStored(t, r, ks, "team/app", d2), trust.ErrNoSignature)
		})
	}
}
