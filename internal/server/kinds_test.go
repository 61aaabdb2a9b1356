package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// TestNamespaceKinds: the four scopes with their roles (a developer, the
// ci robot, the promoter robot, a production reader, anonymous) × push,
// pull, delete and promote, on every backend; and the policies each kind
// starts with.
func TestNamespaceKinds(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ar := newAuthRegistryOn(t, b, nil)
		admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
		for _, k := range []string{"sandbox", "ci", "prod", "archive"} {
			wantAPI(t, "create "+k, admin.do("POST", "/api/v1/namespaces", fmt.Appendf(nil, `{"name":%q,"kind":%q}`, k, k)), http.StatusCreated)
		}
		ar.user("dev", false)
		ar.user("reader", false)
		ar.user("keeper", false)
		ctx := ar.t.Context()
		for ns, role := range map[string]auth.Role{"ci": auth.RoleDeveloper, "archive": auth.RoleDeveloper} {
			if err := ar.store.PutMember(ctx, meta.Member{Namespace: ns, User: "dev", Role: string(role)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := ar.store.PutMember(ctx, meta.Member{Namespace: "prod", User: "reader", Role: string(auth.RoleReadonly)}); err != nil {
			t.Fatal(err)
		}
		if err := ar.store.PutMember(ctx, meta.Member{Namespace: "archive", User: "keeper", Role: string(auth.RoleAdmin)}); err != nil {
			t.Fatal(err)
		}
		_, ciRobot := ar.token(meta.TokenRobot, "ci", "builder", "ci/*:pull,push")
		_, promoter := ar.token(meta.TokenRobot, "prod", "promoter", "prod/*:pull,push", "ci/*:pull")
		clients := map[string]*client{
			"developer": {tr: ar.testRegistry, user: "dev", secret: "dev-pw"},
			"ci robot":  {tr: ar.testRegistry, user: "ci+builder", secret: ciRobot},
			"promoter":  {tr: ar.testRegistry, user: "prod+promoter", secret: promoter},
			"reader":    {tr: ar.testRegistry, user: "reader", secret: "reader-pw"},
			"archivist": {tr: ar.testRegistry, user: "keeper", secret: "keeper-pw"},
			"sysadmin":  admin,
			"anonymous": {tr: ar.testRegistry},
		}
		// The image every namespace holds, put there by promotion where
		// nothing else may write: ci's robot pushes it.
		if s := clients["ci robot"].pushImage("ci/app", "abc1234", []byte(`{"kinds":1}`)); s != http.StatusCreated {
			t.Fatalf("ci robot pushes ci/app: %d", s)
		}
		d := digest.FromBytes(image([]byte(`{"kinds":1}`)))
		for _, ns := range []string{"sandbox", "prod", "archive"} {
			if s, a := promoteAs(t, admin, "ci/app@"+d.String(), ns+"/app:v1"); s != http.StatusCreated {
				t.Fatalf("promote into %s: %d %+v", ns, s, a)
			}
		}
		// prod starts with an enforced signature rule; this test is about
		// who may do what, so the rule goes, as any policy may.
		wantAPI(t, "prod's image policy", admin.do("DELETE", "/api/v1/namespaces/prod/image-policy", nil), http.StatusNoContent)

		n := 0
		act := map[string]func(c *client, ns string) int{
			"push": func(c *client, ns string) int {
				n++
				return c.pushImage(ns+"/app", fmt.Sprint("p", n), fmt.Appendf(nil, `{"push":%d}`, n))
			},
			"pull": func(c *client, ns string) int { return c.do("GET", "/v2/"+ns+"/app/manifests/"+d.String(), nil).status },
			"delete": func(c *client, ns string) int {
				n++
				cfg := fmt.Appendf(nil, `{"del":%d}`, n)
				if s := admin.pushImage("sandbox/app", fmt.Sprint("d", n), cfg); ns == "sandbox" && s != http.StatusCreated {
					t.Fatalf("seed: %d", s)
				}
				target := digest.FromBytes(image(cfg))
				if ns != "sandbox" {
					target = d // the promoted image, held by an immutable tag where there is one
				}
				return c.do("DELETE", "/v2/"+ns+"/app/manifests/"+target.String(), nil).status
			},
			"promote": func(c *client, ns string) int {
				n++
				s, _ := promoteAs(t, c, "ci/app@"+d.String(), fmt.Sprintf("%s/app:r%d", ns, n))
				return s
			},
		}
		ok := map[string]int{"push": http.StatusCreated, "pull": http.StatusOK, "delete": http.StatusAccepted, "promote": http.StatusCreated}
		// who -> namespace -> the actions allowed
		allowed := map[string]map[string]string{
			"developer": {"sandbox": "push pull delete promote", "ci": "pull promote", "prod": "", "archive": "pull promote"},
			"ci robot":  {"sandbox": "", "ci": "push pull promote", "prod": "", "archive": ""},
			"promoter":  {"sandbox": "", "ci": "pull", "prod": "pull promote", "archive": ""},
			"reader":    {"sandbox": "push pull delete promote", "ci": "pull", "prod": "pull", "archive": ""},
			"archivist": {"sandbox": "push pull delete promote", "ci": "pull", "prod": "", "archive": "push pull promote"},
			"sysadmin":  {"sandbox": "push pull delete promote", "ci": "push pull promote", "prod": "pull promote", "archive": "push pull promote"},
			"anonymous": {"sandbox": "", "ci": "", "prod": "", "archive": ""},
		}
		for who, byNS := range allowed {
			for ns, acts := range byNS {
				for _, a := range []string{"push", "pull", "delete", "promote"} {
					got := act[a](clients[who], ns)
					want := strings.Contains(" "+acts+" ", " "+a+" ")
					if (got == ok[a]) != want {
						t.Errorf("%s %s in %s: %d, want allowed %v", who, a, ns, got, want)
					}
				}
			}
		}

		// A direct push into prod names why it is refused.
		r := admin.do("POST", "/v2/prod/app/blobs/uploads/", nil)
		if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "namespace prod is of kind prod: only promotion writes to it") {
			t.Errorf("sysadmin's push to prod: %d %s", r.status, r.body)
		}
		// Unless prod's promotion policy allows direct pushes.
		wantAPI(t, "directPush", admin.do("PUT", "/api/v1/namespaces/prod/promotion-policy", []byte(`{"directPush":true}`)), http.StatusOK)
		if s := admin.pushImage("prod/app", "hotfix", []byte(`{"hotfix":1}`)); s != http.StatusCreated {
			t.Errorf("direct push allowed by the policy: %d", s)
		}

		// The policies each kind started with.
		for ns, wantRule := range map[string]string{"ci": "sha-", "prod": `"*"`, "archive": `"*"`, "sandbox": ""} {
			r := admin.do("GET", "/api/v1/namespaces/"+ns+"/immutability-rules", nil)
			if wantRule != "" && !strings.Contains(string(r.body), wantRule) || wantRule == "" && strings.Contains(string(r.body), "pattern") {
				t.Errorf("immutability rules of %s: %s", ns, r.body)
			}
		}
		r = admin.do("GET", "/api/v1/retention-policies", nil)
		if !strings.Contains(string(r.body), `"scope": "sandbox"`) || !strings.Contains(string(r.body), `"scope": "ci"`) {
			t.Errorf("retention policies: %s", r.body)
		}
		// The kind is changed by a system administrator only.
		wantAPI(t, "kind by a member", clients["archivist"].do("PATCH", "/api/v1/namespaces/archive", []byte(`{"kind":"general"}`)), http.StatusForbidden)
		wantAPI(t, "kind by the administrator", admin.do("PATCH", "/api/v1/namespaces/archive", []byte(`{"kind":"general"}`)), http.StatusOK)
		if s := clients["developer"].pushImage("archive/app", "now-general", []byte(`{"general":1}`)); s != http.StatusCreated {
			t.Errorf("developer pushes to the archive once it is general: %d", s)
		}
		wantAPI(t, "a bad kind", admin.do("PATCH", "/api/v1/namespaces/archive", []byte(`{"kind":"vault"}`)), http.StatusBadRequest)
	})
}
