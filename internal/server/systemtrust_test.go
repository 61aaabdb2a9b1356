package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/policy"
)

// TestSystemTrust: trust.keySetFile and trust.imagePolicyFile are read at
// start and validated as a namespace's settings are; a bad one stops the
// start, naming the option and what is wrong.
func TestSystemTrust(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ks, p, err := systemTrust(config.Trust{})
	if ks != nil || p != nil || err != nil {
		t.Fatalf("nothing configured: %v %v %v", ks, p, err)
	}
	ks, p, err = systemTrust(config.Trust{
		KeySetFile:      file("keys.json", `{"identities":[{"issuer":"https://i.example.com","subject":"ci@example.com"}],"trustedRoot":{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}}`),
		ImagePolicyFile: file("policy.json", `{"requireSignature":{"mode":"enforce"}}`),
	})
	if err != nil || len(ks.Identities) != 1 || p.RequireSignature.Mode != policy.ModeEnforce || p.RequireSBOM.Mode != policy.ModeOff {
		t.Fatalf("valid files: %+v %+v %v", ks, p, err)
	}
	for _, c := range []struct {
		cfg  config.Trust
		says string
	}{
		{config.Trust{KeySetFile: filepath.Join(dir, "missing.json")}, "trust.keySetFile: open"},
		{config.Trust{KeySetFile: file("unknown.json", `{"kees":[]}`)}, `unknown field "kees"`},
		{config.Trust{KeySetFile: file("noroot.json", `{"identities":[{"issuer":"https://i.example.com","subject":"a@b"}]}`)}, "need a trustedRoot"},
		{config.Trust{ImagePolicyFile: file("bad.json", `{"requireSBOM":{"mode":"always"}}`)}, `requireSBOM.mode: mode "always"`},
		{config.Trust{ImagePolicyFile: file("two.json", `{} {}`)}, "more than one JSON value"},
	} {
		_, _, err := systemTrust(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: error %v, want it to say %q", c.cfg, err, c.says)
		}
	}
}
