package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wharf-dev/wharf/internal/config"
)

// The monitoring files wharf ships, relative to this package.
const (
	alertsFile    = "../../deploy/prometheus/alerts.yml"
	dashboardFile = "../../deploy/grafana/wharf.json"
	monitoringDoc = "../../docs/monitoring.md"
)

// notYetExported are metrics the alerts use that another part of wharf
// will export, by the contract in docs/monitoring.md. Once it does, the
// test fails until the name is taken off this list.
var notYetExported = map[string]string{}

// promtool returns the path of promtool (Debian's prometheus package has
// it; .ci/run installs it), or skips the test where it is missing outside
// CI.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed; .ci/run installs it")
		}
		t.Skip("promtool is not installed (.ci/run installs it)")
	}
	return p
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
}

// TestAlertRules checks deploy/prometheus/alerts.yml with promtool and
// runs its unit tests.
func TestAlertRules(t *testing.T) {
	pt := promtool(t)
	dir := filepath.Dir(alertsFile)
	run(t, dir, pt, "check", "rules", filepath.Base(alertsFile))
	run(t, dir, pt, "test", "rules", "alerts_test.yml", "alerts_week_test.yml")

	// Every alert has a unit test that expects it to fire.
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert string }
		}
	}
	readYAML(t, alertsFile, &rules)
	tested := map[string]bool{}
	for _, f := range []string{"alerts_test.yml", "alerts_week_test.yml"} {
		var tests struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string
					ExpAlerts []any `yaml:"exp_alerts"`
				} `yaml:"alert_rule_test"`
			}
		}
		readYAML(t, filepath.Join(dir, f), &tests)
		for _, tc := range tests.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					tested[a.Alertname] = true
				}
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && !tested[r.Alert] {
				t.Errorf("alert %s has no unit test in which it fires", r.Alert)
			}
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID        string
	Title      string
	Panels     []panel
	Templating struct {
		List []struct {
			Name       string
			Definition string
		}
	}
}

type panel struct {
	ID         int
	Type       string
	Title      string
	Datasource *struct{ Type, UID string }
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct{ RefID, Expr string }
	Panels     []panel // a collapsed row's
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not JSON: %v", dashboardFile, err)
	}
	return d
}

// grafanaVars stands in for the template variables Grafana expands before
// it sends a query.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$__interval", "1m",
	"$__range", "6h",
	"$namespace", ".+",
	"$job", "wharf",
)

// TestDashboard checks deploy/grafana/wharf.json: JSON Grafana imports
// (unique panel ids, every panel on the 24-column grid, a data source and
// a query on every graph), and every query parses as PromQL (promtool
// checks them as recording rules).
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Fatal("the dashboard has no uid or title")
	}
	ids := map[int]bool{}
	var exprs []string
	for _, p := range d.allPanels() {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q is off the grid: %+v", p.Title, g)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries on the ${datasource} variable", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" {
				t.Errorf("panel %q has a target without a query or refId", p.Title)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if strings.HasPrefix(v.Definition, "label_values(") {
			// label_values(SELECTOR, label) is Grafana's; its selector is PromQL.
			sel := strings.TrimPrefix(v.Definition, "label_values(")
			exprs = append(exprs, sel[:strings.LastIndexByte(sel, ',')])
		}
	}

	pt := promtool(t)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		q, _ := json.Marshal(grafanaVars.Replace(e)) // a JSON string is a YAML string
		fmt.Fprintf(&rules, "      - record: dashboard:query%d\n        expr: %s\n", i, q)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.yml"), []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, dir, pt, "check", "rules", "dashboard.yml")
}

func (d dashboard) allPanels() []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// metricName finds metric names; one ending in "_" is a prefix, as in wharf_gc_*.
var metricName = regexp.MustCompile(`\bwharf_[a-z0-9_]+`)

// TestMonitoringNamesExist scrapes a wharf that has served a bit of
// everything and checks that every metric the alerts, the dashboard and
// docs/monitoring.md name is one it exports, and that the document
// describes every metric it exports.
func TestMonitoringNamesExist(t *testing.T) {
	f := newTrafficFixture(t, backends(t)[0], func(c *config.Config) {
		c.Scanning.Enabled = true // its metrics exist only then
		c.Scanning.MetricsInterval = time.Second
	})
	// A replication rule, so that the series labelled by rule exist.
	admin := &client{tr: f.testRegistry, user: "admin", secret: adminPassword}
	want(t, "create a replication rule", admin.do("POST", "/api/v1/replication/rules",
		[]byte(`{"name":"dr","direction":"push","remote":{"url":"http://127.0.0.1:1"},"repositories":["team/**"]}`)), http.StatusCreated, "")
	waitForSeries(t, f.testRegistry, `wharf_images_by_severity{severity="none"}`, 0)
	e := waitForSeries(t, f.testRegistry, `wharf_quota_limit_bytes{namespace="tight"}`, 10)
	exported := func(name string) bool {
		if _, ok := e.families[name]; ok {
			return true
		}
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && e.families[base] == "histogram" {
				return true
			}
		}
		return false
	}

	alerts, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var queries strings.Builder
	for _, p := range readDashboard(t).allPanels() {
		for _, tg := range p.Targets {
			queries.WriteString(tg.Expr + "\n")
		}
	}
	doc, err := os.ReadFile(monitoringDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []struct{ name, text string }{
		{alertsFile, string(alerts)},
		{dashboardFile, queries.String()},
		{monitoringDoc, string(doc)},
	} {
		for _, name := range slices.Compact(slices.Sorted(slices.Values(metricName.FindAllString(src.text, -1)))) {
			if strings.HasSuffix(name, "_") {
				continue
			}
			if _, later := notYetExported[name]; later {
				if exported(name) {
					t.Errorf("%s is exported now: take it off notYetExported", name)
				}
				continue
			}
			if !exported(name) {
				t.Errorf("%s uses %s, which wharf does not export", src.name, name)
			}
		}
	}
	for name := range e.families {
		if strings.HasPrefix(name, "wharf_") && !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("%s does not describe %s", monitoringDoc, name)
		}
	}
}
