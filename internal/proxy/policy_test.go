package proxy_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/policy"
)

// TestPolicyJudgesFirstPull: a namespace's image policy judges an image
// pulled through the cache at its very first pull, as one stored: the
// first pull is no way around a policy. The image is fetched (it must be,
// to be judged) but not served.
func TestPolicyJudgesFirstPull(t *testing.T) {
	up := newUpstream(t)
	img := pushImage(t, up.reg, "library/unsigned", "v1", "no signature")
	c := newCache(t, newStore(t), up.srv.URL, time.Hour)
	p := policy.ImagePolicy{RequireSignature: policy.SignatureRule{Mode: policy.ModeEnforce}, EnforceOnPushers: true}
	if _, err := c.reg.SetImagePolicy(context.Background(), "hub", &p); err != nil {
		t.Fatal(err)
	}
	for range 2 { // fetched, then cached
		status, _, body := c.get("/v2/hub/library/unsigned/manifests/v1")
		if status != http.StatusForbidden || !strings.Contains(string(body), "DENIED") || !strings.Contains(string(body), "signature") {
			t.Fatalf("an unsigned image through the cache under a signature policy: %d %s; want 403 DENIED naming the rule", status, body)
		}
	}
	if n := up.count("GET manifests v1"); n != 1 {
		t.Errorf("the manifest fetched %d times, want 1", n)
	}

	p.RequireSignature.Mode = policy.ModeWarn
	if _, err := c.reg.SetImagePolicy(context.Background(), "hub", &p); err != nil {
		t.Fatal(err)
	}
	if warn := c.pull("hub/library/unsigned", "v1", img); !strings.Contains(warn, "signature") {
		t.Errorf("in warn mode the pull's Warning is %q, want the rule it breaks", warn)
	}
}
