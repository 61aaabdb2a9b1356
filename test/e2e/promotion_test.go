package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// portRemoteWharf is the second wharf's port (31600-31699 is promotion's
// range on the shared machine).
const portRemoteWharf = "127.0.0.1:31611"

// TestPromotionWorkflow is docs/promotion.md's workflow against the built
// binary with real clients: crane pushes ci/app, cosign signs it (tag
// schema), oras attaches an SBOM (referrer); prod's gates are set with the
// CLI; the pipeline's token promotes, the promotion waits for a second
// person, who approves; prod/app:1.4.0 is the digest, cosign verifies it in
// prod, oras finds the SBOM there; the record says all of it. Then the same
// image goes to a second wharf and to the distribution registry, and
// cosign verifies it there.
func TestPromotionWorkflow(t *testing.T) {
	needTools(t, "crane", "cosign", "oras")
	dist := startDistribution(t, "exporter", "exporter-pw")
	remoteDir := t.TempDir()
	remote := startWharfAt(t, remoteDir, portRemoteWharf, authEnv()...)
	rf := openAccess(t, remoteDir)
	rf.user("importer", "importer-pw")
	rf.namespace("prod", map[string]auth.Role{"importer": auth.RoleDeveloper})

	dataDir := t.TempDir()
	remotes := fmt.Sprintf(`[{name: site-b, url: "http://%s", username: importer, password: importer-pw, policy: prod}, {name: dist, url: "http://%s", username: exporter, password: exporter-pw, policy: prod}]`, remote.addr, dist.addr)
	p := startWharf(t, dataDir, append(authEnv(), "WHARF_PROMOTION_REMOTES="+remotes)...)
	R := p.addr
	f := openAccess(t, dataDir)
	f.user("dev", devPassword)
	f.user("pat", "pat-password")
	f.user("bob", "bob-password")
	// ci and prod are namespaces of those kinds, with the policies they
	// start with (prod: every tag immutable, signatures enforced on pull).
	asAdmin := []string{"WHARF_URL=http://" + R, "WHARF_USER=admin", "WHARF_PASSWORD=" + e2eAdminPassword}
	for _, k := range []string{"ci", "prod"} {
		if out, err := wharfCLI(t, asAdmin, "", "namespace", "create", k, "--kind", k); err != nil {
			t.Fatalf("namespace create %s: %v\n%s", k, err, out)
		}
	}
	for _, m := range []meta.Member{{Namespace: "ci", User: "dev", Role: "ci"}, {Namespace: "ci", User: "pat", Role: "readonly"},
		{Namespace: "prod", User: "bob", Role: "admin"}, {Namespace: "prod", User: "pat", Role: "developer"}, {Namespace: "prod", User: "dev", Role: "readonly"}} {
		if err := f.st.PutMember(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	pipeline := f.token("pat", "pipeline", "ci/*:pull", "prod/*:pull,push")

	w := t.TempDir()
	// crane pushes ci/app:sha-1234.
	layer := filepath.Join(w, "layer.tar")
	writeFile(t, filepath.Join(w, "src", "app.txt"), "the app\n")
	sh(t, w, nil, true, "tar", "-cf", layer, "-C", filepath.Join(w, "src"), ".")
	craneEnv := []string{"DOCKER_CONFIG=" + filepath.Join(w, "crane")}
	sh(t, w, craneEnv, true, "crane", "auth", "login", R, "-u", "dev", "-p", devPassword)
	sh(t, w, craneEnv, true, "crane", "--insecure", "append", "--oci-empty-base", "-f", layer, "-t", R+"/ci/app:sha-1234")
	d := trimmed(sh(t, w, craneEnv, true, "crane", "--insecure", "digest", R+"/ci/app:sha-1234"))

	// cosign signs it, in the tag schema.
	cosignEnv := []string{"DOCKER_CONFIG=" + filepath.Join(w, "cosign"), "COSIGN_PASSWORD=pw", "TUF_ROOT=" + filepath.Join(w, "tuf"), "SIGSTORE_NO_CACHE=true"}
	insecure := []string{"--allow-http-registry", "--allow-insecure-registry"}
	sh(t, w, cosignEnv, true, "cosign", "generate-key-pair")
	sh(t, w, cosignEnv, true, "cosign", "login", R, "-u", "dev", "-p", devPassword)
	sh(t, w, cosignEnv, true, "cosign", append([]string{"sign", "--key", "cosign.key", "--tlog-upload=false", "-y", R + "/ci/app@" + d}, insecure...)...)

	run := func(ok bool, env []string, args ...string) string {
		t.Helper()
		out, err := wharfCLI(t, append([]string{"WHARF_URL=http://" + R}, env...), "", args...)
		if (err == nil) != ok {
			t.Fatalf("wharf %s: %v, want success %v\n%s", strings.Join(args, " "), err, ok, out)
		}
		return out
	}
	asPipeline := []string{"WHARF_TOKEN=" + pipeline}
	asBob := []string{"WHARF_USER=bob", "WHARF_PASSWORD=bob-password"}

	// prod's gates: from ci only, signed by a key prod trusts, an SBOM,
	// one approval.
	gates := filepath.Join(w, "gates.json")
	writeFile(t, gates, `{"sources":["ci"],"gates":{"signature":true,"sbom":true,"approvals":1}}`)
	run(false, asPipeline, "promote", "policy", "set", "prod", gates) // pat does not manage prod
	run(true, asBob, "promote", "policy", "set", "prod", gates)

	// prod trusts no key yet, and there is no SBOM: refused, every failed
	// gate named.
	out := run(false, asPipeline, "promote", "ci/app:sha-1234", "prod/app:1.4.0")
	for _, s := range []string{"signature: no signature by a key or identity prod trusts", "sbom: no SBOM attached", "approvals: 0 of 1"} {
		if !strings.Contains(out, s) {
			t.Fatalf("refusal does not say %q: %s", s, out)
		}
	}
	run(true, asBob, "trust", "add-key", "prod", "ci", filepath.Join(w, "cosign.pub"))

	// oras attaches an SBOM as a referrer.
	writeFile(t, filepath.Join(w, "sbom.spdx.json"), `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app","dataLicense":"CC0-1.0","packages":[]}`)
	orasEnv := []string{"DOCKER_CONFIG=" + filepath.Join(w, "oras")}
	sh(t, w, orasEnv, true, "oras", "login", R, "-u", "dev", "-p", devPassword, "--plain-http")
	sh(t, w, orasEnv, true, "oras", "attach", "--plain-http", "--artifact-type", "application/spdx+json", R+"/ci/app@"+d, "sbom.spdx.json:application/spdx+json")

	// An image signed with a key prod does not trust, with an SBOM: only
	// the signature gate fails.
	sh(t, w, craneEnv, true, "crane", "--insecure", "append", "--oci-empty-base", "-f", layer, "-t", R+"/ci/other:v1", "--set-base-image-annotations")
	od := trimmed(sh(t, w, craneEnv, true, "crane", "--insecure", "digest", R+"/ci/other:v1"))
	other := filepath.Join(w, "other")
	sh(t, w, nil, true, "mkdir", other)
	sh(t, other, cosignEnv, true, "cosign", "generate-key-pair")
	sh(t, other, cosignEnv, true, "cosign", append([]string{"sign", "--key", "cosign.key", "--tlog-upload=false", "-y", R + "/ci/other@" + od}, insecure...)...)
	sh(t, w, orasEnv, true, "oras", "attach", "--plain-http", "--artifact-type", "application/spdx+json", R+"/ci/other@"+od, "sbom.spdx.json:application/spdx+json")
	out = run(false, asPipeline, "promote", "ci/other:v1", "prod/other:1.0")
	if !strings.Contains(out, "signature: no signature by a key or identity prod trusts") || strings.Contains(out, "sbom:") {
		t.Fatalf("an image signed by another key: %s", out)
	}

	// Now only the approval is missing: the promotion waits.
	out = run(false, asPipeline, "promote", "ci/app:sha-1234", "prod/app:1.4.0")
	var pending struct {
		State   string
		Request struct{ ID int64 }
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &pending); err != nil || pending.State != "pending" {
		t.Fatalf("pending promotion: %v\n%s", err, out)
	}
	id := fmt.Sprint(pending.Request.ID)
	run(false, asPipeline, "promote", "approve", id) // not by the requester
	out = run(true, asBob, "promote", "approve", id, "--comment", "release 1.4.0")
	if !strings.Contains(out, `"state": "promoted"`) {
		t.Fatalf("approval: %s", out)
	}

	// prod takes no direct push, from anyone.
	sh(t, w, orasEnv, true, "oras", "login", R, "-u", "bob", "-p", "bob-password", "--plain-http")
	if out := sh(t, w, orasEnv, false, "oras", "push", "--plain-http", R+"/prod/app:direct", "sbom.spdx.json:application/spdx+json"); !strings.Contains(out, "only promotion writes to it") {
		t.Errorf("a direct push to prod: %s", out)
	}

	// prod/app:1.4.0 is the image; cosign verifies its signature in prod,
	// and oras finds the SBOM there.
	if got := trimmed(sh(t, w, craneEnv, true, "crane", "--insecure", "digest", R+"/prod/app:1.4.0")); got != d {
		t.Fatalf("prod/app:1.4.0 is %s, want %s", got, d)
	}
	sh(t, w, cosignEnv, true, "cosign", append([]string{"verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", R + "/prod/app@" + d}, insecure...)...)
	if refs := sh(t, w, orasEnv, true, "oras", "discover", "--plain-http", "--artifact-type", "application/spdx+json", R+"/prod/app@"+d); !strings.Contains(refs, "sha256:") {
		t.Fatalf("oras discover in prod:\n%s", refs)
	}

	// The record: who, what, the gates with their evidence, the approval.
	out = run(true, asBob, "promotions", "--repository", "prod/app", "--result", "promoted")
	for _, s := range []string{`"actor": "user:pat"`, d, `"gate": "sbom"`, `"gate": "signature"`, `"signers"`, `"approver": "user:bob"`, `"comment": "release 1.4.0"`, "sha256-"} {
		if !strings.Contains(out, s) {
			t.Errorf("the record lacks %s:\n%s", s, out)
		}
	}

	// To a second wharf and to the distribution registry: the same gates
	// (prod's), so an approval again; cosign verifies the copy there.
	for _, rm := range []struct{ name, addr, user, password string }{{"site-b", remote.addr, "importer", "importer-pw"}, {"dist", dist.addr, "exporter", "exporter-pw"}} {
		out = run(false, asPipeline, "promote", "ci/app@"+d, "prod/app:1.4.0", "--remote", rm.name)
		if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &pending); err != nil || pending.State != "pending" {
			t.Fatalf("%s: pending promotion: %v\n%s", rm.name, err, out)
		}
		out = run(true, asBob, "promote", "approve", fmt.Sprint(pending.Request.ID))
		if !strings.Contains(out, `"state": "promoted"`) || !strings.Contains(out, `"remoteURL": "http://`+rm.addr) {
			t.Fatalf("%s: approval: %s", rm.name, out)
		}
		remoteEnv := []string{"DOCKER_CONFIG=" + filepath.Join(w, "remote-"+rm.name)}
		sh(t, w, remoteEnv, true, "crane", "auth", "login", rm.addr, "-u", rm.user, "-p", rm.password)
		if got := trimmed(sh(t, w, remoteEnv, true, "crane", "--insecure", "digest", rm.addr+"/prod/app:1.4.0")); got != d {
			t.Fatalf("%s: prod/app:1.4.0 is %s, want %s", rm.name, got, d)
		}
		sh(t, w, append(remoteEnv, cosignEnv[1:]...), true, "cosign", append([]string{"verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", rm.addr + "/prod/app@" + d}, insecure...)...)
		// Again: nothing left to send, promoted all the same.
		out = run(false, asPipeline, "promote", "ci/app@"+d, "prod/app:1.4.0", "--remote", rm.name)
		_ = json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &pending)
		run(true, asBob, "promote", "approve", fmt.Sprint(pending.Request.ID))
	}
	out = run(true, asBob, "promotions", "--namespace", "prod", "--result", "promoted")
	if strings.Count(out, `"remote": "site-b"`) != 2 || strings.Count(out, `"remote": "dist"`) != 2 {
		t.Errorf("remote records:\n%s", out)
	}
}
