package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
)

// TestHelmChart lints wharf's own chart (deploy/helm/wharf) in both modes,
// renders it, and runs wharf with the configuration and the environment
// variable names the chart gives the pod: single mode on a data directory,
// replicas mode on the test S3 and PostgreSQL, ready in both. Then it
// packages the chart, pushes it to wharf as an OCI artifact and pulls it
// back byte for byte. (test/helm checks the rendered manifests against
// the Kubernetes API types.)
func TestHelmChart(t *testing.T) {
	needTools(t, "helm")
	chart := filepath.Join(repoRoot, "deploy", "helm", "wharf")
	w := t.TempDir()
	env := []string{
		"HELM_CACHE_HOME=" + filepath.Join(w, "cache"), "HELM_CONFIG_HOME=" + filepath.Join(w, "config"),
		"HELM_DATA_HOME=" + filepath.Join(w, "data"), "HELM_REGISTRY_CONFIG=" + filepath.Join(w, "registry.json"),
	}
	helm := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, w, env, ok, "helm", args...)
	}
	for _, mode := range []string{"single", "replicas"} {
		t.Run(mode, func(t *testing.T) {
			values := filepath.Join(chart, "ci", mode+"-values.yaml")
			helm(true, "lint", "--strict", chart, "-f", values)
			out := helm(true, "template", "reg", chart, "-f", values)
			cfg, envNames := renderedPod(t, out)
			cfgPath := filepath.Join(t.TempDir(), "wharf.yaml")
			writeFile(t, cfgPath, cfg)
			runEnv := []string{"WHARF_ADMIN_PASSWORD=" + e2eAdminPassword}
			args := []string{"--data-dir", t.TempDir()}
			if mode == "replicas" {
				if os.Getenv("WHARF_TEST_S3_ENDPOINT") == "" {
					if os.Getenv("CI") != "" {
						t.Fatal("CI must run the chart's replicas mode on the test S3 and PostgreSQL")
					}
					t.Skip("no test S3 (WHARF_TEST_S3_ENDPOINT)")
				}
				// The secrets the chart names, filled from the test services;
				// where the bucket is comes from the environment too.
				secrets := map[string]string{
					"WHARF_DATABASE_POSTGRES_URL":        pgtest.Database(t),
					"WHARF_STORAGE_S3_ACCESS_KEY_ID":     os.Getenv("WHARF_TEST_S3_ACCESS_KEY"),
					"WHARF_STORAGE_S3_SECRET_ACCESS_KEY": os.Getenv("WHARF_TEST_S3_SECRET_KEY"),
				}
				for name, v := range secrets {
					if !contains(envNames, name) {
						t.Fatalf("the chart does not set %s; it sets %v", name, envNames)
					}
					runEnv = append(runEnv, name+"="+v)
				}
				runEnv = append(runEnv, "WHARF_STORAGE_S3_ENDPOINT="+os.Getenv("WHARF_TEST_S3_ENDPOINT"),
					"WHARF_STORAGE_S3_BUCKET="+os.Getenv("WHARF_TEST_S3_BUCKET"), "WHARF_STORAGE_S3_PREFIX=chart-"+randomSuffix())
			}
			if !contains(envNames, "WHARF_ADMIN_PASSWORD") {
				t.Fatalf("the chart does not set WHARF_ADMIN_PASSWORD; it sets %v", envNames)
			}
			p := serveConfig(t, cfgPath, runEnv, args...)
			r := &clientRegistry{p: p}
			if got := registryRepos(t, r); len(got) != 0 {
				t.Fatalf("a fresh registry lists %v", got)
			}
		})
	}

	r := startClientRegistry(t)
	R := r.p.addr
	helm(true, "package", chart, "--destination", w)
	tgz := filepath.Join(w, "wharf-0.1.0.tgz")
	packaged, err := os.ReadFile(tgz)
	if err != nil {
		t.Fatal(err)
	}
	if list := sh(t, w, nil, true, "tar", "-tzf", tgz); strings.Contains(list, "ci/") || !strings.Contains(list, "values.schema.json") {
		t.Fatalf("the package holds the wrong files:\n%s", list)
	}
	helm(true, "registry", "login", R, "-u", "dev", "-p", devPassword, "--plain-http")
	helm(true, "push", tgz, "oci://"+R+"/team/charts", "--plain-http")
	dest := filepath.Join(w, "pulled")
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	helm(true, "pull", "oci://"+R+"/team/charts/wharf", "--version", "0.1.0", "--plain-http", "--destination", dest)
	if pulled, err := os.ReadFile(filepath.Join(dest, "wharf-0.1.0.tgz")); err != nil || !bytes.Equal(pulled, packaged) {
		t.Fatalf("helm pull: %d bytes, %v; want the %d pushed", len(pulled), err, len(packaged))
	}
	if show := helm(true, "show", "values", "oci://"+R+"/team/charts/wharf", "--version", "0.1.0", "--plain-http"); !strings.Contains(show, "mode: single") {
		t.Fatalf("helm show values:\n%s", show)
	}
}

// renderedPod returns the wharf.yaml of the rendered ConfigMap and the
// names of the Deployment's environment variables.
func renderedPod(t *testing.T, manifests string) (string, []string) {
	t.Helper()
	var cfg string
	var names []string
	for _, doc := range strings.Split(manifests, "\n---\n") {
		var obj struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Env []struct {
								Name string `yaml:"name"`
							} `yaml:"env"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		switch obj.Kind {
		case "ConfigMap":
			cfg = obj.Data["wharf.yaml"]
		case "Deployment":
			for _, e := range obj.Spec.Template.Spec.Containers[0].Env {
				names = append(names, e.Name)
			}
		}
	}
	if cfg == "" {
		t.Fatal("no wharf.yaml rendered")
	}
	return cfg, names
}

// serveConfig runs wharf serve --config cfg with env and waits until it is
// ready.
func serveConfig(t *testing.T, cfg string, env []string, args ...string) *wharfProcess {
	t.Helper()
	p := &wharfProcess{t: t, addr: freeAddr(t), log: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, append([]string{"serve", "--config", cfg, "--addr", p.addr, "--log-level", "warn"}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("wharf exited with the chart's configuration:\n%s", p.log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("wharf not ready with the chart's configuration:\n%s", p.log)
		}
	}
}

func randomSuffix() string { return fmt.Sprintf("%x", time.Now().UnixNano()) }
