package mgmt_test

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/oci"
)

func TestRepositories(t *testing.T) {
	e := newEnv(t)
	e.user("alice", false)
	e.want(201, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "team"}, nil)
	e.want(201, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "pub", Public: true}, nil)
	e.want(201, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "secret"}, nil)
	e.want(200, "root", "PUT", "/api/v1/namespaces/team/members/alice", mgmt.MemberPut{Role: "developer"}, nil)
	v1 := e.push("team/tools/app", "v1")
	e.push("team/tools/app", "v2")
	e.push("pub/base", "latest")
	e.push("secret/keys", "v1")

	var repos mgmt.List[mgmt.Repository]
	e.want(200, "alice", "GET", "/api/v1/repositories", nil, &repos)
	if got := repoNames(repos.Items); got != "pub/base team/tools/app" {
		t.Errorf("alice lists %q", got)
	}
	repos = mgmt.List[mgmt.Repository]{}
	e.want(200, "root", "GET", "/api/v1/repositories?n=2", nil, &repos)
	if got := repoNames(repos.Items); got != "pub/base secret/keys" || repos.Next != "secret/keys" {
		t.Errorf("root's first page %q next %q", got, repos.Next)
	}

	var tags mgmt.List[mgmt.Tag]
	e.want(200, "alice", "GET", "/api/v1/repositories/team/tools/app/tags", nil, &tags)
	if len(tags.Items) != 2 || tags.Items[0].Name != "v1" || tags.Items[0].Digest != v1 {
		t.Errorf("tags %+v", tags)
	}
	tags = mgmt.List[mgmt.Tag]{}
	e.want(200, "alice", "GET", "/api/v1/repositories/team/tools/app/tags?n=1", nil, &tags)
	if len(tags.Items) != 1 || tags.Next != "v1" {
		t.Errorf("tags page %+v", tags)
	}
	// A private repository alice may not pull is not found, exactly like one
	// that does not exist.
	missing := e.want(404, "alice", "GET", "/api/v1/repositories/secret/nothing/tags", nil, nil).problem(t)
	hidden := e.want(404, "alice", "GET", "/api/v1/repositories/secret/keys/tags", nil, nil).problem(t)
	if strings.ReplaceAll(hidden.Detail, "keys", "nothing") != missing.Detail {
		t.Errorf("hidden %q and missing %q answers differ", hidden.Detail, missing.Detail)
	}
	e.want(404, "root", "GET", "/api/v1/repositories/team/nothing/tags", nil, nil)
	e.want(400, "root", "GET", "/api/v1/repositories/Team/App/tags", nil, nil)

	// Developers push but do not delete.
	e.want(403, "alice", "DELETE", "/api/v1/repositories/team/tools/app/tags/v2", nil, nil)
	e.want(200, "root", "PUT", "/api/v1/namespaces/team/members/alice", mgmt.MemberPut{Role: "maintainer"}, nil)
	e.want(204, "alice", "DELETE", "/api/v1/repositories/team/tools/app/tags/v2", nil, nil)
	e.want(404, "alice", "DELETE", "/api/v1/repositories/team/tools/app/tags/v2", nil, nil)
	e.want(400, "alice", "DELETE", "/api/v1/repositories/team/tools/app/tags/.bad", nil, nil)
	e.want(400, "alice", "DELETE", "/api/v1/repositories/team/tools/app/manifests/sha256:zz", nil, nil)
	e.want(204, "alice", "DELETE", "/api/v1/repositories/team/tools/app/manifests/"+v1.String(), nil, nil)
	e.want(404, "alice", "DELETE", "/api/v1/repositories/team/tools/app/manifests/"+v1.String(), nil, nil)
	if _, err := e.reg.Manifest(t.Context(), "team/tools/app", oci.Reference{Tag: "v1"}); err == nil {
		t.Error("the tag of a deleted manifest still resolves")
	}
	if !e.auditHas("tag.delete", "team/tools/app:v2", "ok") || !e.auditHas("tag.delete", "team/tools/app:v2", "denied") ||
		!e.auditHas("manifest.delete", "team/tools/app@"+v1.String(), "ok") {
		t.Error("deletes not audited")
	}
}

func repoNames(rs []mgmt.Repository) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Name)
	}
	return strings.Join(s, " ")
}

func TestAuditQueries(t *testing.T) {
	e := newEnv(t)
	e.user("alice", false)
	start := time.Now().UTC().Add(-time.Second)
	for i := range 5 {
		e.want(201, "root", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: fmt.Sprintf("ns%d", i)}, nil)
	}
	e.want(403, "alice", "POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "mine"}, nil)
	e.want(403, "alice", "GET", "/api/v1/audit", nil, nil)

	query := func(q string) mgmt.List[mgmt.AuditEvent] {
		t.Helper()
		var l mgmt.List[mgmt.AuditEvent]
		e.want(200, "root", "GET", "/api/v1/audit?"+q, nil, &l)
		return l
	}
	all := query("action=namespace.create")
	if len(all.Items) != 6 || all.Items[0].Target != "mine" || all.Items[0].Result != "denied" || all.Items[0].Actor != "user:alice" {
		t.Fatalf("namespace.create events %+v", all.Items)
	}
	if all.Items[0].Client == "" || all.Items[0].At.Before(start) {
		t.Errorf("event lacks client or time: %+v", all.Items[0])
	}
	if l := query("actor=user:alice"); len(l.Items) != 1 {
		t.Errorf("actor filter: %+v", l.Items)
	}
	if l := query("result=ok&target=ns3"); len(l.Items) != 1 || l.Items[0].Target != "ns3" {
		t.Errorf("result and target filters: %+v", l.Items)
	}
	if l := query("until=" + url.QueryEscape(start.Format(time.RFC3339))); len(l.Items) != 0 {
		t.Errorf("until before everything: %+v", l.Items)
	}
	if l := query("since=" + url.QueryEscape(start.Format(time.RFC3339)) + "&action=namespace.create"); len(l.Items) != 6 {
		t.Errorf("since: %d events", len(l.Items))
	}
	// Pages of two, newest first, follow the next cursor to the end.
	var seen []string
	for cursor, pages := "", 0; ; pages++ {
		q := "action=namespace.create&n=2"
		if cursor != "" {
			q += "&before=" + cursor
		}
		l := query(q)
		for _, ev := range l.Items {
			seen = append(seen, ev.Target)
		}
		if l.Next == "" || pages > 5 {
			break
		}
		if _, err := strconv.ParseInt(l.Next, 10, 64); err != nil {
			t.Fatalf("next cursor %q", l.Next)
		}
		cursor = l.Next
	}
	if got := strings.Join(seen, " "); got != "mine ns4 ns3 ns2 ns1 ns0" {
		t.Errorf("paged audit %q", got)
	}
	for _, bad := range []string{"since=yesterday", "until=2025-13-01T00:00:00Z", "before=x", "before=0", "n=0"} {
		e.want(400, "root", "GET", "/api/v1/audit?"+bad, nil, nil)
	}
}
