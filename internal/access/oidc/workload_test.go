package oidc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/access/oidc"
	"github.com/wharf-dev/wharf/internal/access/oidc/oidctest"
	"github.com/wharf-dev/wharf/internal/auth"
)

// githubClaims are the claims of a GitHub Actions token of a push to main
// of org/app, asked for with audience "wharf".
func githubClaims(over map[string]any) map[string]any {
	c := map[string]any{
		"aud": "wharf", "sub": "repo:org/app:ref:refs/heads/main",
		"repository": "org/app", "repository_owner": "org", "ref": "refs/heads/main", "ref_type": "branch",
		"workflow": "build", "event_name": "push", "run_id": "1234",
	}
	for k, v := range over {
		c[k] = v
	}
	return c
}

func newWorkloads(t *testing.T, rules ...oidc.Rule) *oidc.Workloads {
	t.Helper()
	w, err := oidc.NewWorkloads(oidc.WorkloadOptions{Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func refusal(t *testing.T, err error) string {
	t.Helper()
	var r *access.SourceRefusal
	if !errors.As(err, &r) || !errors.Is(err, access.ErrUnauthenticated) {
		t.Fatalf("want a refusal, got %v", err)
	}
	return r.Detail
}

func TestWorkloadRules(t *testing.T) {
	gh := oidctest.Start(t)
	k8s := oidctest.Start(t)
	w := newWorkloads(t,
		oidc.Rule{Name: "main", Namespace: "ci", Issuer: gh.URL, Audience: "wharf", Subject: "repo:org/app:ref:refs/heads/main",
			Scopes: []string{"ci/app:pull,push"}},
		oidc.Rule{Name: "branches", Namespace: "sandbox", Issuer: gh.URL, Audience: "wharf",
			Claims: map[string]string{"repository": "org/*", "ref": "refs/heads/**"}, Scopes: []string{"sandbox/*:pull,push"}},
		oidc.Rule{Name: "builder", Namespace: "k8s", Issuer: k8s.URL, Audience: "https://registry.example",
			Claims: map[string]string{"kubernetes.io.namespace": "build", "kubernetes.io.serviceaccount.name": "builder"},
			Scopes: []string{"k8s/*:pull"}},
	)
	ctx := context.Background()

	got, err := w.Verify(ctx, gh.Mint(t, githubClaims(nil)))
	if err != nil || got.Rule != "main" || got.Namespace != "ci" || got.Subject != gh.URL+" repo:org/app:ref:refs/heads/main" {
		t.Fatalf("push to main: %+v, %v", got, err)
	}
	if !got.Scopes.Allows("ci/app", auth.ActionPush, time.Now()) || got.Scopes.Allows("ci/other", auth.ActionPull, time.Now()) {
		t.Errorf("scopes of main: %v", got.Scopes)
	}
	// Another branch of the organisation: the second rule. * stops at /.
	got, err = w.Verify(ctx, gh.Mint(t, githubClaims(map[string]any{"sub": "repo:org/lib:ref:refs/heads/feature/x", "repository": "org/lib", "ref": "refs/heads/feature/x"})))
	if err != nil || got.Rule != "branches" {
		t.Errorf("feature branch of org/lib: %+v, %v", got, err)
	}
	for name, claims := range map[string]map[string]any{
		"another organisation":       {"sub": "repo:evil/app:ref:refs/heads/main", "repository": "evil/app"},
		"a nested repository":        {"sub": "repo:org/a/b:ref:refs/tags/v1", "repository": "org/a/b", "ref": "refs/tags/v1"},
		"a tag, not a branch":        {"sub": "repo:org/app:ref:refs/tags/v1", "ref": "refs/tags/v1"},
		"another audience":           {"aud": "sts.amazonaws.com"},
		"the audience among others?": {"aud": []any{"other", "more"}},
		"expired":                    {"exp": time.Now().Add(-time.Minute).Unix()},
		"no expiry":                  {"exp": nil},
	} {
		_, err := w.Verify(ctx, gh.Mint(t, githubClaims(claims)))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		refusal(t, err)
	}
	// A list of audiences that holds the rule's.
	if got, err := w.Verify(ctx, gh.Mint(t, githubClaims(map[string]any{"aud": []any{"other", "wharf"}}))); err != nil || got.Rule != "main" {
		t.Errorf("audience among several: %+v, %v", got, err)
	}
	// Kubernetes: claims of nested objects, keys with dots.
	k8sClaims := map[string]any{"aud": []any{"https://registry.example"}, "sub": "system:serviceaccount:build:builder",
		"kubernetes.io": map[string]any{"namespace": "build", "serviceaccount": map[string]any{"name": "builder", "uid": "u-1"}}}
	if got, err := w.Verify(ctx, k8s.Mint(t, k8sClaims)); err != nil || got.Rule != "builder" {
		t.Errorf("kubernetes service account: %+v, %v", got, err)
	}
	k8sClaims["kubernetes.io"].(map[string]any)["serviceaccount"].(map[string]any)["name"] = "default"
	if _, err := w.Verify(ctx, k8s.Mint(t, k8sClaims)); err == nil {
		t.Error("another service account: accepted")
	}
	// Forged, from an unknown issuer, not a JWT, the other issuer's key.
	if _, err := w.Verify(ctx, gh.MintUnpublished(t, githubClaims(nil))); err == nil {
		t.Error("a token signed by a key the issuer does not publish: accepted")
	}
	if d := refusal(t, errOf(w.Verify(ctx, strings.Replace(gh.Mint(t, githubClaims(nil)), "", "", 1)+"x"))); d == "" {
		t.Error("a tampered signature: no reason")
	}
	k8sAsGH := k8s.Mint(t, githubClaims(map[string]any{"iss": gh.URL}))
	if _, err := w.Verify(ctx, k8sAsGH); err == nil {
		t.Error("a token claiming GitHub's issuer, signed with another issuer's key: accepted")
	}
	if d := refusal(t, errOf(w.Verify(ctx, "not.a.jwt"))); !strings.Contains(d, "payload") && !strings.Contains(d, "issuer") {
		t.Errorf("not a JWT: %s", d)
	}
	other := oidctest.Start(t)
	if d := refusal(t, errOf(w.Verify(ctx, other.Mint(t, githubClaims(nil))))); !strings.Contains(d, "no workload rule trusts issuer") {
		t.Errorf("an unknown issuer: %s", d)
	}
}

func errOf(_ access.Workload, err error) error { return err }

// TestWorkloadKeys: the issuer's keys are fetched once and cached, fetched
// again for a key not seen before (a rotation), and an issuer that is down
// when its keys are first needed is an outage, not a refusal.
func TestWorkloadKeys(t *testing.T) {
	gh := oidctest.Start(t)
	w := newWorkloads(t, oidc.Rule{Name: "main", Namespace: "ci", Issuer: gh.URL, Audience: "wharf",
		Subject: "repo:org/app:**", Scopes: []string{"ci/*:pull"}})
	ctx := context.Background()

	gh.SetDown(true)
	_, err := w.Verify(ctx, gh.Mint(t, githubClaims(nil)))
	var su *access.SourceUnavailableError
	if !errors.As(err, &su) {
		t.Fatalf("issuer down at the first token: %v, want an outage", err)
	}
	gh.SetDown(false)
	time.Sleep(1100 * time.Millisecond) // a failed discovery is retried after a second
	for range 5 {
		if _, err := w.Verify(ctx, gh.Mint(t, githubClaims(nil))); err != nil {
			t.Fatal(err)
		}
	}
	if n := gh.KeyFetches.Load(); n != 1 {
		t.Errorf("%d fetches of the keys for five tokens, want 1", n)
	}
	gh.Rotate(t)
	if _, err := w.Verify(ctx, gh.Mint(t, githubClaims(nil))); err != nil {
		t.Errorf("a token signed with a rotated key: %v", err)
	}
	if n := gh.KeyFetches.Load(); n != 2 {
		t.Errorf("%d fetches of the keys after a rotation, want 2", n)
	}
	// Down after the keys are cached: tokens still verify (offline).
	gh.SetDown(true)
	if _, err := w.Verify(ctx, gh.Mint(t, githubClaims(nil))); err != nil {
		t.Errorf("issuer down, keys cached: %v", err)
	}
}

func TestWorkloadRuleChecks(t *testing.T) {
	base := oidc.Rule{Name: "r", Namespace: "ci", Issuer: "https://i", Audience: "wharf", Subject: "x", Scopes: []string{"ci/*:pull"}}
	for name, mutate := range map[string]func(*oidc.Rule){
		"no audience":            func(r *oidc.Rule) { r.Audience = "" },
		"no subject nor claims":  func(r *oidc.Rule) { r.Subject = "" },
		"no scopes":              func(r *oidc.Rule) { r.Scopes = nil },
		"a scope outside":        func(r *oidc.Rule) { r.Scopes = []string{"prod/*:push"} },
		"a bad scope":            func(r *oidc.Rule) { r.Scopes = []string{"ci/*:fly"} },
		"an invalid namespace":   func(r *oidc.Rule) { r.Namespace = "CI!" },
		"a scope of everything":  func(r *oidc.Rule) { r.Scopes = []string{"*:pull"} },
		"no namespace in scopes": func(r *oidc.Rule) { r.Namespace = "" },
	} {
		r := base
		mutate(&r)
		if _, err := oidc.NewWorkloads(oidc.WorkloadOptions{Rules: []oidc.Rule{r}}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
