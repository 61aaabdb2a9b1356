package bench

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
)

// policyPull measures what an image policy costs the request a fleet makes
// most: a manifest GET by tag, from a namespace whose policy enforces a
// trusted signature, against the same GET from a repository without one.
// The two run side by side, alternating at each concurrency, in one run on
// one server, so that the machine's load weighs on both alike.
//
// It is wharf's: setup uses the management API (as the run's user, who
// must be allowed to create a namespace and set its key set and policy),
// creates namespace <prefix>-policy, trusts a key generated for the run and
// pushes the image signed in cosign's tag schema. On any other registry
// the setup fails and the scenario reports that.
func (r *runner) policyPull(ctx context.Context) ([]Result, error) {
	ns := r.opts.RepoPrefix + "-policy"
	enforced, open := ns+"/app", r.repo("policy-open")
	img, err := newImage(newRNG(), 16<<10, 32<<10)
	if err != nil {
		return nil, err
	}
	if err := r.setupPolicy(ctx, ns, enforced, open, img); err != nil {
		return nil, fmt.Errorf("setup (needs wharf's management API): %w", err)
	}
	var results []Result
	for _, conc := range concurrencies {
		for _, side := range []struct{ name, repo string }{{"policy-pull-open", open}, {"policy-pull-enforced", enforced}} {
			var lat []time.Duration
			w, err := r.measure(func() error {
				var err error
				lat, err = closedLoop(ctx, conc, r.opts.Duration, func(ctx context.Context, _, _ int) error {
					return expectSize(r.client.Manifest(ctx, http.MethodGet, side.repo, "latest"))(int64(len(img.manifest)))
				})
				return err
			})
			if err != nil {
				return results, fmt.Errorf("%s, concurrency %d: %w", side.name, conc, err)
			}
			res := rateResult(side.name, conc, int64(len(lat)), float64(len(lat)), "req", w)
			res.P50Ms, res.P99Ms = latencySummary(lat)
			if side.repo == enforced {
				res.Note = "require-signature enforced, cosign signature by a trusted ECDSA key"
				if prev := results[len(results)-1]; prev.Value > 0 {
					res.Note += fmt.Sprintf("; %.1f%% of the open rate", 100*res.Value/prev.Value)
				}
			}
			results = append(results, res)
		}
	}
	return results, nil
}

// setupPolicy creates namespace ns with a key set trusting a new key and a
// policy enforcing signatures, and pushes img to the enforced and the open
// repository, signed in the enforced one.
func (r *runner) setupPolicy(ctx context.Context, ns, enforced, open string, img *image) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return err
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if err := r.client.api(ctx, http.MethodPost, "/namespaces", map[string]string{"name": ns}, http.StatusCreated, http.StatusConflict); err != nil {
		return err
	}
	keySet := map[string]any{"keys": []map[string]string{{"name": "bench", "pem": string(pub)}}}
	if err := r.client.api(ctx, http.MethodPut, "/namespaces/"+ns+"/trust", keySet, http.StatusOK); err != nil {
		return err
	}
	policy := map[string]any{"requireSignature": map[string]string{"mode": "enforce"}}
	if err := r.client.api(ctx, http.MethodPut, "/namespaces/"+ns+"/image-policy", policy, http.StatusOK); err != nil {
		return err
	}
	for _, repo := range []string{open, enforced} {
		if err := img.push(ctx, r.client, repo, "latest"); err != nil {
			return err
		}
	}
	return pushCosignSignature(ctx, r.client, enforced, img.digest, key)
}

// pushCosignSignature signs image as cosign sign does with an ECDSA key:
// a simple-signing payload, its SHA-256 signed in ASN.1, in the layer of
// the sha256-<hex>.sig manifest.
func pushCosignSignature(ctx context.Context, c *Client, repo string, image digest.Digest, key *ecdsa.PrivateKey) error {
	payload, err := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": repo},
			"image":    map[string]string{"docker-manifest-digest": image.String()},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	})
	if err != nil {
		return err
	}
	sum := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		return err
	}
	config := []byte(`{}`)
	for _, b := range [][]byte{config, payload} {
		if err := c.PushBlob(ctx, repo, digest.FromBytes(b).String(), bytes.NewReader(b), int64(len(b))); err != nil {
			return err
		}
	}
	m, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mediaTypeImageManifest,
		"config": descriptor{MediaType: mediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
		"layers": []map[string]any{{
			"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": digest.FromBytes(payload), "size": len(payload),
			"annotations": map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig)},
		}},
	})
	if err != nil {
		return err
	}
	return c.PutManifest(ctx, repo, string(image.Algorithm())+"-"+image.Encoded()+".sig", mediaTypeImageManifest, m)
}

// api sends a JSON request to the management API (/api/v1) and fails
// unless the answer has one of the statuses ok.
func (c *Client) api(ctx context.Context, method, path string, body any, ok ...int) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	u := *c.base
	u.Path = c.base.Path + "/api/v1" + path
	req, err := c.newRequest(ctx, method, &u, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.do(req, ok[0])
	if err == nil {
		_, err = discard(resp)
		return err
	}
	var se *StatusError
	if errors.As(err, &se) && slices.Contains(ok, se.Status) {
		return nil
	}
	return fmt.Errorf("%s /api/v1%s: %w", method, path, err)
}
