package mgmt_test

import (
	"testing"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// TestUsageAPI: a repository's usage lists its tags with the pulls of the
// manifests they name; namespace and repository figures count pulls and
// bytes served; the registry-wide figures are for system administrators.
func TestUsageAPI(t *testing.T) {
	e := lifecycleEnv(t)
	v1 := e.push("team/a", "v1")
	e.push("team/a", "v2")
	e.push("team/b", "v1")
	m, err := e.reg.Manifest(t.Context(), "team/a", mustRef("v1"))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.reg.CountManifestPull("team/a", v1, m.Size)
	}
	e.reg.CountBlobBytes("team/a", 1000)
	if err := e.reg.FlushPulls(t.Context()); err != nil {
		t.Fatal(err)
	}

	var d mgmt.RepositoryUsageDetail
	e.want(200, "bob", "GET", "/api/v1/repositories/team/a/usage", nil, &d)
	served := 3*m.Size + 1000
	if d.Repository != "team/a" || d.Tags != 2 || d.Pulls != 3 || d.PullsLast30Days != 3 ||
		d.BytesServed != served || d.BytesServedLast30Days != served || len(d.ByTag) != 2 {
		t.Fatalf("repository usage %+v", d)
	}
	if tg := d.ByTag[0]; tg.Name != "v1" || tg.Digest != v1 || tg.Pulls != 3 || tg.PullsLast30Days != 3 || tg.UpdatedAt.IsZero() {
		t.Errorf("v1: %+v", tg)
	}
	if tg := d.ByTag[1]; tg.Name != "v2" || tg.Pulls != 0 || tg.LastPull != nil {
		t.Errorf("v2: %+v", tg)
	}
	e.want(404, "carol", "GET", "/api/v1/repositories/team/a/usage", nil, nil)
	e.want(404, "bob", "GET", "/api/v1/repositories/team/none/usage", nil, nil)
	e.want(400, "bob", "GET", "/api/v1/repositories/team/A/usage", nil, nil)

	var u mgmt.NamespaceUsage
	e.want(200, "bob", "GET", "/api/v1/namespaces/team/usage", nil, &u)
	if u.Pulls != 3 || u.BytesServed != served || len(u.Repositories) != 2 || u.Repositories[0].Pulls != 3 || u.Repositories[1].Pulls != 0 {
		t.Errorf("namespace usage %+v", u)
	}

	e.want(403, "alice", "GET", "/api/v1/usage", nil, nil)
	var s mgmt.StorageUsage
	e.want(200, "root", "GET", "/api/v1/usage", nil, &s)
	if s.Repositories != 2 || s.Tags != 3 || s.Blobs == 0 || s.Bytes == 0 || len(s.Namespaces) != 1 ||
		s.Namespaces[0].Namespace != "team" || s.Namespaces[0].Bytes != u.Bytes || s.Namespaces[0].LimitBytes != nil {
		t.Errorf("storage usage %+v, namespace usage %+v", s, u)
	}
}
