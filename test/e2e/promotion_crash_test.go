package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// put sends body to the registry at base and fails the test unless the
// answer is want.
func put(t *testing.T, method, url, ctype string, body []byte, want int) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
}

func status(t *testing.T, method, url string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

const ociManifestType = "application/vnd.oci.image.manifest.v1+json"

// seedPromotable pushes into repo an index of two platform images, each
// with referrers referrers, and returns the index's digest and every
// manifest of its closure.
func seedPromotable(t *testing.T, base, repo string, referrers int) (digest.Digest, []digest.Digest) {
	t.Helper()
	blob := func(b []byte) digest.Digest {
		d := digest.FromBytes(b)
		put(t, "POST", base+"/v2/"+repo+"/blobs/uploads/?digest="+d.String(), "application/octet-stream", b, http.StatusCreated)
		return d
	}
	manifest := func(payload []byte) digest.Digest {
		d := digest.FromBytes(payload)
		put(t, "PUT", base+"/v2/"+repo+"/manifests/"+d.String(), ociManifestType, payload, http.StatusCreated)
		return d
	}
	empty := []byte("{}")
	ed := blob(empty)
	var all []digest.Digest
	var platforms []string
	for i, arch := range []string{"amd64", "arm64"} {
		cfg := fmt.Appendf(nil, `{"architecture":%q,"os":"linux"}`, arch)
		layer := fmt.Appendf(nil, "layer of %s", arch)
		cd, ld := blob(cfg), blob(layer)
		m := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
			ociManifestType, cd, len(cfg), ld, len(layer))
		pd := manifest(m)
		all = append(all, pd)
		platforms = append(platforms, fmt.Sprintf(`{"mediaType":%q,"digest":"%s","size":%d,"platform":{"os":"linux","architecture":%q}}`, ociManifestType, pd, len(m), arch))
		for j := range referrers {
			r := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"artifactType":"application/vnd.example.attestation+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[],"subject":{"mediaType":%q,"digest":"%s","size":%d},"annotations":{"n":"%d-%d"}}`,
				ociManifestType, ed, ociManifestType, pd, len(m), i, j)
			all = append(all, manifest(r))
		}
	}
	idx := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}`, strings.Join(platforms, ","))
	id := digest.FromBytes(idx)
	put(t, "PUT", base+"/v2/"+repo+"/manifests/latest", "application/vnd.oci.image.index.v1+json", idx, http.StatusCreated)
	return id, append(all, id)
}

// TestPromotionCrash: wharf is killed (SIGKILL) at moments spread over a
// promotion of an index with its platforms and 600 referrers; after each
// restart the target holds either the whole image, tagged, or none of it,
// and the record exists exactly when the image does. On both backends.
func TestPromotionCrash(t *testing.T) {
	for _, b := range e2eBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			env := b.env(t)
			p := startWharf(t, dir, env...)
			base := "http://" + p.addr
			id, closure := seedPromotable(t, base, "ci/app", 300)

			promote := func(base, target string) (int, time.Duration) {
				body := fmt.Appendf(nil, `{"source":"ci/app@%s","target":"%s"}`, id, target)
				start := time.Now()
				resp, err := http.Post(base+"/api/v1/promotions", "application/json", bytes.NewReader(body))
				if err != nil {
					return 0, time.Since(start)
				}
				resp.Body.Close()
				return resp.StatusCode, time.Since(start)
			}
			// How long one takes, uninterrupted.
			code, took := promote(base, "prod/measure:1")
			if code != http.StatusCreated {
				t.Fatalf("promotion: %d", code)
			}
			t.Logf("a promotion of %d manifests took %s", len(closure), took)

			whole, none := 0, 0
			for round := range 8 {
				target := fmt.Sprintf("prod/app%d", round)
				delay := took * time.Duration(round) / 6 // from the start to past the end
				done := make(chan struct{})
				go func() { promote(base, target+":1.0"); close(done) }()
				time.Sleep(delay)
				p.kill()
				<-done
				p = startWharf(t, dir, env...)
				base = "http://" + p.addr
				tagged := status(t, "HEAD", base+"/v2/"+target+"/manifests/1.0") == http.StatusOK
				present := 0
				for _, d := range closure {
					if status(t, "HEAD", base+"/v2/"+target+"/manifests/"+d.String()) == http.StatusOK {
						present++
					}
				}
				resp, err := http.Get(base + "/api/v1/promotions?repository=" + target)
				if err != nil {
					t.Fatal(err)
				}
				rec, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				recorded := strings.Contains(string(rec), `"result": "promoted"`)
				switch {
				case tagged && present == len(closure) && recorded:
					whole++
				case !tagged && present == 0 && !recorded:
					none++
				default:
					t.Fatalf("round %d (killed after %s): tagged %v, %d of %d manifests, recorded %v", round, delay, tagged, present, len(closure), recorded)
				}
			}
			t.Logf("killed 8 promotions: %d whole, %d nothing", whole, none)
			if whole == 0 || none == 0 {
				t.Logf("every kill fell on the same side of the commit; the check still held")
			}
		})
	}
}
