package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// referrerManifest is an artifact manifest of artifactType whose subject
// is d, over config.
func referrerManifest(d digest.Digest, size int, artifactType string, config []byte) []byte {
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":%q,`+
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":%d},"layers":[],`+
		`"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d}}`,
		artifactType, digest.FromBytes(config), len(config), d, size)
}

type promotionAnswer struct {
	State   string `json:"state"`
	Code    string `json:"code"`
	Detail  string `json:"detail"`
	Request struct {
		ID int64 `json:"id"`
	} `json:"request"`
	Record struct {
		ID        int64           `json:"id"`
		Result    string          `json:"result"`
		Actor     string          `json:"actor"`
		Approvals json.RawMessage `json:"approvals"`
	} `json:"record"`
	Gates []struct {
		Gate    string `json:"gate"`
		Passed  bool   `json:"passed"`
		Message string `json:"message"`
	} `json:"gates"`
}

func (a promotionAnswer) failed() []string {
	var out []string
	for _, g := range a.Gates {
		if !g.Passed {
			out = append(out, g.Gate)
		}
	}
	return out
}

func promoteAs(t *testing.T, c *client, source, target string) (int, promotionAnswer) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"source": source, "target": target})
	r := c.do("POST", "/api/v1/promotions", body, "Content-Type", "application/json")
	var a promotionAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("promote %s -> %s: %d %s", source, target, r.status, r.body)
	}
	return r.status, a
}

// TestPromotionWorkflow: a namespace's gates (source, SBOM, approvals,
// signature), a refusal naming every failed gate with its record, a
// request waiting for a second person, the approval that promotes, the
// records, and who may do what; on every backend.
func TestPromotionWorkflow(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ar := newAuthRegistryOn(t, b, nil)
		for _, u := range []string{"cid", "bob", "carol", "pat", "rita"} {
			ar.user(u, false)
		}
		ar.namespace("ci", false, map[string]auth.Role{"cid": auth.RoleCI, "pat": auth.RoleReadonly, "bob": auth.RoleReadonly})
		ar.namespace("sandbox", false, map[string]auth.Role{"pat": auth.RoleDeveloper})
		ar.namespace("prod", false, map[string]auth.Role{"bob": auth.RoleAdmin, "carol": auth.RoleReadonly, "pat": auth.RoleDeveloper})
		admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
		cl := func(u string) *client { return &client{tr: ar.testRegistry, user: u, secret: u + "-pw"} }
		_, tok := ar.token(meta.TokenPersonal, "pat", "pipeline", "ci/*:pull", "sandbox/*:pull", "prod/*:push,pull")
		pat := &client{tr: ar.testRegistry, user: "pat", secret: tok}

		put := func(repo string, cfg, payload []byte) {
			t.Helper()
			if s := admin.pushBlob(repo, cfg); s != http.StatusCreated {
				t.Fatalf("push blob: %d", s)
			}
			want(t, "push manifest", admin.do("PUT", "/v2/"+repo+"/manifests/"+digest.FromBytes(payload).String(), payload,
				"Content-Type", "application/vnd.oci.image.manifest.v1+json"), http.StatusCreated, "")
		}
		if s := admin.pushImage("ci/app", "v1", []byte(`{"app":"v1"}`)); s != http.StatusCreated {
			t.Fatalf("push ci/app:v1: %d", s)
		}
		m := image([]byte(`{"app":"v1"}`))
		d := digest.FromBytes(m)
		sigCfg := []byte(`{"sig":1}`)
		sig := referrerManifest(d, len(m), "application/vnd.dev.cosign.artifact.sig.v1+json", sigCfg)
		put("ci/app", sigCfg, sig)
		if s := admin.pushImage("sandbox/app", "v1", []byte(`{"app":"sandbox"}`)); s != http.StatusCreated {
			t.Fatalf("push sandbox/app:v1: %d", s)
		}

		policy := []byte(`{"sources":["ci"],"gates":{"sbom":true,"approvals":1}}`)
		wantAPI(t, "policy by a reader", cl("carol").do("PUT", "/api/v1/namespaces/prod/promotion-policy", policy), http.StatusForbidden)
		wantAPI(t, "bad policy", cl("bob").do("PUT", "/api/v1/namespaces/prod/promotion-policy", []byte(`{"gates":{"scan":{"severity":"huge"}}}`)), http.StatusBadRequest)
		wantAPI(t, "policy by prod's admin", cl("bob").do("PUT", "/api/v1/namespaces/prod/promotion-policy", policy), http.StatusOK)

		// Refused: no SBOM, no approval; every failed gate named, recorded.
		status, a := promoteAs(t, pat, "ci/app:v1", "prod/app:1.0")
		if status != http.StatusForbidden || fmt.Sprint(a.failed()) != "[sbom approvals]" || a.Record.ID == 0 || a.Record.Result != "refused" {
			t.Fatalf("promotion without an SBOM: %d %+v", status, a)
		}
		if !strings.Contains(a.Detail, "sbom: no SBOM attached") || !strings.Contains(a.Detail, "approvals: 0 of 1") {
			t.Errorf("refusal detail: %q", a.Detail)
		}
		want(t, "nothing in prod", admin.do("GET", "/v2/prod/app/manifests/1.0", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")

		// Not from sandbox; not by someone who cannot read the source, or
		// promote into the target.
		if status, a := promoteAs(t, pat, "sandbox/app:v1", "prod/app:1.0"); status != http.StatusForbidden || a.failed()[0] != "source" {
			t.Errorf("from sandbox: %d %+v", status, a)
		}
		if status, _ := promoteAs(t, cl("rita"), "ci/app:v1", "prod/app:1.0"); status != http.StatusNotFound {
			t.Errorf("by someone who cannot read ci: %d", status)
		}
		// To one who cannot read ci, a tag or digest ci/app holds and one it
		// does not hold are answered alike: the answer tells nothing of ci.
		_, held := promoteAs(t, cl("rita"), "ci/app@"+d.String(), "prod/app:1.0")
		for _, src := range []string{"ci/app:missing", "ci/app@" + digest.FromString("missing").String()} {
			if status, a := promoteAs(t, cl("rita"), src, "prod/app:1.0"); status != http.StatusNotFound || a.Code != held.Code || a.Detail != held.Detail {
				t.Errorf("%s by someone who cannot read ci: %d %+v, while for what ci/app holds: %+v", src, status, a, held)
			}
		}
		if status, a := promoteAs(t, pat, "prod/app:1.0", "prod/app:2.0"); status != http.StatusNotFound {
			t.Errorf("a missing source: %d %+v", status, a)
		}
		if status, a := promoteAs(t, cl("bob"), "ci/app:v1", "sandbox/app:1.0"); status != http.StatusForbidden || a.Code != "DENIED" {
			t.Errorf("into a namespace bob may not push to: %d %+v", status, a)
		}
		if status, _ := promoteAs(t, pat, "ci/app", "prod/app:1.0"); status != http.StatusBadRequest {
			t.Errorf("a source without a reference: %d", status)
		}

		// With an SBOM attached, only the approval is missing: the
		// promotion waits.
		sbomCfg := []byte(`{"sbom":1}`)
		sbom := referrerManifest(d, len(m), "application/spdx+json", sbomCfg)
		put("ci/app", sbomCfg, sbom)
		status, a = promoteAs(t, pat, "ci/app:v1", "prod/app:1.0")
		if status != http.StatusAccepted || a.State != "pending" || a.Request.ID == 0 {
			t.Fatalf("promotion waiting for approval: %d %+v", status, a)
		}
		id := a.Request.ID
		if status, again := promoteAs(t, pat, "ci/app:v1", "prod/app:1.0"); status != http.StatusAccepted || again.Request.ID != id {
			t.Errorf("asking again: %d, request %d, want %d", status, again.Request.ID, id)
		}
		approve := func(c *client) response {
			return c.do("POST", fmt.Sprintf("/api/v1/promotion-requests/%d/approve", id), []byte(`{"comment":"ok"}`))
		}
		wantAPI(t, "approval by the requester", approve(cl("pat")), http.StatusForbidden)
		wantAPI(t, "approval by the requester's token", approve(pat), http.StatusForbidden)
		wantAPI(t, "approval by a reader of prod", approve(cl("carol")), http.StatusForbidden)
		wantAPI(t, "approval by someone who cannot see prod", approve(cl("rita")), http.StatusNotFound)
		r := approve(cl("bob"))
		if r.status != http.StatusCreated || !strings.Contains(string(r.body), `"state": "promoted"`) {
			t.Fatalf("approval by bob: %d %s", r.status, r.body)
		}
		wantAPI(t, "approving again", approve(cl("bob")), http.StatusConflict)

		// prod/app:1.0 is the image, with its signature and SBOM.
		got := admin.do("GET", "/v2/prod/app/manifests/1.0", nil)
		want(t, "pull prod/app:1.0", got, http.StatusOK, "")
		if digest.FromBytes(got.body) != d {
			t.Errorf("prod/app:1.0 is %s, want %s", digest.FromBytes(got.body), d)
		}
		refs := admin.do("GET", "/v2/prod/app/referrers/"+d.String(), nil)
		if !strings.Contains(string(refs.body), digest.FromBytes(sig).String()) || !strings.Contains(string(refs.body), digest.FromBytes(sbom).String()) {
			t.Errorf("referrers in prod: %s", refs.body)
		}
		want(t, "pull the config from prod", admin.do("GET", "/v2/prod/app/blobs/"+digest.FromBytes([]byte(`{"app":"v1"}`)).String(), nil), http.StatusOK, "")

		// The records: the promotion by pat approved by bob, the refusals.
		list := cl("carol").do("GET", "/api/v1/promotions?namespace=prod", nil)
		var recs struct {
			Promotions []struct {
				ID        int64           `json:"id"`
				Actor     string          `json:"actor"`
				Result    string          `json:"result"`
				Digest    digest.Digest   `json:"digest"`
				Approvals json.RawMessage `json:"approvals"`
				Copied    json.RawMessage `json:"copied"`
			} `json:"promotions"`
		}
		if err := json.Unmarshal(list.body, &recs); err != nil || len(recs.Promotions) < 3 {
			t.Fatalf("records: %d %s", list.status, list.body)
		}
		top := recs.Promotions[0]
		if top.Result != "promoted" || top.Actor != "user:pat" || top.Digest != d || !strings.Contains(string(top.Approvals), "user:bob") ||
			!strings.Contains(string(top.Copied), digest.FromBytes(sbom).String()) {
			t.Errorf("the promotion's record: %+v", top)
		}
		if r := cl("rita").do("GET", "/api/v1/promotions?namespace=prod", nil); strings.Contains(string(r.body), d.String()) {
			t.Errorf("rita sees prod's records: %s", r.body)
		}
		if r := cl("rita").do("GET", fmt.Sprintf("/api/v1/promotions/%d", top.ID), nil); r.status != http.StatusNotFound {
			t.Errorf("rita reads a record of prod: %d", r.status)
		}

		// The signature gate, with nothing to judge signatures by, refuses
		// and says why.
		wantAPI(t, "signature gate", cl("bob").do("PUT", "/api/v1/namespaces/prod/promotion-policy", []byte(`{"gates":{"signature":true}}`)), http.StatusOK)
		status, a = promoteAs(t, pat, "ci/app:v1", "prod/app:1.1")
		if status != http.StatusForbidden || fmt.Sprint(a.failed()) != "[signature]" || !strings.Contains(a.Detail, "signature") {
			t.Errorf("signature gate: %d %+v", status, a)
		}
	})
}

// wantAPI fails the test unless r has the status; an error must be problem
// JSON.
func wantAPI(t *testing.T, what string, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
	if status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("%s: Content-Type %q, want problem JSON", what, r.header.Get("Content-Type"))
	}
}
