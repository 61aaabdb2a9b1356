package registry_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/policy"
)

func TestImmutableTags(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		rule, err := r.AddImmutabilityRule(ctx, policy.ImmutabilityRule{Namespace: "team", Pattern: "v*"})
		if err != nil {
			t.Fatal(err)
		}
		semverRule, err := r.AddImmutabilityRule(ctx, policy.ImmutabilityRule{Namespace: "team", Pattern: "semver"})
		if err != nil {
			t.Fatal(err)
		}
		m1 := r.image("team/app", "v1.0", "one")
		m2 := r.image("team/app", "latest", "two")

		// Moving an immutable tag is refused, naming the rule; the tag stays.
		_, err = r.put("team/app", "v1.0", manifest("", []byte(`{"name":"two"}`), []byte("layer of two")))
		e := wantCode(t, "move v1.0", err, apierr.Denied, "v1.0", "immutable", `"v*"`)
		if d, _ := e.Detail.(map[string]string); d["pattern"] != "v*" || d["tag"] != "v1.0" || d["namespace"] != "team" {
			t.Errorf("detail = %v", e.Detail)
		}
		if d, _ := r.get("team/app", "v1.0"); d != m1 {
			t.Errorf("v1.0 names %s after a refused move, want %s", d, m1)
		}
		// Pushing the same manifest again is not a move.
		if d, err := r.put("team/app", "v1.0", manifest("", []byte(`{"name":"one"}`), []byte("layer of one"))); err != nil || d != m1 {
			t.Errorf("re-push of v1.0 = %s, %v", d, err)
		}
		// latest matches no rule and keeps moving.
		r.image("team/app", "latest", "three")
		if _, err := r.put("team/app", "latest", manifest("", []byte(`{"name":"one"}`), []byte("layer of one"))); err != nil {
			t.Errorf("move latest: %v", err)
		}
		// A semantic version without "v" is immutable by the other rule.
		r.image("team/app", "2.0.0", "four")
		_, err = r.put("team/app", "2.0.0", manifest("", []byte(`{"name":"one"}`), []byte("layer of one")))
		wantCode(t, "move 2.0.0", err, apierr.Denied, "semver")

		// Neither the tag nor the manifest it names can be deleted.
		wantCode(t, "delete tag v1.0", r.DeleteManifest(ctx, "team/app", ref("v1.0")), apierr.Denied, "cannot delete tag v1.0")
		wantCode(t, "delete manifest of v1.0", r.DeleteManifest(ctx, "team/app", ref(m1.String())), apierr.Denied, "v1.0")
		if d, _ := r.get("team/app", "v1.0"); d != m1 {
			t.Errorf("v1.0 names %s after refused deletes, want %s", d, m1)
		}
		// Deleting what no rule covers still works, and so does deleting a
		// tag that does not exist (MANIFEST_UNKNOWN, not DENIED).
		if err := r.DeleteManifest(ctx, "team/app", ref(m2.String())); err != nil {
			t.Errorf("delete an untagged manifest: %v", err)
		}
		wantCode(t, "delete unknown v9", r.DeleteManifest(ctx, "team/app", ref("v9")), apierr.ManifestUnknown)

		// Nor can a manifest an immutable index lists.
		childM := manifest("", []byte(`{"name":"one"}`))
		child := r.putUntagged("team/app", childM)
		idx := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":"%s","size":%d}]}`, ociIndex, ociManifest, child, len(childM))
		if _, _, err := r.PutManifest(ctx, "team/app", ref("v2-multi"), ociIndex, idx); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "delete a child of v2-multi", r.DeleteManifest(ctx, "team/app", ref(child.String())), apierr.Denied, "v2-multi")

		// Rules are per namespace.
		r.image("other/app", "v1.0", "one")
		r.image("other/app", "v1.0", "two") // fails the test if refused

		// Without the rule the tag moves again.
		if err := r.DeleteImmutabilityRule(ctx, rule.ID); err != nil {
			t.Fatal(err)
		}
		if err := r.DeleteImmutabilityRule(ctx, semverRule.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "delete a rule twice", r.DeleteImmutabilityRule(ctx, rule.ID), apierr.NotFound)
		if _, err := r.put("team/app", "v1.0", manifest("", []byte(`{"name":"two"}`), []byte("layer of two"))); err != nil {
			t.Errorf("move v1.0 after its rule is gone: %v", err)
		}
	})
}

func TestImmutabilityRuleBadInput(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		if _, err := r.AddImmutabilityRule(ctx, policy.ImmutabilityRule{Namespace: "team", Pattern: "v*"}); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			rule policy.ImmutabilityRule
			says string
		}{
			{policy.ImmutabilityRule{Namespace: "team", Pattern: "re:(unclosed"}, "pattern: invalid tag pattern"},
			{policy.ImmutabilityRule{Namespace: "team", Pattern: ""}, "must not be empty"},
			{policy.ImmutabilityRule{Namespace: "team", Pattern: "v 1"}, "cannot appear"},
			{policy.ImmutabilityRule{Namespace: "Team!", Pattern: "v*"}, "namespace:"},
		} {
			_, err := r.AddImmutabilityRule(ctx, tt.rule)
			wantCode(t, "add "+tt.rule.Pattern, err, apierr.RequestInvalid, tt.says)
		}
		_, err := r.AddImmutabilityRule(ctx, policy.ImmutabilityRule{Namespace: "team", Pattern: "v*"})
		wantCode(t, "duplicate", err, apierr.Conflict, `"v*"`)
		rules, err := r.ImmutabilityRules(ctx, "")
		if err != nil || len(rules) != 1 {
			t.Errorf("after refused adds, rules = %v, %v; want the one rule", rules, err)
		}
	})
}

// TestImmutableTagConcurrentPushes: manifests pushed at once under one
// immutable tag that does not exist yet: one push wins, the others are
// refused, and the tag names the winner. (On PostgreSQL every push read
// "no such tag" and each moved it in turn, so an acknowledged push of an
// immutable tag was overwritten.)
func TestImmutableTagConcurrentPushes(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		if _, err := r.AddImmutabilityRule(ctx, policy.ImmutabilityRule{Namespace: "team", Pattern: "v*"}); err != nil {
			t.Fatal(err)
		}
		r.mustBlob("team/app", []byte("shared layer"))
		for round := range 20 {
			tag := fmt.Sprint("v", round)
			var payloads [][]byte
			for i := range 4 {
				cfg := fmt.Appendf(nil, `{"round":%d,"pusher":%d}`, round, i)
				r.mustBlob("team/app", cfg)
				payloads = append(payloads, manifest("", cfg, []byte("shared layer")))
			}
			errs := make([]error, len(payloads))
			ds := make([]digest.Digest, len(payloads))
			var wg sync.WaitGroup
			for i, p := range payloads {
				wg.Go(func() { ds[i], errs[i] = r.put("team/app", tag, p) })
			}
			wg.Wait()
			won := -1
			for i, err := range errs {
				switch {
				case err == nil && won >= 0:
					t.Fatalf("round %d: pushes %d and %d both acknowledged under immutable tag %s", round, won, i, tag)
				case err == nil:
					won = i
				case !apierr.Is(err, apierr.Denied):
					t.Fatalf("round %d: push %d: %v", round, i, err)
				}
			}
			if won < 0 {
				t.Fatalf("round %d: every push refused", round)
			}
			if d, err := r.get("team/app", tag); err != nil || d != ds[won] {
				t.Fatalf("round %d: team/app:%s = %s, %v; want the acknowledged push %s", round, tag, d, err, ds[won])
			}
		}
	})
}
