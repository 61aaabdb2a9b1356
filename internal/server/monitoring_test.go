package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
)

// exposition is one scrape of /metrics.
type exposition struct {
	text     string
	series   map[string]float64 // `name{labels}` as written, labels sorted by name
	families map[string]string  // name -> type, from the # TYPE lines
}

func scrape(t *testing.T, tr *testRegistry) exposition {
	t.Helper()
	r := tr.do("GET", "/metrics", nil)
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", r.status, r.body)
	}
	e := exposition{text: string(r.body), series: map[string]float64{}, families: map[string]string{}}
	for line := range strings.SplitSeq(e.text, "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			e.families[name] = typ
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		e.series[line[:i]] = v
	}
	return e
}

// value returns one series; a missing one fails the test.
func (e exposition) value(t *testing.T, series string) float64 {
	t.Helper()
	v, ok := e.series[series]
	if !ok {
		t.Fatalf("/metrics has no series %s", series)
	}
	return v
}

// labelValues lists the values label takes in the series of family name.
func (e exposition) labelValues(name, label string) map[string]bool {
	out := map[string]bool{}
	for s := range e.series {
		rest, ok := strings.CutPrefix(s, name+"{")
		if !ok {
			continue
		}
		for pair := range strings.SplitSeq(strings.TrimSuffix(rest, "}"), ",") {
			if k, v, _ := strings.Cut(pair, "="); k == label {
				out[strings.Trim(v, `"`)] = true
			}
		}
	}
	return out
}

// waitForSeries scrapes until series has value want (the storage figures
// come from a background job) and returns that scrape.
func waitForSeries(t *testing.T, tr *testRegistry, series string, want float64) exposition {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		e := scrape(t, tr)
		if v, ok := e.series[series]; ok && v == want {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become %v within 15s; last scrape:\n%s", series, want, grep(e.text, "wharf_storage", "wharf_namespace_storage", "wharf_quota"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func grep(text string, prefixes ...string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "\n")
}

// trafficFixture is a registry with access control on whose /metrics has
// seen a bit of everything: pushes, pulls that succeed and fail, refused
// logins, a quota refusal, namespaces beyond the label limit, and the
// storage figures.
type trafficFixture struct {
	*authRegistry
	config, layer, manifest []byte
	others                  [][]byte // config and manifest of each of ns1..ns4
}

func newTrafficFixture(t *testing.T, b backend, mod func(*config.Config)) *trafficFixture {
	t.Helper()
	ar := newAuthRegistryOn(t, b, func(c *config.Config) {
		c.Metrics.NamespaceLabels = 3
		c.Metrics.StorageInterval = time.Second
		if mod != nil {
			mod(c)
		}
	})
	f := &trafficFixture{authRegistry: ar, config: []byte(`{"architecture":"amd64","os":"linux"}`), layer: randomBlob(1000)}
	admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}

	// One image in "team", pulled three ways and missed once.
	want(t, "push layer", admin.do("POST", "/v2/team/app/blobs/uploads/?digest="+digestOf(f.layer), f.layer), http.StatusCreated, "")
	if s := admin.pushBlob("team/app", f.config); s != http.StatusCreated {
		t.Fatalf("push config: %d", s)
	}
	f.manifest = image(f.config, f.layer)
	want(t, "push manifest", admin.do("PUT", "/v2/team/app/manifests/v1", f.manifest, "Content-Type", ociManifestType), http.StatusCreated, "")
	want(t, "GET manifest", admin.do("GET", "/v2/team/app/manifests/v1", nil), http.StatusOK, "")
	want(t, "GET manifest again", admin.do("GET", "/v2/team/app/manifests/v1", nil), http.StatusOK, "")
	want(t, "HEAD manifest", admin.do("HEAD", "/v2/team/app/manifests/v1", nil), http.StatusOK, "")
	want(t, "GET missing tag", admin.do("GET", "/v2/team/app/manifests/nope", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	want(t, "GET layer", admin.do("GET", "/v2/team/app/blobs/"+digestOf(f.layer), nil), http.StatusOK, "")
	want(t, "GET layer range", admin.do("GET", "/v2/team/app/blobs/"+digestOf(f.layer), nil, "Range", "bytes=0-99"), http.StatusPartialContent, "")
	want(t, "HEAD layer", admin.do("HEAD", "/v2/team/app/blobs/"+digestOf(f.layer), nil), http.StatusOK, "")

	// Refused logins, one of each kind a client can cause here.
	for _, authz := range []string{
		auth.BasicAuthorization("admin", "wrong-password"),
		auth.BasicAuthorization("mallory", "guess"),
		"Bearer not.a.jwt",
	} {
		want(t, "refused login", ar.do("GET", "/v2/", nil, "Authorization", authz), http.StatusUnauthorized, "UNAUTHORIZED")
	}

	// A namespace whose quota refuses a layer.
	ms := ar.s.MetaStore()
	if err := ms.Update(context.Background(), func(tx meta.Tx) error {
		return tx.SetQuota(context.Background(), meta.Quota{Namespace: "tight", LimitBytes: 10})
	}); err != nil {
		t.Fatal(err)
	}
	want(t, "push over quota", admin.do("POST", "/v2/tight/app/blobs/uploads/?digest="+digestOf(f.layer), f.layer), http.StatusForbidden, "DENIED")

	// Four more namespaces, beyond the limit of three labels (team and
	// tight took two).
	for i := 1; i <= 4; i++ {
		cfg := []byte(fmt.Sprintf(`{"ns":%d,"pad":"%s"}`, i, strings.Repeat("x", 10*i)))
		repo := fmt.Sprintf("ns%d/app", i)
		if s := admin.pushImage(repo, "v1", cfg); s != http.StatusCreated {
			t.Fatalf("push %s: %d", repo, s)
		}
		f.others = append(f.others, cfg, image(cfg))
	}
	return f
}

func digestOf(b []byte) string { return digest.FromBytes(b).String() }

// TestMetricsOfRealTraffic scrapes /metrics after real pushes, pulls,
// refused logins and a quota refusal, and checks what they counted.
func TestMetricsOfRealTraffic(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newTrafficFixture(t, b, nil)
		e := scrape(t, f.testRegistry)
		for series, want := range map[string]float64{
			`wharf_pushes_total{namespace="team",result="ok"}`:                       1,
			`wharf_pulls_total{kind="manifest",namespace="team",result="ok"}`:        3,
			`wharf_pulls_total{kind="manifest",namespace="team",result="not_found"}`: 1,
			`wharf_pulls_total{kind="manifest",namespace="team",result="error"}`:     0,
			`wharf_pulls_total{kind="blob",namespace="team",result="ok"}`:            2,
			`wharf_pull_bytes_total{namespace="team"}`:                               1100,
			`wharf_pull_duration_seconds_count{kind="manifest"}`:                     3,
			`wharf_pull_duration_seconds_count{kind="blob"}`:                         2,
			`wharf_auth_failures_total{reason="wrong_password"}`:                     1,
			`wharf_auth_failures_total{reason="unknown_user"}`:                       1,
			`wharf_auth_failures_total{reason="bearer_invalid"}`:                     1,
			`wharf_auth_failures_total{reason="token_expired"}`:                      0,
			`wharf_quota_refusals_total{namespace="tight",operation="upload"}`:       1,
			`wharf_quota_refusals_total{namespace="team",operation="upload"}`:        0,
			`wharf_pushes_total{namespace="ns1",result="ok"}`:                        1,
			`wharf_pushes_total{namespace="_other",result="ok"}`:                     3,
		} {
			if got := e.value(t, series); got != want {
				t.Errorf("%s = %v, want %v", series, got, want)
			}
		}
		// Three namespaces and _other, however many namespaces there are.
		for _, fam := range []string{"wharf_pulls_total", "wharf_pushes_total", "wharf_pull_bytes_total", "wharf_quota_refusals_total"} {
			got := e.labelValues(fam, "namespace")
			for ns := range got {
				if ns != "team" && ns != "tight" && ns != "ns1" && ns != "_other" {
					t.Errorf("%s has a series for namespace %s beyond the limit of 3", fam, ns)
				}
			}
		}

		// The storage figures, from the storage-metrics job: team holds
		// its layer, config and manifest; ns1..ns4 a config and manifest
		// each; the three largest are labelled, the fourth is _other.
		team := float64(len(f.layer) + len(f.config) + len(f.manifest))
		blobs := float64(len(f.layer) + len(f.config))
		sizes := map[string]float64{}
		for i := range 4 {
			sizes[fmt.Sprintf("ns%d", i+1)] = float64(len(f.others[2*i]) + len(f.others[2*i+1]))
			blobs += float64(len(f.others[2*i]))
		}
		e = waitForSeries(t, f.testRegistry, `wharf_storage_bytes`, blobs)
		for series, want := range map[string]float64{
			`wharf_storage_blobs`:                               6,
			`wharf_namespace_storage_bytes{namespace="team"}`:   team,
			`wharf_namespace_storage_bytes{namespace="ns4"}`:    sizes["ns4"],
			`wharf_namespace_storage_bytes{namespace="ns3"}`:    sizes["ns3"],
			`wharf_namespace_storage_bytes{namespace="_other"}`: sizes["ns1"] + sizes["ns2"],
			`wharf_quota_limit_bytes{namespace="tight"}`:        10,
			`wharf_quota_used_bytes{namespace="tight"}`:         0,
			`wharf_job_failures_total{name="storage-metrics"}`:  0,
		} {
			if got := e.value(t, series); got != want {
				t.Errorf("%s = %v, want %v", series, got, want)
			}
		}
		if runs := e.value(t, `wharf_job_runs_total{name="storage-metrics"}`); runs < 1 {
			t.Errorf("storage-metrics ran %v times", runs)
		}
		if at := e.value(t, "wharf_storage_refresh_timestamp_seconds"); time.Since(time.Unix(int64(at), 0)) > time.Minute {
			t.Errorf("storage figures computed at %v", time.Unix(int64(at), 0))
		}
	})
}

// TestNamespaceLabelsStayBounded: a client pulling from a thousand names
// that do not exist, and pushes to more namespaces than the limit, leave
// at most the limit of namespace labels plus _other.
func TestNamespaceLabelsStayBounded(t *testing.T) {
	cfg := newConfig(t, backends(t)[0])
	cfg.Metrics.NamespaceLabels = 5
	tr := openTestRegistry(t, cfg)
	for i := range 1000 {
		want(t, "pull of nothing", tr.do("GET", fmt.Sprintf("/v2/ghost%d/app/manifests/latest", i), nil), http.StatusNotFound, "")
	}
	for i := range 20 {
		tr.pushImage(fmt.Sprintf("real%d/app", i), "v1", []byte(fmt.Sprintf(`{"n":%d}`, i)))
		want(t, "pull", tr.do("GET", fmt.Sprintf("/v2/real%d/app/manifests/v1", i), nil), http.StatusOK, "")
	}
	e := scrape(t, tr)
	names := e.labelValues("wharf_pulls_total", "namespace")
	if len(names) != 6 || !names["_other"] {
		t.Fatalf("wharf_pulls_total has namespaces %v, want 5 and _other", names)
	}
	for ns := range names {
		if strings.HasPrefix(ns, "ghost") {
			t.Errorf("a namespace that does not exist (%s) took a label", ns)
		}
	}
	if got := e.value(t, `wharf_pulls_total{kind="manifest",namespace="_other",result="not_found"}`); got != 1000 {
		t.Errorf("pulls of names that do not exist: %v, want 1000 under _other", got)
	}
	if got := e.value(t, `wharf_pulls_total{kind="manifest",namespace="_other",result="ok"}`); got != 15 {
		t.Errorf("pulls beyond the limit: %v, want 15 under _other", got)
	}
	if n := strings.Count(e.text, "\nwharf_"); n > 400 {
		t.Errorf("/metrics has %d wharf series after 1,020 namespaces; the labels are not bounded", n)
	}
}

// TestStorageFiguresFromTheLeaseHolderOnly: of two replicas, only the one
// holding the storage-metrics lease exports the storage figures; when it
// stops, the other takes the lease over and exports them.
func TestStorageFiguresFromTheLeaseHolderOnly(t *testing.T) {
	if os.Getenv("WHARF_TEST_POSTGRES_URL") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("WHARF_TEST_POSTGRES_URL is not set")
		}
		t.Skip("WHARF_TEST_POSTGRES_URL is not set")
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Database.Driver = "postgres"
	cfg.Database.Postgres.URL = pgtest.Database(t)
	cfg.Metrics.StorageInterval = time.Second
	a := openTestRegistry(t, cfg)
	b := openTestRegistry(t, cfg)
	a.pushImage("team/app", "v1", []byte(`{"a":1}`), []byte("layer"))
	size := float64(len(`{"a":1}`) + len("layer"))

	exporters := func() (holder, other *testRegistry) {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			ea, eb := scrape(t, a).series, scrape(t, b).series
			_, inA := ea["wharf_storage_bytes"]
			_, inB := eb["wharf_storage_bytes"]
			switch {
			case inA && inB:
				t.Fatal("both replicas export the storage figures")
			case inA && ea["wharf_storage_bytes"] == size:
				return a, b
			case inB && eb["wharf_storage_bytes"] == size:
				return b, a
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("no replica exported the storage figures within 15s")
		return nil, nil
	}
	holder, other := exporters()
	// Some more scrapes: the other replica must keep out of it.
	for range 20 {
		if _, ok := scrape(t, other).series["wharf_storage_bytes"]; ok {
			t.Fatal("the replica without the lease exports the storage figures")
		}
		time.Sleep(50 * time.Millisecond)
	}
	holder.close()
	waitForSeries(t, other, "wharf_storage_bytes", size)
}

// TestPullBytesOfRedirects: with storage.s3.redirect the bytes flow from
// the store, not through wharf, and the blob's size is counted as pulled.
func TestPullBytesOfRedirects(t *testing.T) {
	var s3 *backend
	for _, b := range backends(t) {
		if b.name == "s3+sqlite" {
			s3 = &b
		}
	}
	if s3 == nil {
		t.Skip("WHARF_TEST_S3_ENDPOINT is not set") // backends fails under CI
	}
	cfg := newConfig(t, *s3)
	cfg.Storage.S3.Redirect = true
	tr := openTestRegistry(t, cfg)
	layer := randomBlob(4096)
	tr.pushImage("team/app", "v1", []byte(`{"r":1}`), layer)
	r := tr.do("GET", "/v2/team/app/blobs/"+digestOf(layer), nil)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(tr.srv.URL + "/v2/team/app/blobs/" + digestOf(layer))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || r.status != http.StatusOK {
		t.Fatalf("blob GET: %d without following, %d following; want a redirect to the store", resp.StatusCode, r.status)
	}
	e := scrape(t, tr)
	if got := e.value(t, `wharf_pull_bytes_total{namespace="team"}`); got != 2*4096 {
		t.Errorf("wharf_pull_bytes_total = %v after two redirected pulls of 4096 bytes", got)
	}
	if got := e.value(t, `wharf_pulls_total{kind="blob",namespace="team",result="ok"}`); got != 2 {
		t.Errorf("blob pulls = %v, want 2", got)
	}
}
