package trust_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/wharf-dev/wharf/internal/trust"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

// Verdicts survive a JSON round trip (a cache row) with their reason.
func TestVerdictRoundTrip(t *testing.T) {
	ci, other := newKey(t, "ci", "ecdsa-p256"), newKey(t, "other", "ecdsa-p256")
	r := trusttest.NewRepo()
	img := r.Image("app", "v1")
	r.PutCosignTag(img.Digest, cosignLayer(t, other, img.Digest), cosignLayer(t, ci, digest.FromString("x")), cosignLayer(t, ci, img.Digest))
	res := verify(t, r, trusting(t, ci), img.Digest)
	want := []struct {
		code   string
		reason error
	}{{"untrusted-key", trust.ErrUntrustedKey}, {"wrong-image", trust.ErrWrongImage}, {"", nil}}
	for i, sr := range res.Signatures {
		b, err := json.Marshal(sr.Verdict())
		if err != nil {
			t.Fatal(err)
		}
		var v trust.Verdict
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if v.Reason != want[i].code || v.Signature != sr.Signature.ID() || v.Valid != sr.Valid() {
			t.Errorf("verdict %d: %s", i, b)
		}
		if err := v.Err(); !errors.Is(err, want[i].reason) || (err != nil && err.Error() != sr.Err.Error()) {
			t.Errorf("verdict %d: Err() = %v, want %v", i, err, sr.Err)
		}
		if back := v.SignatureResult(); back.Signature.ID() != sr.Signature.ID() || back.Valid() != sr.Valid() || !errors.Is(back.Err, want[i].reason) {
			t.Errorf("verdict %d rebuilt as %+v", i, back)
		}
		if want[i].reason == nil && (v.Signer == nil || v.Signer.Key != "ci") {
			t.Errorf("valid verdict lost its signer: %s", b)
		}
	}
	if trust.ReasonCode(errors.New("other")) != "" {
		t.Error("a foreign error has a reason code")
	}
}
