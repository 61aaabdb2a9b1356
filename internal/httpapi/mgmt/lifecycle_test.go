package mgmt_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
)

// lifecycleEnv has namespace team with alice its admin and bob a developer.
func lifecycleEnv(t *testing.T) *env {
	e := newEnv(t)
	e.user("alice", false)
	e.user("bob", false)
	e.user("carol", false)
	e.want(201, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "team"}, nil)
	e.want(200, "root", "PUT", "/api/v1/namespaces/team/members/alice", mgmt.MemberPut{Role: "admin"}, nil)
	e.want(200, "root", "PUT", "/api/v1/namespaces/team/members/bob", mgmt.MemberPut{Role: "developer"}, nil)
	return e
}

func TestImmutabilityRulesAPI(t *testing.T) {
	e := lifecycleEnv(t)
	base := "/api/v1/namespaces/team/immutability-rules"
	var rule policy.ImmutabilityRule
	e.want(201, "alice", "POST", base, mgmt.ImmutabilityRuleCreate{Pattern: "v*"}, &rule)
	if rule.ID == 0 || rule.Namespace != "team" || rule.Pattern != "v*" {
		t.Errorf("created %+v", rule)
	}
	e.want(403, "bob", "POST", base, mgmt.ImmutabilityRuleCreate{Pattern: "semver"}, nil)
	e.want(404, "carol", "GET", base, nil, nil)
	e.want(409, "alice", "POST", base, mgmt.ImmutabilityRuleCreate{Pattern: "v*"}, nil)
	p := e.want(400, "alice", "POST", base, mgmt.ImmutabilityRuleCreate{Pattern: "re:(x"}, nil).problem(t)
	if p.Code != "INVALID_REQUEST" || !strings.Contains(p.Detail, "pattern: invalid tag pattern") {
		t.Errorf("bad pattern: %+v", p)
	}
	var rules mgmt.List[policy.ImmutabilityRule]
	e.want(200, "bob", "GET", base, nil, &rules)
	if len(rules.Items) != 1 {
		t.Errorf("rules after a refused add: %+v", rules.Items)
	}

	// The rule holds on pushes: moving v1 is refused.
	e.push("team/app", "v1")
	e.push("team/app", "other")
	other, err := e.reg.Manifest(t.Context(), "team/app", mustRef("other"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.reg.PutManifest(t.Context(), "team/app", mustRef("v1"), other.MediaType, other.Payload)
	if !apierr.Is(err, apierr.Denied) {
		t.Errorf("moving an immutable tag: %v, want DENIED", err)
	}
	e.want(403, "root", "DELETE", "/api/v1/repositories/team/app/tags/v1", nil, nil)

	e.want(403, "bob", "DELETE", base+"/"+itoa(rule.ID), nil, nil)
	e.want(404, "alice", "DELETE", base+"/999", nil, nil)
	e.want(204, "alice", "DELETE", base+"/"+itoa(rule.ID), nil, nil)
	e.want(204, "root", "DELETE", "/api/v1/repositories/team/app/tags/v1", nil, nil)
	if !e.auditHas("immutability.add", "team", "ok") || !e.auditHas("immutability.delete", "team", "ok") {
		t.Error("rule changes are not audited")
	}
}

func TestQuotaAndUsageAPI(t *testing.T) {
	e := lifecycleEnv(t)
	e.push("team/a", "v1")
	e.push("team/b", "v1")
	var u mgmt.NamespaceUsage
	e.want(200, "bob", "GET", "/api/v1/namespaces/team/usage", nil, &u)
	if u.Bytes == 0 || u.Manifests != 2 || u.Tags != 2 || len(u.Repositories) != 2 || u.LimitBytes != nil || u.LastPush == nil {
		t.Errorf("usage %+v", u)
	}
	e.want(404, "carol", "GET", "/api/v1/namespaces/team/usage", nil, nil)

	// Quotas are for system administrators; a namespace admin may not raise its own.
	e.want(403, "alice", "PUT", "/api/v1/namespaces/team/quota", mgmt.QuotaPut{LimitBytes: 1 << 30}, nil)
	p := e.want(400, "root", "PUT", "/api/v1/namespaces/team/quota", mgmt.QuotaPut{LimitBytes: -1}, nil).problem(t)
	if !strings.Contains(p.Detail, "limitBytes: must not be negative") {
		t.Errorf("negative quota: %+v", p)
	}
	e.want(404, "bob", "GET", "/api/v1/namespaces/team/quota", nil, nil)
	e.want(200, "root", "PUT", "/api/v1/namespaces/team/quota", mgmt.QuotaPut{LimitBytes: u.Bytes}, nil)
	var q mgmt.Quota
	e.want(200, "bob", "GET", "/api/v1/namespaces/team/quota", nil, &q)
	if q.LimitBytes != u.Bytes || q.UsedBytes != u.Bytes {
		t.Errorf("quota %+v", q)
	}
	// Full: the next push is refused.
	if _, err := e.reg.PutBlob(t.Context(), "team/c", "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", 5, strings.NewReader("hello")); !apierr.Is(err, apierr.Denied) {
		t.Errorf("a push past the quota: %v, want DENIED", err)
	}
	e.want(200, "bob", "GET", "/api/v1/namespaces/team/usage", nil, &u)
	if u.LimitBytes == nil || *u.LimitBytes != q.LimitBytes {
		t.Errorf("usage limit %v", u.LimitBytes)
	}
	var qs mgmt.List[mgmt.Quota]
	e.want(403, "alice", "GET", "/api/v1/quotas", nil, nil)
	e.want(200, "root", "GET", "/api/v1/quotas", nil, &qs)
	if len(qs.Items) != 1 || qs.Items[0].Namespace != "team" {
		t.Errorf("quotas %+v", qs.Items)
	}
	e.want(204, "root", "DELETE", "/api/v1/namespaces/team/quota", nil, nil)
	e.want(404, "root", "DELETE", "/api/v1/namespaces/team/quota", nil, nil)
}

func TestRetentionAPI(t *testing.T) {
	e := lifecycleEnv(t)
	for _, tag := range []string{"a1", "a2", "a3", "latest"} {
		e.push("team/app", tag)
	}
	in := policy.RetentionPolicy{Scope: "team", KeepLast: []policy.KeepLast{{Pattern: "a*", Count: 1}}, Keep: []string{"latest"}}
	// A preview of a policy not yet stored.
	var rep registry.RetentionReport
	e.want(200, "alice", "POST", "/api/v1/retention/preview", in, &rep)
	if !rep.DryRun || countKind(rep, "tag") != 2 {
		t.Errorf("preview: %+v", rep)
	}
	e.want(403, "bob", "POST", "/api/v1/retention-policies", in, nil)
	bad := in
	bad.KeepLast = []policy.KeepLast{{Pattern: "a*", Count: -1}}
	p := e.want(400, "alice", "POST", "/api/v1/retention-policies", bad, nil).problem(t)
	if !strings.Contains(p.Detail, "keepLast[0].count: must be at least 1") {
		t.Errorf("negative count: %+v", p)
	}
	e.want(400, "alice", "POST", "/api/v1/retention-policies", `{"scope":"team","keepWithin":"soon"}`, nil)
	var stored policy.RetentionPolicy
	e.want(201, "alice", "POST", "/api/v1/retention-policies", in, &stored)
	var list mgmt.List[policy.RetentionPolicy]
	e.want(200, "bob", "GET", "/api/v1/retention-policies", nil, &list)
	if len(list.Items) != 0 {
		t.Errorf("bob, who manages nothing, lists %+v", list.Items)
	}
	e.want(200, "alice", "GET", "/api/v1/retention-policies", nil, &list)
	if len(list.Items) != 1 || list.Items[0].ID != stored.ID {
		t.Errorf("alice lists %+v", list.Items)
	}
	e.want(404, "bob", "GET", "/api/v1/retention-policies/"+itoa(stored.ID), nil, nil)
	e.want(400, "alice", "PUT", "/api/v1/retention-policies/"+itoa(stored.ID), bad, nil)

	rep = registry.RetentionReport{}
	e.want(200, "alice", "POST", "/api/v1/retention-policies/"+itoa(stored.ID)+"/preview", nil, &rep)
	if countKind(rep, "tag") != 2 {
		t.Errorf("stored preview: %+v", rep)
	}
	var tags mgmt.List[mgmt.Tag]
	e.want(200, "root", "GET", "/api/v1/repositories/team/app/tags", nil, &tags)
	if len(tags.Items) != 4 {
		t.Fatalf("previews deleted tags: %+v", tags.Items)
	}
	e.want(403, "alice", "POST", "/api/v1/retention/run", nil, nil)
	rep = registry.RetentionReport{}
	e.want(200, "root", "POST", "/api/v1/retention/run", mgmt.RetentionRun{}, &rep)
	e.want(200, "root", "GET", "/api/v1/repositories/team/app/tags", nil, &tags)
	if rep.DryRun || countKind(rep, "tag") != 2 || len(tags.Items) != 2 {
		t.Errorf("run: %+v; tags left %+v", rep, tags.Items)
	}
	e.want(204, "alice", "DELETE", "/api/v1/retention-policies/"+itoa(stored.ID), nil, nil)
	e.want(404, "alice", "DELETE", "/api/v1/retention-policies/"+itoa(stored.ID), nil, nil)
}

func countKind(rep registry.RetentionReport, kind string) int {
	n := 0
	for _, d := range rep.Deletions {
		if d.Kind == kind {
			n++
		}
	}
	return n
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func mustRef(s string) oci.Reference {
	r, err := oci.ParseReference(s)
	if err != nil {
		panic(err)
	}
	return r
}
