package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/trust"
)

// policyRegistry is a running wharf with access control on, over one of
// the e2e backends, set up with the wharf CLI as the system administrator:
// in namespace prod, user dev is a developer (CI: pushes and signs) and
// user deploy may only pull (production).
type policyRegistry struct {
	t       *testing.T
	p       *wharfProcess
	w       string   // the test's directory
	env     []string // the clients' environment: wharf as admin, crane and cosign as dev
	pullEnv []string // crane as deploy
}

const deployPassword = "deploy-password"

func startPolicyRegistry(t *testing.T, b e2eBackend) *policyRegistry {
	t.Helper()
	addr := freeAddr(t)
	env := append(b.env(t), authEnv()...)
	p := startWharfAt(t, t.TempDir(), addr, append(env, "WHARF_TRUST_REGISTRY_HOST="+addr)...)
	w := t.TempDir()
	r := &policyRegistry{t: t, p: p, w: w, env: []string{
		"WHARF_URL=http://" + p.addr, "WHARF_USER=admin", "WHARF_PASSWORD=" + e2eAdminPassword,
		"DOCKER_CONFIG=" + filepath.Join(w, "docker"),
		"COSIGN_PASSWORD=e2e-key-password", "TUF_ROOT=" + filepath.Join(w, "tuf"), "SIGSTORE_NO_CACHE=true",
	}}
	r.pullEnv = append(append([]string{}, r.env...), "DOCKER_CONFIG="+filepath.Join(w, "docker-deploy"))
	writeFile(t, filepath.Join(w, "dev.password"), devPassword+"\n")
	writeFile(t, filepath.Join(w, "deploy.password"), deployPassword+"\n")
	sh(t, w, r.env, true, "sh", "-c", binary+" user create dev --password-stdin < dev.password")
	sh(t, w, r.env, true, "sh", "-c", binary+" user create deploy --password-stdin < deploy.password")
	r.wharf(true, "namespace", "create", "prod")
	r.wharf(true, "member", "set", "prod", "dev", "developer")
	r.wharf(true, "member", "set", "prod", "deploy", "readonly")
	sh(t, w, r.env, true, "crane", "auth", "login", p.addr, "-u", "dev", "-p", devPassword)
	sh(t, w, r.pullEnv, true, "crane", "auth", "login", p.addr, "-u", "deploy", "-p", deployPassword)
	return r
}

func (r *policyRegistry) wharf(ok bool, args ...string) string {
	r.t.Helper()
	return sh(r.t, r.w, r.env, ok, binary, args...)
}

// crane runs crane as dev, who pushes.
func (r *policyRegistry) crane(ok bool, args ...string) string {
	r.t.Helper()
	return sh(r.t, r.w, r.env, ok, "crane", append([]string{"--insecure"}, args...)...)
}

// pull runs crane as deploy, who may only pull.
func (r *policyRegistry) pull(ok bool, args ...string) string {
	r.t.Helper()
	return sh(r.t, r.w, r.pullEnv, ok, "crane", append([]string{"--insecure"}, args...)...)
}

func (r *policyRegistry) cosign(ok bool, args ...string) string {
	r.t.Helper()
	return sh(r.t, r.w, r.env, ok, "cosign", args...)
}

// push pushes a one-layer image holding content to repo:tag with crane
// and returns its digest.
func (r *policyRegistry) push(ref, content string) string {
	r.t.Helper()
	dir := r.t.TempDir()
	writeFile(r.t, filepath.Join(dir, "src", "hello.txt"), content+"\n")
	sh(r.t, dir, nil, true, "tar", "-cf", "layer.tar", "-C", "src", ".")
	r.crane(true, "append", "--oci-empty-base", "-f", filepath.Join(dir, "layer.tar"), "-t", r.p.addr+"/"+ref)
	repo, tag, _ := strings.Cut(ref, ":")
	return r.tagged(repo, tag)
}

// tagged returns the digest tag names in repo, read with `wharf repo tags`
// (a pull of it may be refused).
func (r *policyRegistry) tagged(repo, tag string) string {
	r.t.Helper()
	var tags []struct{ Name, Digest string }
	out := r.wharf(true, "repo", "tags", repo, "--json")
	if err := json.Unmarshal([]byte(out), &tags); err != nil {
		var list struct {
			Items []struct{ Name, Digest string }
		}
		if err2 := json.Unmarshal([]byte(out), &list); err2 != nil {
			r.t.Fatalf("wharf repo tags: %v:\n%s", err, out)
		}
		tags = list.Items
	}
	for _, t := range tags {
		if t.Name == tag {
			return t.Digest
		}
	}
	r.t.Fatalf("%s has no tag %s:\n%s", repo, tag, out)
	return ""
}

// sign signs repo@d with cosign and the key pair prefix.key.
func (r *policyRegistry) sign(ref, key string, args ...string) {
	r.t.Helper()
	r.cosign(true, append([]string{"sign", "--key", key + ".key", "--tlog-upload=false", "-y",
		"--allow-http-registry", "--allow-insecure-registry"}, append(args, r.p.addr+"/"+ref)...)...)
}

// setPolicy writes policy as JSON and sets it as prod's image policy.
func (r *policyRegistry) setPolicy(policy string) {
	r.t.Helper()
	writeFile(r.t, filepath.Join(r.w, "policy.json"), policy)
	r.wharf(true, "policy", "image", "set", "prod", "policy.json")
}

// refused fails unless crane's pull of ref as deploy fails with DENIED
// saying each of says, and returns its output.
func (r *policyRegistry) refused(what, ref string, says ...string) string {
	r.t.Helper()
	out := r.pull(false, "manifest", r.p.addr+"/"+ref)
	for _, s := range append([]string{"DENIED", "policy prod/"}, says...) {
		if !strings.Contains(out, s) {
			r.t.Errorf("%s: crane's refusal does not say %q:\n%s", what, s, out)
		}
	}
	return out
}

// get GETs a manifest as user and returns the response.
func (r *policyRegistry) get(ref, user, password string) *http.Response {
	r.t.Helper()
	repo, reference, _ := strings.Cut(ref, ":")
	if i := strings.Index(ref, "@"); i > 0 {
		repo, reference = ref[:i], ref[i+1:]
	}
	req, _ := http.NewRequest("GET", "http://"+r.p.addr+"/v2/"+repo+"/manifests/"+reference, nil)
	req.Header.Set("Accept", anyManifest)
	req.Header.Set("Authorization", auth.BasicAuthorization(user, password))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

const enforceSignature = `{"requireSignature":{"mode":"enforce"}}`

// TestPolicyCosign: images signed with the real cosign (tag schema,
// sigstore bundle, per platform), pulled with crane from an enforcing
// namespace: served with a trusted signature; refused without one, with the
// wrong key, after the signed tag moved to an unsigned manifest, and for an
// index whose signed child was replaced; served with a warning in warn
// mode. cosign still verifies from the enforcing namespace, and `wharf
// policy check` tells it all beforehand.
func TestPolicyCosign(t *testing.T) {
	needTools(t, "cosign", "crane", "regctl")
	for _, b := range e2eBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			r := startPolicyRegistry(t, b)
			R := r.p.addr
			r.cosign(true, "login", R, "-u", "dev", "-p", devPassword)
			r.cosign(true, "generate-key-pair", "--output-key-prefix", "ci")
			r.cosign(true, "generate-key-pair", "--output-key-prefix", "other")
			r.wharf(true, "trust", "add-key", "prod", "ci", "ci.pub")
			r.setPolicy(enforceSignature)

			d := r.push("prod/app:v1", "v1")
			r.refused("unsigned", "prod/app:v1", "require-signature: no signature by a trusted key (expected key ci)", "no signature")
			out := r.wharf(false, "policy", "check", "prod/app:v1")
			if !strings.Contains(out, "REFUSED by the image policy of namespace prod") || !strings.Contains(out, "would be refused") {
				t.Errorf("policy check of the unsigned image:\n%s", out)
			}

			r.sign("prod/app@"+d, "ci")
			r.pull(true, "manifest", R+"/prod/app:v1")
			r.pull(true, "pull", R+"/prod/app:v1", filepath.Join(t.TempDir(), "v1.tar"))
			// cosign reads the signature from the enforcing namespace.
			r.cosign(true, "verify", "--key", "ci.pub", "--insecure-ignore-tlog=true", "--allow-http-registry", R+"/prod/app:v1")
			out = r.wharf(true, "policy", "check", R+"/prod/app:v1")
			if !strings.Contains(out, "served: the image passes") || !strings.Contains(out, "valid, signed by key ci") {
				t.Errorf("policy check of the signed image:\n%s", out)
			}

			// Signed with a key prod does not trust.
			d2 := r.push("prod/app:v2", "v2")
			r.sign("prod/app@"+d2, "other")
			r.refused("wrong key", "prod/app:v2", "expected key ci", "no trusted key verifies the signature")

			// The signed tag moved to an unsigned manifest.
			r.push("prod/app:v1", "pushed over v1")
			r.refused("tag moved", "prod/app:v1", "no signature")
			r.pull(true, "manifest", R+"/prod/app@"+d) // the signed one, by digest

			// CI, who may push, is served the unsigned image (to sign it),
			// with the refusal as a warning.
			resp := r.get("prod/app:v1", "dev", devPassword)
			if w := resp.Header.Get("Warning"); resp.StatusCode != 200 || !strings.Contains(w, "served to a caller who may push to prod/app") {
				t.Errorf("pull by dev: %d, Warning %q", resp.StatusCode, w)
			}

			// A sigstore bundle, as an OCI 1.1 referrer.
			d3 := r.push("prod/app:v3", "v3")
			r.sign("prod/app@"+d3, "ci", "--new-bundle-format")
			r.pull(true, "manifest", R+"/prod/app:v3")

			// An index signed per platform, then one with a child replaced.
			amd := r.push("prod/multi:amd64", "amd64")
			arm := r.push("prod/multi:arm64", "arm64")
			evil := r.push("prod/multi:evil", "evil arm64")
			r.sign("prod/multi@"+amd, "ci")
			r.sign("prod/multi@"+arm, "ci")
			r.crane(true, "index", "append", "-t", R+"/prod/multi:v1", "-m", R+"/prod/multi@"+amd, "-m", R+"/prod/multi@"+arm)
			r.pull(true, "manifest", R+"/prod/multi:v1")
			r.pull(true, "manifest", R+"/prod/multi@"+arm)
			r.crane(true, "index", "append", "-t", R+"/prod/multi:v1", "-m", R+"/prod/multi@"+amd, "-m", R+"/prod/multi@"+evil)
			r.refused("child replaced", "prod/multi:v1", "no signature", evil)

			// An index signed itself: what it lists is served by digest,
			// as clients pull it after the index.
			r.crane(true, "index", "append", "-t", R+"/prod/multi:v2", "-m", R+"/prod/multi@"+evil)
			r.refused("index not yet signed", "prod/multi:v2", "no signature")
			idx := r.tagged("prod/multi", "v2")
			r.sign("prod/multi@"+idx, "ci")
			r.pull(true, "manifest", R+"/prod/multi:v2")
			r.pull(true, "manifest", R+"/prod/multi@"+evil)

			// Warn: served, with a Warning header regclient shows.
			r.setPolicy(`{"requireSignature":{"mode":"warn"}}`)
			r.pull(true, "manifest", R+"/prod/app:v2")
			resp = r.get("prod/app:v2", "deploy", deployPassword)
			if w := resp.Header.Get("Warning"); resp.StatusCode != 200 || !strings.HasPrefix(w, `299 - "policy prod/require-signature: no signature by a trusted key (expected key ci)`) {
				t.Errorf("warn mode: %d, Warning %q", resp.StatusCode, w)
			}
			regEnv := []string{"HOME=" + r.w}
			sh(t, r.w, regEnv, true, "regctl", "registry", "set", "--tls", "disabled", R)
			sh(t, r.w, regEnv, true, "regctl", "registry", "login", R, "-u", "deploy", "-p", deployPassword)
			if out := sh(t, r.w, regEnv, true, "regctl", "manifest", "get", R+"/prod/app:v2"); !strings.Contains(out, "policy prod/require-signature") {
				t.Errorf("regctl does not show the warning:\n%s", out)
			}
		})
	}
}

// TestPolicyNotation: images signed with the real notation client (JWS and
// COSE), pulled from an enforcing namespace whose key set holds a notation
// trust policy and trust store: served when signed by the trusted CA;
// refused unsigned and signed by another.
func TestPolicyNotation(t *testing.T) {
	needTools(t, "notation", "crane")
	for _, b := range e2eBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			r := startPolicyRegistry(t, b)
			R := r.p.addr
			env := append(r.env, "XDG_CONFIG_HOME="+filepath.Join(r.w, "config"), "HOME="+r.w, "NOTATION_USERNAME=dev", "NOTATION_PASSWORD="+devPassword)
			notation := func(ok bool, args ...string) string {
				t.Helper()
				return sh(t, r.w, env, ok, "notation", args...)
			}
			notation(true, "cert", "generate-test", "--default", "release.wharf.test")
			notation(true, "cert", "generate-test", "other.wharf.test")
			cert, err := os.ReadFile(filepath.Join(r.w, "config", "notation", "localkeys", "release.wharf.test.crt"))
			if err != nil {
				t.Fatal(err)
			}
			tp, _ := json.Marshal(map[string]any{"version": "1.0", "trustPolicies": []any{map[string]any{
				"name": "prod", "registryScopes": []string{R + "/prod/app"},
				"signatureVerification": map[string]any{"level": "strict"},
				"trustStores":           []string{"ca:release"}, "trustedIdentities": []string{"*"},
			}}})
			ks, _ := json.Marshal(trust.KeySetConfig{Notation: &trust.NotationConfig{TrustPolicy: tp,
				TrustStores: []trust.TrustStoreConfig{{Type: "ca", Name: "release", Certificates: string(cert)}}}})
			writeFile(t, filepath.Join(r.w, "keyset.json"), string(ks))
			r.wharf(true, "trust", "set", "prod", "keyset.json")
			r.setPolicy(enforceSignature)

			for _, format := range []string{"jws", "cose"} {
				d := r.push("prod/app:"+format, "signed by notation "+format)
				r.refused(format+" unsigned", "prod/app:"+format, "expected notation trust policies prod", "no signature")
				notation(true, "sign", "--insecure-registry", "--signature-format", format, R+"/prod/app@"+d)
				r.pull(true, "manifest", R+"/prod/app:"+format)
			}
			d := r.push("prod/app:other", "signed by another CA")
			notation(true, "sign", "--insecure-registry", "--key", "other.wharf.test", R+"/prod/app@"+d)
			r.refused("another CA", "prod/app:other", "notation signature not verified")
		})
	}
}

// TestPolicyDockerPodman: the docker CLI and podman show a refused pull's
// reason in full, and pull a signed image from the enforcing namespace.
func TestPolicyDockerPodman(t *testing.T) {
	needTools(t, "dockerd", "docker", "podman", "cosign", "crane")
	needRoot(t)
	r := startPolicyRegistry(t, e2eBackends(t)[0])
	R := r.p.addr
	r.cosign(true, "login", R, "-u", "dev", "-p", devPassword)
	r.cosign(true, "generate-key-pair", "--output-key-prefix", "ci")
	r.wharf(true, "trust", "add-key", "prod", "ci", "ci.pub")
	r.setPolicy(enforceSignature)
	unsigned := r.push("prod/app:unsigned", "unsigned")
	signed := r.push("prod/app:signed", "signed")
	r.sign("prod/app@"+signed, "ci")
	reason := "policy prod/require-signature: no signature by a trusted key (expected key ci): image " + unsigned + ": no signature"

	d := shortTempDir(t)
	sock := filepath.Join(d, "docker.sock")
	writeFile(t, filepath.Join(d, "daemon.json"), "{}")
	startDaemon(t, sock, "dockerd",
		"--config-file", filepath.Join(d, "daemon.json"),
		"--data-root", filepath.Join(d, "root"), "--exec-root", filepath.Join(d, "exec"),
		"--pidfile", filepath.Join(d, "docker.pid"), "--host", "unix://"+sock,
		"--storage-driver", "vfs", "--bridge", "none", "--iptables=false", "--ip6tables=false")
	env := []string{"DOCKER_CONFIG=" + filepath.Join(r.w, "docker-cli"), "DOCKER_HOST=unix://" + sock}
	docker := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, r.w, env, ok, "docker", args...)
	}
	for i := 0; ; i++ {
		if err := exec.Command("docker", "--host", "unix://"+sock, "info").Run(); err == nil {
			break
		} else if i == 100 {
			t.Fatalf("docker info: %v", err)
		}
		sh(t, r.w, nil, true, "sleep", "0.1")
	}
	docker(true, "login", "-u", "deploy", "-p", deployPassword, R)
	if out := docker(false, "pull", R+"/prod/app:unsigned"); !strings.Contains(out, reason) {
		t.Errorf("docker pull of the unsigned image does not say why:\n%s", out)
	}
	docker(true, "pull", R+"/prod/app:signed")

	store := shortTempDir(t)
	penv := []string{"REGISTRY_AUTH_FILE=" + filepath.Join(r.w, "podman-auth.json"), "CONTAINERS_REGISTRIES_CONF=" + filepath.Join(r.w, "registries.conf"), "TMPDIR=" + r.w}
	writeFile(t, filepath.Join(r.w, "registries.conf"), "unqualified-search-registries = []\n")
	podman := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, r.w, penv, ok, "podman", append([]string{"--events-backend", "none", "--cgroup-manager", "cgroupfs",
			"--storage-driver", "vfs", "--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run")}, args...)...)
	}
	podman(true, "login", "--tls-verify=false", "-u", "deploy", "-p", deployPassword, R)
	if out := podman(false, "pull", "--tls-verify=false", R+"/prod/app:unsigned"); !strings.Contains(out, reason) {
		t.Errorf("podman pull of the unsigned image does not say why:\n%s", out)
	}
	podman(true, "pull", "--tls-verify=false", R+"/prod/app:signed")
}

// TestPolicyWorkedExample runs docs/trust.md's worked example as written,
// with crane for docker push and pull and a hand-written SPDX document for
// syft's: robots for CI (push) and production (pull), CI's cosign key
// trusted, signatures and SBOMs required; an SBOM attached with oras and
// another attested with cosign.
func TestPolicyWorkedExample(t *testing.T) {
	needTools(t, "cosign", "crane", "oras")
	r := startPolicyRegistry(t, e2eBackends(t)[0])
	R := r.p.addr
	token := func(name, scope string) string {
		var tok struct{ Secret, Username string }
		if err := json.Unmarshal([]byte(r.wharf(true, "token", "create", name, "--namespace", "prod", "--scope", scope, "--json")), &tok); err != nil {
			t.Fatal(err)
		}
		if tok.Username != "prod+"+name || tok.Secret == "" {
			t.Fatalf("token create %s: %+v", name, tok)
		}
		return tok.Secret
	}
	ciSecret, deploySecret := token("ci", "prod/*:pull,push"), token("deploy", "prod/*:pull")
	r.cosign(true, "generate-key-pair")
	r.wharf(true, "trust", "add-key", "prod", "ci", "cosign.pub")
	writeFile(t, filepath.Join(r.w, "prod-policy.json"), `{
  "requireSignature": {"mode": "enforce"},
  "requireSBOM": {"mode": "enforce"}
}
`)
	r.wharf(true, "policy", "image", "set", "prod", "prod-policy.json")

	// CI, as prod+ci.
	ci := append(append([]string{}, r.env...), "DOCKER_CONFIG="+filepath.Join(r.w, "ci"))
	sh(t, r.w, ci, true, "crane", "auth", "login", R, "-u", "prod+ci", "-p", ciSecret)
	sh(t, r.w, ci, true, "cosign", "login", R, "-u", "prod+ci", "-p", ciSecret)
	sh(t, r.w, ci, true, "oras", "login", "--plain-http", R, "-u", "prod+ci", "-p", ciSecret)
	push := func(tag, content string) string {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "src", "app"), content+"\n")
		sh(t, dir, nil, true, "tar", "-cf", "layer.tar", "-C", "src", ".")
		sh(t, r.w, ci, true, "crane", "--insecure", "append", "--oci-empty-base", "-f", filepath.Join(dir, "layer.tar"), "-t", R+"/prod/app:"+tag)
		// CI may read what it pushed; crane shows the policy's warning on
		// stderr, which sh mixes in before the digest.
		out := sh(t, r.w, ci, true, "crane", "--insecure", "digest", R+"/prod/app:"+tag)
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "sha256:") && len(line) == 71 {
				return line
			}
		}
		t.Fatalf("crane digest printed no digest:\n%s", out)
		return ""
	}
	writeFile(t, filepath.Join(r.w, "sbom.spdx.json"), `{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"app","documentNamespace":"https://example.com/app","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: hand"]},"packages":[]}`)
	sign := func(d string) {
		sh(t, r.w, ci, true, "cosign", "sign", "--key", "cosign.key", "--tlog-upload=false", "-y", "--allow-http-registry", "--allow-insecure-registry", R+"/prod/app@"+d)
	}
	d := push("1.4.2", "app 1.4.2")
	sign(d)
	sh(t, r.w, ci, true, "oras", "attach", "--plain-http", "--artifact-type", "application/spdx+json", R+"/prod/app@"+d, "sbom.spdx.json")
	d2 := push("1.5.0", "app 1.5.0")
	sign(d2)
	sh(t, r.w, ci, true, "cosign", "attest", "--key", "cosign.key", "--tlog-upload=false", "-y", "--allow-http-registry", "--allow-insecure-registry",
		"--type", "spdxjson", "--predicate", "sbom.spdx.json", R+"/prod/app@"+d2)
	d3 := push("1.6.0", "app 1.6.0, never signed")
	sh(t, r.w, ci, true, "oras", "attach", "--plain-http", "--artifact-type", "application/spdx+json", R+"/prod/app@"+d3, "sbom.spdx.json")
	d4 := push("1.7.0", "app 1.7.0, signed, no SBOM")
	sign(d4)

	// Production, as prod+deploy.
	deploy := append(append([]string{}, r.env...), "DOCKER_CONFIG="+filepath.Join(r.w, "deploy"))
	sh(t, r.w, deploy, true, "crane", "auth", "login", R, "-u", "prod+deploy", "-p", deploySecret)
	for _, tag := range []string{"1.4.2", "1.5.0"} {
		sh(t, r.w, deploy, true, "crane", "--insecure", "pull", R+"/prod/app:"+tag, filepath.Join(t.TempDir(), "app.tar"))
		r.wharf(true, "policy", "check", "prod/app:"+tag)
	}
	for tag, says := range map[string]string{
		"1.6.0": "policy prod/require-signature: no signature by a trusted key (expected key ci): image " + d3 + ": no signature",
		"1.7.0": "policy prod/require-sbom: no SBOM",
	} {
		if out := sh(t, r.w, deploy, false, "crane", "--insecure", "manifest", R+"/prod/app:"+tag); !strings.Contains(out, says) {
			t.Errorf("pull of %s as prod+deploy does not say %q:\n%s", tag, says, out)
		}
		if out := r.wharf(false, "policy", "check", "prod/app:"+tag); !strings.Contains(out, "would be refused") {
			t.Errorf("policy check of %s:\n%s", tag, out)
		}
	}
}
