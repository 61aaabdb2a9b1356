package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestCosign signs an image crane pushed with a local key pair, attaches an
// SPDX attestation and verifies both with cosign, with access control on and
// no transparency log (there is no Rekor here). Signatures go in the tag
// schema (sha256-<hex>.sig, .att) by default and, with
// --registry-referrers-mode=oci-1-1, as an OCI 1.1 referrer; the test reads
// each from the registry, not only through cosign.
func TestCosign(t *testing.T) {
	needTools(t, "cosign", "crane")
	r := startClientRegistry(t)
	R := r.p.addr
	w := t.TempDir()
	_, d := cranePush(t, r, w, "team/signed:v1", "sign me")
	ref := R + "/team/signed@" + d
	env := []string{
		"DOCKER_CONFIG=" + filepath.Join(w, "cosign-docker"),
		"COSIGN_PASSWORD=e2e-key-password",
		"TUF_ROOT=" + filepath.Join(w, "tuf"),
		"SIGSTORE_NO_CACHE=true",
	}
	insecure := []string{"--allow-http-registry", "--allow-insecure-registry"}
	cosign := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, w, env, ok, "cosign", args...)
	}
	with := func(args ...string) []string { return append(append([]string{}, args...), insecure...) }

	cosign(true, "generate-key-pair")
	cosign(false, with("sign", "--key", "cosign.key", "--tlog-upload=false", "-y", ref)...) // not logged in
	cosign(true, "login", R, "-u", "dev", "-p", devPassword)
	cosign(true, with("sign", "--key", "cosign.key", "--tlog-upload=false", "-y", ref)...)

	// The tag schema: sha256-<hex>.sig holds a signature layer for the digest.
	sigTag := strings.Replace(d, ":", "-", 1) + ".sig"
	if tags := r.tags(t, "team/signed"); !contains(tags, sigTag) {
		t.Fatalf("no signature tag %s in %v", sigTag, tags)
	}
	sig := r.manifest(t, "team/signed", sigTag)
	if len(sig.Layers) == 0 || sig.Layers[0].Annotations["dev.cosignproject.cosign/signature"] == "" {
		t.Fatalf("signature manifest %+v", sig)
	}
	cosign(true, with("verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", ref)...)
	// Another key does not verify it.
	other := filepath.Join(w, "other")
	sh(t, w, nil, true, "mkdir", other)
	sh(t, other, env, true, "cosign", "generate-key-pair")
	cosign(false, with("verify", "--key", filepath.Join(other, "cosign.pub"), "--insecure-ignore-tlog=true", ref)...)

	// An SPDX attestation, in the .att tag.
	writeFile(t, filepath.Join(w, "sbom.json"), `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"signed","dataLicense":"CC0-1.0","packages":[]}`)
	cosign(true, with("attest", "--key", "cosign.key", "--tlog-upload=false", "-y", "--type", "spdxjson", "--predicate", "sbom.json", ref)...)
	attTag := strings.Replace(d, ":", "-", 1) + ".att"
	if tags := r.tags(t, "team/signed"); !contains(tags, attTag) {
		t.Fatalf("no attestation tag %s in %v", attTag, tags)
	}
	cosign(true, with("verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--type", "spdxjson", ref)...)
	if tree := cosign(true, with("tree", ref)...); !strings.Contains(tree, "Signatures") || !strings.Contains(tree, "Attestations") {
		t.Fatalf("cosign tree:\n%s", tree)
	}

	// OCI 1.1: the signature is a referrer of the image, listed by the
	// referrers API, and cosign verifies it from there.
	_, d2 := cranePush(t, r, t.TempDir(), "team/signed:v2", "sign me as a referrer")
	ref2 := R + "/team/signed@" + d2
	exp := append(append([]string{}, env...), "COSIGN_EXPERIMENTAL=1")
	sh(t, w, exp, true, "cosign", with("sign", "--key", "cosign.key", "--tlog-upload=false", "-y", "--registry-referrers-mode=oci-1-1", ref2)...)
	status, _, b := r.get(t, "/v2/team/signed/referrers/"+d2, "")
	if status != http.StatusOK {
		t.Fatalf("referrers of %s: %d %s", d2, status, b)
	}
	var idx storedManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].ArtifactType != "application/vnd.dev.cosign.artifact.sig.v1+json" {
		t.Fatalf("referrers of the image signed with oci-1-1: %s", b)
	}
	if tags := r.tags(t, "team/signed"); contains(tags, strings.Replace(d2, ":", "-", 1)+".sig") {
		t.Fatalf("oci-1-1 signing also wrote a .sig tag: %v", tags)
	}
	sh(t, w, exp, true, "cosign", with("verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--experimental-oci11", ref2)...)
}
