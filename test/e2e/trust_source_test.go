package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/trust"
)

// registrySource reads a running wharf over /v2 as the system administrator:
// the trust.Source the verifier gets, so these tests verify what the real
// clients stored, read back the way any client would.
type registrySource struct{ addr string }

var _ trust.Source = registrySource{}

func (s registrySource) do(ctx context.Context, method, path, accept string, body []byte, contentType string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+s.addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", auth.BasicAuthorization("admin", e2eAdminPassword))
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func (s registrySource) Manifest(ctx context.Context, repo, reference string) (trust.Manifest, error) {
	resp, b, err := s.do(ctx, "GET", "/v2/"+repo+"/manifests/"+reference, anyManifest, nil, "")
	switch {
	case err != nil:
		return trust.Manifest{}, err
	case resp.StatusCode == http.StatusNotFound:
		return trust.Manifest{}, fmt.Errorf("manifest %s:%s: %w", repo, reference, trust.ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		return trust.Manifest{}, fmt.Errorf("GET manifest %s:%s: %d %s", repo, reference, resp.StatusCode, b)
	}
	return trust.Manifest{Digest: digest.Digest(resp.Header.Get("Docker-Content-Digest")), MediaType: resp.Header.Get("Content-Type"), Payload: b}, nil
}

func (s registrySource) Referrers(ctx context.Context, repo string, subject digest.Digest) ([]v1.Descriptor, error) {
	resp, b, err := s.do(ctx, "GET", "/v2/"+repo+"/referrers/"+subject.String(), "", nil, "")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET referrers of %s@%s: %d %s", repo, subject, resp.StatusCode, b)
	}
	var idx v1.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, err
	}
	return idx.Manifests, nil
}

func (s registrySource) Blob(ctx context.Context, repo string, d digest.Digest) (io.ReadCloser, error) {
	resp, b, err := s.do(ctx, "GET", "/v2/"+repo+"/blobs/"+d.String(), "", nil, "")
	switch {
	case err != nil:
		return nil, err
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("blob %s: %w", d, trust.ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET blob %s: %d", d, resp.StatusCode)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// putBlob uploads b to repo in one request.
func (s registrySource) putBlob(t *testing.T, repo string, b []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(b)
	resp, body, err := s.do(context.Background(), "POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), "", b, "application/octet-stream")
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload blob to %s: %v %v %s", repo, err, resp, body)
	}
	return d
}

// putManifest stores payload as repo:ref.
func (s registrySource) putManifest(t *testing.T, repo, ref, mediaType string, payload []byte) {
	t.Helper()
	resp, body, err := s.do(context.Background(), "PUT", "/v2/"+repo+"/manifests/"+ref, "", payload, mediaType)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT manifest %s:%s: %v %v %s", repo, ref, err, resp, body)
	}
}

// verifyStored verifies repo@d as stored in the registry against ks.
func verifyStored(t *testing.T, r *clientRegistry, ks *trust.KeySet, repo, d string) *trust.Result {
	t.Helper()
	res, err := trust.NewVerifier(trust.Options{RegistryHost: r.p.addr}).Verify(context.Background(), registrySource{r.p.addr}, ks, repo, digest.Digest(d))
	if err != nil {
		t.Fatalf("verify %s@%s: %v", repo, d, err)
	}
	return res
}

func newKeySet(t *testing.T, cfg trust.KeySetConfig) *trust.KeySet {
	t.Helper()
	ks, err := trust.NewKeySet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// wantSigned fails unless the verdict is verified with signer among its
// signers ("" for any).
func wantSigned(t *testing.T, res *trust.Result, signer string) {
	t.Helper()
	if err := res.Err(); err != nil {
		t.Fatalf("%s not verified: %v", res.Image, err)
	}
	if signer == "" {
		return
	}
	for _, s := range res.Signers() {
		if s.String() == signer {
			return
		}
	}
	t.Fatalf("%s signed by %v, want %s", res.Image, res.Signers(), signer)
}

// wantUnsigned fails unless the verdict is a refusal wrapping reason.
func wantUnsigned(t *testing.T, res *trust.Result, reason error) {
	t.Helper()
	err := res.Err()
	if err == nil || !errors.Is(err, reason) {
		t.Fatalf("%s: %v, want a refusal for %v", res.Image, err, reason)
	}
	t.Logf("refused as expected: %v", err)
}

func digestOf(s string) digest.Digest { return digest.Digest(s) }
