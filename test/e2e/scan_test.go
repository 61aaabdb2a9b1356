package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/scanner/scantest"
)

// pushImageHTTP pushes img to repo:tag with monolithic blob uploads.
func pushImageHTTP(t *testing.T, base, repo, tag string, img scantest.Image) {
	t.Helper()
	for _, b := range img.Blobs {
		resp, err := http.Post(base+"/v2/"+repo+"/blobs/uploads/", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusAccepted || loc == "" {
			t.Fatalf("start upload: %s", resp.Status)
		}
		if !strings.HasPrefix(loc, "http") {
			loc = base + loc
		}
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		req, _ := http.NewRequest(http.MethodPut, loc+sep+"digest="+b.Descriptor.Digest.String(), bytes.NewReader(b.Bytes))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("put blob: %s", resp.Status)
		}
	}
	req, _ := http.NewRequest(http.MethodPut, base+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(img.Manifest))
	req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("put manifest: %s", resp.Status)
	}
}

// TestScanning: vulnerability data imported with the CLI into the
// registry's stores, an image scanned on push, wharf scan and wharf vulns
// (table, JSON, SARIF, --fail-on), an allowlist entry, and the SBOMs and
// scan report that oras discover finds as referrers; on both backends.
func TestScanning(t *testing.T) {
	needTools(t, "oras")
	for _, b := range e2eBackends(t) {
		t.Run(b.name, func(t *testing.T) { scanning(t, b) })
	}
}

func scanning(t *testing.T, b e2eBackend) {
	dir := t.TempDir()
	env := append(b.env(t), "WHARF_DATA_DIR="+dir, "WHARF_SCANNING_ENABLED=true", "WHARF_SCANNING_ON_PUSH=true",
		"WHARF_SCANNING_SBOM_ON_PUSH=spdx,cyclonedx", "WHARF_SCANNING_REFRESH_INTERVAL=1s")
	src, err := scantest.WriteAdvisories(dir,
		scantest.Advisory("DEBIAN-CVE-2026-1000", "CVE-2026-1000", "Debian:12", "openssl", "3.0.13-1~deb12u1", scantest.Critical),
		scantest.Advisory("DEBIAN-CVE-2026-1001", "CVE-2026-1001", "Debian:11", "openssl", "3.9", scantest.Critical))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := wharfCLI(t, env, "", "vulndb", "import", src); err != nil || !strings.Contains(out, "imported 2 advisories") {
		t.Fatalf("vulndb import: %v\n%s", err, out)
	}
	if out, err := wharfCLI(t, env, "", "vulndb", "status"); err != nil || !strings.Contains(out, "2 advisories") {
		t.Fatalf("vulndb status: %v\n%s", err, out)
	}
	p := startWharf(t, dir, env...)
	base := "http://" + p.addr
	cli := append(env, "WHARF_URL="+base)
	img := scantest.NewImage("linux/amd64", scantest.Debian(scantest.Dpkg{Name: "libssl3", Version: "3.0.11-1~deb12u1", Source: "openssl"}))
	pushImageHTTP(t, base, "team/app", "v1", img)
	image := p.addr + "/team/app:v1"

	out, err := wharfCLI(t, cli, "", "scan", image, "--json", "--wait", "60s")
	if err != nil {
		t.Fatalf("wharf scan: %v\n%s", err, out)
	}
	var res struct {
		Manifests []struct {
			Status   string
			Summary  struct{ Critical, Fixable int }
			Findings []struct {
				ID, Installed, Fixed, Severity string
				Aliases                        []string
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Manifests) != 1 || res.Manifests[0].Status != "scanned" ||
		res.Manifests[0].Summary.Critical != 1 || len(res.Manifests[0].Findings) != 1 || res.Manifests[0].Findings[0].Fixed != "3.0.13-1~deb12u1" {
		t.Fatalf("wharf scan --json: %v\n%s", err, out)
	}
	if out, err := wharfCLI(t, cli, "", "vulns", image); err != nil || !strings.Contains(out, "DEBIAN-CVE-2026-1000 (CVE-2026-1000)") || !strings.Contains(out, "critical") {
		t.Fatalf("wharf vulns: %v\n%s", err, out)
	}
	out, err = wharfCLI(t, cli, "", "vulns", image, "--sarif")
	var sarif struct {
		Version string
		Runs    []struct {
			Results []struct{ RuleID, Level string }
		}
	}
	if err != nil || json.Unmarshal([]byte(out), &sarif) != nil || sarif.Version != "2.1.0" || len(sarif.Runs[0].Results) != 1 ||
		sarif.Runs[0].Results[0].RuleID != "DEBIAN-CVE-2026-1000" || sarif.Runs[0].Results[0].Level != "error" {
		t.Fatalf("wharf vulns --sarif: %v\n%s", err, out)
	}
	_, err = wharfCLI(t, cli, "", "vulns", image, "--fail-on", "critical")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("wharf vulns --fail-on critical: %v, want exit status 3", err)
	}
	// Accepted in the namespace: the gate passes, the finding says why.
	if out, err := wharfCLI(t, cli, "", "allowlist", "add", "CVE-2026-1000", "--namespace", "team", "--reason", "not reachable", "--expires", "720h"); err != nil {
		t.Fatalf("allowlist add: %v\n%s", err, out)
	}
	if out, err := wharfCLI(t, cli, "", "allowlist", "add", "CVE-2026-1", "--namespace", "team"); err == nil || !strings.Contains(out, "reason is required") {
		t.Fatalf("allowlist add without a reason: %v\n%s", err, out)
	}
	if out, err := wharfCLI(t, cli, "", "vulns", image, "--fail-on", "critical"); err != nil || !strings.Contains(out, "not reachable") {
		t.Fatalf("vulns after allowing: %v\n%s", err, out)
	}
	// The SBOMs written on push, and a scan report, are referrers oras finds.
	if out, err := wharfCLI(t, cli, "", "scan", image, "--report"); err != nil {
		t.Fatalf("wharf scan --report: %v\n%s", err, out)
	}
	want := []string{"application/spdx+json", "application/vnd.cyclonedx+json", "application/vnd.wharf.scan.report.v1+json"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command("oras", "discover", "--plain-http", "--format", "json", image).CombinedOutput()
		if err != nil {
			t.Fatalf("oras discover: %v\n%s", err, out)
		}
		missing := []string{}
		for _, w := range want {
			if !strings.Contains(string(out), fmt.Sprintf("%q", w)) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("oras discover lacks %v:\n%s", missing, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The SBOM oras pulls names the package found.
	out2, err := exec.Command("oras", "discover", "--plain-http", "--format", "json", "--artifact-type", "application/spdx+json", image).CombinedOutput()
	if err != nil {
		t.Fatalf("oras discover --artifact-type: %v\n%s", err, out2)
	}
	var disc struct {
		Referrers []struct{ Digest string }
		Manifests []struct{ Digest string }
	}
	_ = json.Unmarshal(out2, &disc)
	refs := append(disc.Referrers, disc.Manifests...)
	if len(refs) != 1 {
		t.Fatalf("SPDX referrers: %s", out2)
	}
	pull := t.TempDir()
	if out, err := exec.Command("oras", "pull", "--plain-http", "-o", pull, p.addr+"/team/app@"+refs[0].Digest).CombinedOutput(); err != nil {
		t.Fatalf("oras pull: %v\n%s", err, out)
	}
	grep, _ := exec.Command("grep", "-rl", "libssl3", pull).CombinedOutput()
	if len(grep) == 0 {
		t.Fatalf("the pulled SPDX SBOM does not name libssl3")
	}
}
