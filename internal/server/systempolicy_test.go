package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/trust"
)

// TestSystemPolicyOverHTTP: with trust.keySetFile and
// trust.imagePolicyFile, a namespace that never set anything refuses an
// unsigned pull naming the system-wide key, serves one signed by it, and a
// namespace that turns the rule off is refused still; the check shows the
// policy applied.
func TestSystemPolicyOverHTTP(t *testing.T) {
	policyBackends(t, func(t *testing.T, b backend) {
		release := newCosignKey(t, "release")
		dir := t.TempDir()
		write := func(name string, v any) string {
			j, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, j, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
		cfg := newConfig(t, b)
		cfg.Trust.KeySetFile = write("keys.json", trust.KeySetConfig{Keys: []trust.KeyConfig{release.cfg}})
		cfg.Trust.ImagePolicyFile = write("policy.json", policy.ImagePolicy{RequireSignature: policy.SignatureRule{Mode: policy.ModeEnforce}})
		tr := openTestRegistry(t, cfg)

		_, d := tr.pushImage("prod/app", "v1", []byte(`{"architecture":"amd64","os":"linux"}`), []byte("layer of prod"))
		r := tr.do("GET", "/v2/prod/app/manifests/v1", nil, "Accept", ociManifestType)
		want(t, "unsigned, no settings of its own", r, http.StatusForbidden, "DENIED")
		if !strings.Contains(string(r.body), "policy prod/require-signature: no signature by a trusted key (expected key system/release)") {
			t.Errorf("refusal: %s", r.body)
		}
		tr.sign("prod/app", d, release)
		want(t, "signed by the system-wide key", tr.do("GET", "/v2/prod/app/manifests/v1", nil, "Accept", ociManifestType), http.StatusOK, "")

		tr.mustAPI("POST", "/namespaces", mgmt.NamespaceCreate{Name: "team"}, nil)
		tr.mustAPI("PUT", "/namespaces/team/image-policy", policy.ImagePolicy{}, nil)
		tr.pushImage("team/app", "v1", []byte(`{"architecture":"amd64","os":"linux"}`), []byte("layer of team"))
		want(t, "unsigned, the rule off in the namespace", tr.do("GET", "/v2/team/app/manifests/v1", nil, "Accept", ociManifestType), http.StatusForbidden, "DENIED")

		var pc mgmt.PolicyCheck
		tr.mustAPI("GET", "/repositories/team/app/manifests/v1/check", nil, &pc)
		if pc.Allowed || !strings.Contains(string(mustJSON(t, pc)), `{"rule":"require-signature","mode":"enforce","passed":false`) {
			t.Errorf("check: %s", mustJSON(t, pc))
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
