package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
)

// The pull-through cache against real registries on loopback: the
// distribution registry with htpasswd, a second wharf, and the docker
// daemon and containerd pulling through wharf as their mirror.

// proxyNamespace creates proxy namespace ns on the wharf at addr (without
// access control: the local administrator), mirroring upstream with the
// given credentials, checking tags at every pull.
func proxyNamespace(t *testing.T, addr, ns, upstream, user, password string, extra ...string) {
	t.Helper()
	args := append([]string{"namespace", "create", ns, "--kind", "proxy", "--upstream", upstream, "--tag-check-interval", "0"}, extra...)
	if user != "" {
		args = append(args, "--upstream-user", user, "--upstream-password-stdin")
	}
	if out, err := wharfCLI(t, []string{"WHARF_URL=http://" + addr}, password+"\n", args...); err != nil {
		t.Fatalf("wharf %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// imageBlobs reads ref's manifest with crane and returns its config and
// layer digests.
func imageBlobs(t *testing.T, crane func(bool, ...string) string, ref string) []string {
	t.Helper()
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal([]byte(crane(true, "manifest", ref)), &m); err != nil {
		t.Fatalf("manifest of %s: %v", ref, err)
	}
	out := []string{m.Config.Digest}
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// httpGet GETs url and returns the status, the Warning header and the body.
func httpGet(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", anyManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1, "", nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1, resp.Header.Get("Warning"), b
	}
	return resp.StatusCode, resp.Header.Get("Warning"), b
}

// TestProxyDistribution: a proxy namespace of the distribution registry,
// with htpasswd credentials, on each backend. The first pull fetches each
// blob once and brings the image's referrers; later pulls ask the upstream
// nothing but a HEAD per tag. With the upstream killed, what is cached is
// served with a Warning and what is not fails naming the upstream; killed
// in the middle of a blob, nothing is cached; pushes are refused.
func TestProxyDistribution(t *testing.T) {
	needTools(t, "crane", "oras")
	for _, b := range e2eBackends(t) {
		t.Run(b.name, func(t *testing.T) { proxyDistribution(t, b) })
	}
}

func proxyDistribution(t *testing.T, b e2eBackend) {
	w := t.TempDir()
	up := startUpstreamRegistry(t)
	upc := craneAs(t, w, up.addr, upstreamUser, upstreamPassword)
	v1 := pushLayers(t, upc, w, up.addr+"/library/app:v1", "app layer one", "app layer two")
	pushLayers(t, upc, w, up.addr+"/library/app:v2", "never pulled through the cache")
	writeFile(t, filepath.Join(w, "sbom.json"), `{"sbom": "of app v1"}`)
	sh(t, w, nil, true, "oras", "attach", "--plain-http", "-u", upstreamUser, "-p", upstreamPassword,
		"--artifact-type", "application/vnd.example.sbom.v1+json", up.addr+"/library/app:v1", "sbom.json:application/json")

	// With PostgreSQL the key that seals upstream passwords is configured.
	key := filepath.Join(t.TempDir(), "proxy-credentials.key")
	sum := sha256.Sum256([]byte(randomHex()))
	writeFile(t, key, hex.EncodeToString(sum[:])+"\n")
	p := startWharf(t, t.TempDir(), append(b.env(t), "WHARF_PROXY_CREDENTIALS_KEY_FILE="+key)...)
	proxyNamespace(t, p.addr, "dist", "http://"+up.addr, upstreamUser, upstreamPassword)
	wc := craneAs(t, w, p.addr, "", "")
	ref := p.addr + "/dist/library/app:v1"
	if got := trimmed(wc(true, "digest", ref)); got != v1 {
		t.Fatalf("the cache's digest of app:v1 is %s, the upstream's %s", got, v1)
	}
	blobs := imageBlobs(t, wc, ref)
	for range 2 {
		wc(true, "pull", "--format", "oci", ref, filepath.Join(w, "pulled-"+randomHex()))
	}
	for _, d := range blobs {
		if n := up.gets("/v2/library/app/blobs/" + d); n != 1 {
			t.Errorf("blob %s fetched from the upstream %d times for two pulls, want 1", d, n)
		}
	}
	if out := sh(t, w, nil, true, "oras", "discover", "--plain-http", ref); !strings.Contains(out, "application/vnd.example.sbom.v1+json") {
		t.Errorf("oras discover through the cache does not show the SBOM fetched with the image:\n%s", out)
	}

	out := wc(false, "append", "--oci-empty-base", "-f", filepath.Join(w, "sbom.json"), "-t", p.addr+"/dist/library/mine:v1")
	if !strings.Contains(out, "pull-through cache") {
		t.Errorf("a push into the proxy namespace was not refused as such:\n%s", out)
	}

	up.kill()
	status, warn, _ := httpGet(t, "http://"+p.addr+"/v2/dist/library/app/manifests/v1")
	if status != http.StatusOK || !strings.Contains(warn, up.addr) || !strings.Contains(warn, "served from the cache") {
		t.Errorf("cached tag with the upstream killed: %d, Warning %q", status, warn)
	}
	wc(true, "pull", "--format", "oci", ref, filepath.Join(w, "pulled-down"))
	out = wc(false, "manifest", p.addr+"/dist/library/app:v2")
	if !strings.Contains(out, "not in the cache") || !strings.Contains(out, up.addr) {
		t.Errorf("uncached tag with the upstream killed does not say why naming the upstream:\n%s", out)
	}
	up.start()

	// Killed in the middle of a blob, behind a slow network: the client's
	// pull fails and nothing is cached; the upstream back, it works.
	big := make([]byte, 24<<20)
	_, _ = rand.Read(big) // incompressible: the layer crane gzips stays 24 MiB
	bigFile := filepath.Join(w, "big.bin")
	if err := os.WriteFile(bigFile, big, 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, w, nil, true, "tar", "-cf", filepath.Join(w, "big.tar"), "-C", w, "big.bin")
	upc(true, "append", "--oci-empty-base", "-f", filepath.Join(w, "big.tar"), "-t", up.addr+"/library/big:v1")
	bigLayer := imageBlobs(t, upc, up.addr+"/library/big:v1")[1]
	th := startThrottle(t, up.addr, 4<<20)
	proxyNamespace(t, p.addr, "slow", "http://"+th.addr(), upstreamUser, upstreamPassword)
	blobURL := "http://" + p.addr + "/v2/slow/library/big/blobs/" + bigLayer
	got := make(chan string, 1)
	go func() {
		start := time.Now()
		status, _, body := httpGet(t, blobURL)
		t.Logf("the first GET of the big blob: %d, %d bytes in %s", status, len(body), time.Since(start))
		got <- fmt.Sprintf("%d %s", status, digest.FromBytes(body))
	}()
	// 24 MiB at 4 MiB/s: the fetch is under way for six seconds.
	time.Sleep(2 * time.Second)
	up.kill()
	if res := <-got; res == "200 "+bigLayer {
		t.Fatal("the client got the whole blob from an upstream killed half-way")
	}
	if status, _, _ := httpGet(t, blobURL); status == http.StatusOK {
		t.Fatal("the blob cut short is served from the cache")
	}
	up.start()
	if status, _, body := httpGet(t, blobURL); status != http.StatusOK || digest.FromBytes(body).String() != bigLayer {
		t.Fatalf("the blob after the upstream came back: %d, %d bytes", status, len(body))
	}
}

// TestProxyWharfUpstream: a proxy namespace of another wharf with access
// control on, reached as a user. Referrers come through the referrers API;
// a tag moved upstream is followed at the next pull.
func TestProxyWharfUpstream(t *testing.T) {
	needTools(t, "crane", "oras")
	w := t.TempDir()
	upDir := t.TempDir()
	upW := startWharf(t, upDir, authEnv()...)
	f := openAccess(t, upDir)
	f.user("dev", devPassword)
	f.namespace("team", map[string]auth.Role{"dev": auth.RoleDeveloper})
	upc := craneAs(t, w, upW.addr, "dev", devPassword)
	v1 := pushLayers(t, upc, w, upW.addr+"/team/app:latest", "first")
	writeFile(t, filepath.Join(w, "sig.json"), `{"signed": "app"}`)
	sh(t, w, nil, true, "oras", "attach", "--plain-http", "-u", "dev", "-p", devPassword,
		"--artifact-type", "application/vnd.example.signature.v1+json", upW.addr+"/team/app:latest", "sig.json:application/json")

	p := startWharf(t, t.TempDir())
	proxyNamespace(t, p.addr, "up", "http://"+upW.addr, "dev", devPassword)
	wc := craneAs(t, w, p.addr, "", "")
	ref := p.addr + "/up/team/app:latest"
	if got := trimmed(wc(true, "digest", ref)); got != v1 {
		t.Fatalf("through the cache: %s, want %s", got, v1)
	}
	if out := sh(t, w, nil, true, "oras", "discover", "--plain-http", ref); !strings.Contains(out, "application/vnd.example.signature.v1+json") {
		t.Errorf("the signature did not come with the image:\n%s", out)
	}
	v2 := pushLayers(t, upc, w, upW.addr+"/team/app:latest", "second")
	if got := trimmed(wc(true, "digest", ref)); got != v2 {
		t.Errorf("after the tag moved upstream the cache serves %s, want %s", got, v2)
	}
	if got := trimmed(wc(true, "digest", p.addr+"/up/team/app@"+v1)); got != v1 {
		t.Errorf("the old image by digest: %s", got)
	}
}

// TestProxyCluster: two replicas on S3 and PostgreSQL share one proxy
// namespace; 50 clients pulling one uncached image at once, 25 through
// each, fetch each blob from the upstream once, counted at the upstream.
func TestProxyCluster(t *testing.T) {
	needTools(t, "crane")
	key := filepath.Join(t.TempDir(), "credentials.key")
	sum := sha256.Sum256([]byte(randomHex()))
	writeFile(t, key, hex.EncodeToString(sum[:])+"\n")
	c := startCluster(t, 2, "WHARF_PROXY_CREDENTIALS_KEY_FILE="+key, "WHARF_PROXY_RELOAD_INTERVAL=200ms")
	w := t.TempDir()
	up := startUpstreamRegistry(t)
	upc := craneAs(t, w, up.addr, upstreamUser, upstreamPassword)
	layer := make([]byte, 6<<20)
	_, _ = rand.Read(layer) // incompressible: the layer crane gzips stays 6 MiB
	if err := os.WriteFile(filepath.Join(w, "layer.bin"), layer, 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, w, nil, true, "tar", "-cf", filepath.Join(w, "layer.tar"), "-C", w, "layer.bin")
	upc(true, "append", "--oci-empty-base", "-f", filepath.Join(w, "layer.tar"), "-t", up.addr+"/library/shared:v1")
	blobs := imageBlobs(t, upc, up.addr+"/library/shared:v1")
	// A slow network, so that the pulls overlap the fetch.
	th := startThrottle(t, up.addr, 16<<20)
	proxyNamespace(t, c.nodes[0].addr, "hub", "http://"+th.addr(), upstreamUser, upstreamPassword, "--public")
	time.Sleep(time.Second) // the other replica reloads the upstreams every 200ms

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	start := make(chan struct{})
	for i := range 50 {
		base := c.url(i % 2)
		wg.Go(func() {
			<-start
			status, _, b := httpGet(t, base+"/v2/hub/library/shared/manifests/v1")
			if status != http.StatusOK {
				errs <- fmt.Errorf("manifest through %s: %d %s", base, status, b)
				return
			}
			for _, d := range blobs {
				status, _, b := httpGet(t, base+"/v2/hub/library/shared/blobs/"+d)
				if status != http.StatusOK || digest.FromBytes(b).String() != d {
					errs <- fmt.Errorf("blob %s through %s: %d, %d bytes", d, base, status, len(b))
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, d := range blobs {
		if n := up.gets("/v2/library/shared/blobs/" + d); n != 1 {
			t.Errorf("blob %s fetched from the upstream %d times for 50 pulls on 2 replicas, want 1", d, n)
		}
	}
	if n := up.gets("/v2/library/shared/manifests/v1"); n > 2 {
		t.Errorf("the manifest fetched %d times, want at most once per replica; the upstream's log:\n%s", n, up.logText())
	}
}
