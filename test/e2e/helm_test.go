package e2e

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelm packages a chart and pushes it to wharf as an OCI artifact after
// a registry login, then pulls it back and shows it with helm, all over plain
// HTTP with access control on. The registry must hold it under the chart's
// version as a manifest with Helm's config media type and the chart archive,
// byte for byte, as its one layer.
func TestHelm(t *testing.T) {
	needTools(t, "helm")
	r := startClientRegistry(t)
	R := r.p.addr
	w := t.TempDir()
	env := []string{
		"HELM_CACHE_HOME=" + filepath.Join(w, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(w, "config"),
		"HELM_DATA_HOME=" + filepath.Join(w, "data"),
		"HELM_REGISTRY_CONFIG=" + filepath.Join(w, "registry.json"),
	}
	helm := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, w, env, ok, "helm", args...)
	}
	helm(true, "create", "wharf-demo")
	helm(true, "package", "wharf-demo", "--version", "1.2.3", "--destination", w)
	chart := filepath.Join(w, "wharf-demo-1.2.3.tgz")
	tgz, err := os.ReadFile(chart)
	if err != nil {
		t.Fatal(err)
	}
	oci := "oci://" + R + "/team/charts"
	helm(false, "push", chart, oci, "--plain-http") // not logged in
	helm(false, "registry", "login", R, "-u", "dev", "-p", "wrong", "--plain-http")
	helm(true, "registry", "login", R, "-u", "dev", "-p", devPassword, "--plain-http")
	out := helm(true, "push", chart, oci, "--plain-http")

	m := r.manifest(t, "team/charts/wharf-demo", "1.2.3")
	if m.Config.MediaType != "application/vnd.cncf.helm.config.v1+json" || len(m.Layers) != 1 ||
		m.Layers[0].MediaType != "application/vnd.cncf.helm.chart.content.v1.tar+gzip" {
		t.Fatalf("helm's push: %+v", m)
	}
	if want := fmt.Sprintf("sha256:%x", sha256.Sum256(tgz)); m.Layers[0].Digest != want {
		t.Fatalf("chart layer %s, want the archive's %s", m.Layers[0].Digest, want)
	}
	if !strings.Contains(out, m.Digest) {
		t.Fatalf("helm push printed no digest %s:\n%s", m.Digest, out)
	}

	dest := filepath.Join(w, "pulled")
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	helm(true, "pull", oci+"/wharf-demo", "--version", "1.2.3", "--plain-http", "--destination", dest)
	got, err := os.ReadFile(filepath.Join(dest, "wharf-demo-1.2.3.tgz"))
	if err != nil || string(got) != string(tgz) {
		t.Fatalf("helm pull: %d bytes, %v; want the pushed %d", len(got), err, len(tgz))
	}
	if show := helm(true, "show", "chart", oci+"/wharf-demo", "--version", "1.2.3", "--plain-http"); !strings.Contains(show, "name: wharf-demo") || !strings.Contains(show, "version: 1.2.3") {
		t.Fatalf("helm show chart:\n%s", show)
	}
	helm(true, "registry", "logout", R)
	helm(false, "pull", oci+"/wharf-demo", "--version", "1.2.3", "--plain-http", "--destination", dest)
}
