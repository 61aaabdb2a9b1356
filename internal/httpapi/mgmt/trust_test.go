package mgmt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/trust"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

func publicKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := trusttest.PublicKeyPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return string(pem)
}

func TestTrustAPI(t *testing.T) {
	e := lifecycleEnv(t)
	e.want(201, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "other"}, nil)
	base := "/api/v1/namespaces/team/trust"
	ks := trust.KeySetConfig{Keys: []trust.KeyConfig{{Name: "ci", PEM: publicKeyPEM(t)}}}

	// Only the namespace's admins and system administrators set it.
	e.want(404, "alice", "GET", base, nil, nil) // none yet
	e.want(403, "bob", "PUT", base, ks, nil)
	e.want(404, "carol", "PUT", base, ks, nil)                             // carol cannot see team
	e.want(404, "alice", "PUT", "/api/v1/namespaces/other/trust", ks, nil) // not hers to see
	var got mgmt.KeySet
	e.want(200, "alice", "PUT", base, ks, &got)
	if got.Namespace != "team" || len(got.KeySet.Keys) != 1 || got.Fingerprint == "" || got.Version != 1 {
		t.Errorf("set: %+v", got)
	}
	e.want(200, "root", "PUT", "/api/v1/namespaces/other/trust", ks, nil)
	e.want(200, "bob", "GET", base, nil, &got) // members read it
	e.want(404, "carol", "GET", base, nil, nil)

	// Refusals name the entry at fault and change nothing.
	bad := trust.KeySetConfig{Keys: []trust.KeyConfig{ks.Keys[0], {Name: "broken", PEM: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}}}
	p := e.want(400, "alice", "PUT", base, bad, nil).problem(t)
	if p.Code != "INVALID_REQUEST" || !strings.Contains(p.Detail, "keys[1] (broken)") {
		t.Errorf("bad key: %+v", p)
	}
	p = e.want(400, "alice", "PUT", base, map[string]any{"keys": []any{}, "trustedRoots": "x"}, nil).problem(t)
	if !strings.Contains(p.Detail, `unknown field "trustedRoots"`) {
		t.Errorf("unknown field: %+v", p)
	}
	p = e.want(400, "alice", "PUT", base, trust.KeySetConfig{Identities: []trust.IdentityConfig{{Issuer: "https://x", Subject: "a"}}}, nil).problem(t)
	if !strings.Contains(p.Detail, "identities: keyless identities need a trustedRoot") {
		t.Errorf("identity without a root: %+v", p)
	}
	e.want(200, "bob", "GET", base, nil, &got)
	if len(got.KeySet.Keys) != 1 || got.Version != 1 {
		t.Errorf("after refusals: %+v", got)
	}

	// The image policy, likewise.
	pbase := "/api/v1/namespaces/team/image-policy"
	in := policy.ImagePolicy{RequireSignature: policy.SignatureRule{Mode: policy.ModeEnforce}, RequireSBOM: policy.SBOMRule{Mode: policy.ModeWarn}}
	e.want(403, "bob", "PUT", pbase, in, nil)
	var ip mgmt.ImagePolicy
	e.want(200, "alice", "PUT", pbase, in, &ip)
	if ip.Policy.RequireSignature.Mode != policy.ModeEnforce || ip.Policy.Vulnerabilities.Mode != policy.ModeOff || ip.Policy.Vulnerabilities.Severity != "critical" || ip.Version != 2 {
		t.Errorf("policy set: %+v", ip)
	}
	p = e.want(400, "alice", "PUT", pbase, map[string]any{"vulnerabilities": map[string]string{"mode": "block"}}, nil).problem(t)
	if !strings.Contains(p.Detail, `vulnerabilities.mode: mode "block"`) {
		t.Errorf("bad mode: %+v", p)
	}

	// A pull from the namespace is judged at once; the check says why.
	e.push("team/app", "v1")
	var pc mgmt.PolicyCheck
	e.want(200, "bob", "GET", "/api/v1/repositories/team/app/manifests/v1/check", nil, &pc)
	if pc.Allowed || !strings.HasPrefix(pc.Refusal, "policy team/require-signature: no signature by a trusted key (expected key ci)") ||
		len(pc.Rules) != 4 || pc.Rules[0].Passed || !pc.Rules[1].Passed || pc.Rules[3].Passed || pc.KeySet != "key ci" {
		t.Errorf("check: %+v", pc)
	}
	e.want(404, "carol", "GET", "/api/v1/repositories/team/app/manifests/v1/check", nil, nil)
	e.want(404, "bob", "GET", "/api/v1/repositories/team/app/manifests/v9/check", nil, nil)
	e.want(404, "bob", "GET", "/api/v1/repositories/team/app/manifests/v1/check?namespace=other", nil, nil) // bob cannot see other
	e.want(200, "root", "GET", "/api/v1/repositories/team/app/manifests/v1/check?namespace=other", nil, &pc)
	if pc.Namespace != "other" || !pc.Allowed {
		t.Errorf("check against other's policy (none): %+v", pc)
	}

	e.want(403, "bob", "DELETE", pbase, nil, nil)
	e.want(204, "alice", "DELETE", pbase, nil, nil)
	e.want(404, "alice", "DELETE", pbase, nil, nil)
	e.want(204, "alice", "DELETE", base, nil, nil)
	e.want(404, "alice", "GET", base, nil, nil)
	for _, a := range []string{"trust.set", "image-policy.set", "image-policy.delete", "trust.delete"} {
		if !e.auditHas(a, "team", "ok") {
			t.Errorf("%s is not audited", a)
		}
	}
	if !e.auditHas("trust.set", "team", "failed") {
		t.Error("a refused key set is not audited")
	}
}
