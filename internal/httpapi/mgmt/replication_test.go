package mgmt_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/remote"
	"github.com/wharf-dev/wharf/internal/replication"
)

// replication is the replication service of the test registry, sealing
// with a fixed key; its runs are not carried out (no job runs).
func (e *env) replication() *replication.Service {
	e.t.Helper()
	sealer, err := remote.NewSealer(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		e.t.Fatal(err)
	}
	svc, err := replication.New(replication.Options{Store: e.store, Registry: e.reg, Sealer: sealer, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// TestReplicationRules: system administrators create, read, replace and
// delete rules; the password is never shown back and is kept when a
// replacement leaves it out; bad rules are refused naming the field; a run
// is queued and shows in the runs and its (empty) log.
func TestReplicationRules(t *testing.T) {
	e := newEnv(t)
	e.user("alice", false)
	secret := "s3cret-token"
	in := map[string]any{
		"name": "dr", "direction": "push", "repositories": []string{"team/**"}, "tags": []string{"semver:>=1 <2"},
		"remote":   map[string]any{"url": "https://backup.example:5000/", "username": "robot", "password": secret},
		"mappings": []map[string]string{{"from": "team", "to": "dr/team"}}, "trigger": map[string]any{"schedule": "1h"}, "deletes": true,
	}
	e.want(http.StatusForbidden, "alice", "POST", "/api/v1/replication/rules", in, nil)
	var rule mgmt.ReplicationRule
	r := e.want(http.StatusCreated, "root", "POST", "/api/v1/replication/rules", in, &rule)
	if strings.Contains(string(r.body), secret) || !rule.Remote.HasPassword || rule.Remote.URL != "https://backup.example:5000" ||
		!rule.Enabled || rule.Concurrency != 4 || rule.ID == 0 {
		t.Fatalf("created rule: %s", r.body)
	}
	e.want(http.StatusConflict, "root", "POST", "/api/v1/replication/rules", in, nil)
	for field, edit := range map[string]func(m map[string]any){
		"direction":  func(m map[string]any) { m["direction"] = "both" },
		"tags":       func(m map[string]any) { m["tags"] = []string{"re:("} },
		"remote.url": func(m map[string]any) { m["remote"] = map[string]any{"url": "backup.example"} },
		"trigger.onEvent": func(m map[string]any) {
			m["direction"], m["trigger"] = "pull", map[string]any{"onEvent": true}
		},
	} {
		bad := map[string]any{}
		for k, v := range in {
			bad[k] = v
		}
		bad["name"] = "bad"
		edit(bad)
		p := e.want(http.StatusBadRequest, "root", "POST", "/api/v1/replication/rules", bad, nil).problem(t)
		if !strings.Contains(p.Detail, field+":") {
			t.Errorf("refusal of a bad %s: %q", field, p.Detail)
		}
	}
	id := strconv.FormatInt(rule.ID, 10)
	r = e.want(http.StatusOK, "root", "GET", "/api/v1/replication/rules/"+id, nil, &rule)
	if strings.Contains(string(r.body), secret) || rule.Trigger.Schedule.String() != "1h0m0s" {
		t.Fatalf("read back: %s", r.body)
	}
	// Replacing without a password keeps it; pointing elsewhere without one is refused.
	in["enabled"] = false
	delete(in, "remote")
	in["remote"] = map[string]any{"url": "https://backup.example:5000", "username": "robot"}
	e.want(http.StatusOK, "root", "PUT", "/api/v1/replication/rules/"+id, in, &rule)
	if !rule.Remote.HasPassword || rule.Enabled {
		t.Fatalf("replaced rule: %+v", rule)
	}
	in["remote"] = map[string]any{"url": "https://elsewhere.example", "username": "robot"}
	p := e.want(http.StatusBadRequest, "root", "PUT", "/api/v1/replication/rules/"+id, in, nil).problem(t)
	if !strings.Contains(p.Detail, "password") {
		t.Errorf("moving a rule's password elsewhere: %q", p.Detail)
	}
	in["remote"] = map[string]any{"url": "https://elsewhere.example", "username": "robot", "password": ""}
	e.want(http.StatusOK, "root", "PUT", "/api/v1/replication/rules/"+id, in, &rule)
	if rule.Remote.HasPassword {
		t.Fatal(`"password": "" did not remove the password`)
	}
	var list mgmt.List[mgmt.ReplicationRule]
	e.want(http.StatusOK, "root", "GET", "/api/v1/replication/rules", nil, &list)
	if len(list.Items) != 1 || list.Items[0].Name != "dr" {
		t.Fatalf("rules: %+v", list)
	}

	var run mgmt.ReplicationRun
	e.want(http.StatusAccepted, "root", "POST", "/api/v1/replication/rules/"+id+"/run", nil, &run)
	if run.State != "queued" || run.Trigger != "manual" || run.RequestedBy != "user:root" || run.Rule != rule.ID {
		t.Fatalf("queued run: %+v", run)
	}
	e.want(http.StatusNotFound, "root", "POST", "/api/v1/replication/rules/999/run", nil, nil)
	var runs mgmt.List[mgmt.ReplicationRun]
	e.want(http.StatusOK, "root", "GET", "/api/v1/replication/runs?rule="+id+"&state=queued", nil, &runs)
	if len(runs.Items) != 1 || runs.Items[0].ID != run.ID {
		t.Fatalf("runs: %+v", runs)
	}
	e.want(http.StatusBadRequest, "root", "GET", "/api/v1/replication/runs?state=done", nil, nil)
	rid := strconv.FormatInt(run.ID, 10)
	e.want(http.StatusOK, "root", "GET", "/api/v1/replication/runs/"+rid, nil, &run)
	var log mgmt.List[mgmt.ReplicationLogLine]
	e.want(http.StatusOK, "root", "GET", "/api/v1/replication/runs/"+rid+"/log", nil, &log)
	if len(log.Items) != 0 {
		t.Fatalf("log of a run not started: %+v", log)
	}
	e.want(http.StatusForbidden, "alice", "GET", "/api/v1/replication/runs/"+rid, nil, nil)
	e.want(http.StatusNoContent, "root", "DELETE", "/api/v1/replication/rules/"+id, nil, nil)
	e.want(http.StatusNotFound, "root", "GET", "/api/v1/replication/runs/"+rid, nil, nil)
	e.want(http.StatusNotFound, "root", "DELETE", "/api/v1/replication/rules/"+id, nil, nil)
	if !e.auditHas("replication.rule.create", "dr", "ok") {
		t.Error("rule creation not audited")
	}
}
