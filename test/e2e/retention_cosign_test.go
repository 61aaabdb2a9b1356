package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRetentionKeepsCosignArtifacts signs, attests and attaches an SBOM to
// two images with the real cosign client (tag schema: sha256-<hex>.sig,
// .att, .sbom), runs the example retention policy of docs/lifecycle.md
// through the CLI, and checks that the kept image still verifies with all
// its artifacts while the removed image's artifacts went with it. Before
// artifact tags followed their subject, retention removed the kept image's
// .sig, .att and .sbom ("no retention rule keeps it") and cosign verify
// failed.
func TestRetentionKeepsCosignArtifacts(t *testing.T) {
	needTools(t, "cosign", "crane")
	r := startClientRegistry(t)
	R := r.p.addr
	w := t.TempDir()
	_, keep := cranePush(t, r, t.TempDir(), "team/app:v1.0.0", "keep me")
	_, drop := cranePush(t, r, t.TempDir(), "team/app:pr-7", "drop me")

	env := []string{
		"DOCKER_CONFIG=" + filepath.Join(w, "cosign-docker"),
		"COSIGN_PASSWORD=e2e-key-password",
		"TUF_ROOT=" + filepath.Join(w, "tuf"),
		"SIGSTORE_NO_CACHE=true",
	}
	insecure := []string{"--allow-http-registry", "--allow-insecure-registry"}
	cosign := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, w, env, ok, "cosign", append(args, insecure...)...)
	}
	sh(t, w, env, true, "cosign", "generate-key-pair")
	sh(t, w, env, true, "cosign", "login", R, "-u", "dev", "-p", devPassword)
	writeFile(t, filepath.Join(w, "sbom.json"), `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app","dataLicense":"CC0-1.0","packages":[]}`)
	for _, d := range []string{keep, drop} {
		ref := R + "/team/app@" + d
		cosign(true, "sign", "--key", "cosign.key", "--tlog-upload=false", "-y", ref)
		cosign(true, "attest", "--key", "cosign.key", "--tlog-upload=false", "-y", "--type", "spdxjson", "--predicate", "sbom.json", ref)
		cosign(true, "attach", "sbom", "--sbom", "sbom.json", "--type", "spdx", ref)
	}
	artifacts := func(d string) []string {
		base := strings.Replace(d, ":", "-", 1)
		return []string{base + ".att", base + ".sbom", base + ".sig"}
	}
	tags := r.tags(t, "team/app")
	for _, tag := range append(artifacts(keep), artifacts(drop)...) {
		if !contains(tags, tag) {
			t.Fatalf("cosign left no tag %s: %v", tag, tags)
		}
	}

	// The example policy of docs/lifecycle.md, without keepWithin (every
	// tag here was pushed just now).
	writeFile(t, filepath.Join(w, "policy.json"),
		`{"scope":"team","keepLast":[{"pattern":"re:[0-9a-f]{40}","count":50}],"keep":["latest","semver"],"untaggedAfter":"7d"}`)
	admin := []string{"WHARF_URL=http://" + R, "WHARF_USER=admin", "WHARF_PASSWORD=" + e2eAdminPassword}
	for _, args := range [][]string{{"policy", "retention", "add", filepath.Join(w, "policy.json")}, {"policy", "retention", "run"}} {
		if out, err := wharfCLI(t, admin, "", args...); err != nil {
			t.Fatalf("wharf %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	want := append([]string{"v1.0.0"}, artifacts(keep)...)
	slices.Sort(want)
	got := r.tags(t, "team/app")
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("after retention, tags = %v\nwant %v", got, want)
	}
	ref := R + "/team/app@" + keep
	cosign(true, "verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", ref)
	cosign(true, "verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--type", "spdxjson", ref)
	if sbom := cosign(true, "download", "sbom", ref); !strings.Contains(sbom, "SPDX-2.3") {
		t.Errorf("cosign download sbom:\n%s", sbom)
	}
	cosign(false, "verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", R+"/team/app@"+drop)
}
