package registry_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
)

const day = 24 * time.Hour

// tagsOf returns the tags of repo, or nil if it has none.
func (r *testReg) tagsOf(repo string) []string {
	r.t.Helper()
	tags, err := r.store.Tags(context.Background(), repo, metaAll)
	if err != nil {
		return nil
	}
	return tags
}

func summarize(rep registry.RetentionReport) []string {
	var out []string
	for _, d := range rep.Deletions {
		if d.Kind == policy.KindTag {
			out = append(out, "-"+d.Repository+":"+d.Tag)
		} else {
			out = append(out, "-"+d.Repository+"@"+d.Digest[7:15])
		}
	}
	slices.Sort(out)
	return out
}

func TestRetention(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		var shas []string
		for i := range 4 {
			sha := fmt.Sprintf("%040x", i+1)
			shas = append(shas, sha)
			r.image("team/app", sha, "build "+sha)
		}
		latest := r.image("team/app", "latest", "latest")
		release := r.image("team/app", "v1.2.3", "release")
		dev := r.image("team/app", "dev", "dev")
		// A signature and an SBOM of the oldest build, and a signature of the signature.
		oldest, _ := r.get("team/app", shas[0])
		cfg := []byte(`{"name":"build ` + shas[0] + `"}`)
		sig := r.putUntagged("team/app", manifest(oldest, cfg))
		sbom := r.putUntagged("team/app", manifest(oldest, cfg, []byte("layer of build "+shas[0])))
		sigOfSig := r.putUntagged("team/app", manifest(sig, cfg, []byte("layer of dev")))
		// An untagged manifest, and a repository no policy covers.
		r.mustBlob("team/app", []byte("orphan cfg"))
		orphan := r.putUntagged("team/app", manifest("", []byte("orphan cfg")))
		r.image("elsewhere/app", "dev", "elsewhere")

		p, err := r.AddRetentionPolicy(ctx, policy.RetentionPolicy{
			Scope:         "team",
			KeepLast:      []policy.KeepLast{{Pattern: "re:[0-9a-f]{40}", Count: 2}},
			Keep:          []string{"latest", "semver"},
			UntaggedAfter: policy.Duration(7 * day),
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := r.RetentionPolicy(ctx, p.ID); err != nil || got.KeepLast[0].Count != 2 || got.Scope != "team" {
			t.Fatalf("RetentionPolicy = %+v, %v", got, err)
		}

		// Ten days on: the two oldest SHAs and dev go, with the oldest
		// build's referrers; the untagged orphan is idle for over 7 days.
		later := time.Now().Add(10 * day)
		preview, err := r.Retention(ctx, registry.RetentionOptions{DryRun: true, Now: later})
		if err != nil {
			t.Fatal(err)
		}
		second, _ := r.get("team/app", shas[1])
		want := []string{
			"-team/app:" + shas[0], "-team/app:" + shas[1], "-team/app:dev",
			"-team/app@" + oldest.Encoded()[:8], "-team/app@" + second.Encoded()[:8], "-team/app@" + dev.Encoded()[:8],
			"-team/app@" + sig.Encoded()[:8], "-team/app@" + sbom.Encoded()[:8], "-team/app@" + sigOfSig.Encoded()[:8],
			"-team/app@" + orphan.Encoded()[:8],
		}
		slices.Sort(want)
		if got := summarize(preview); !slices.Equal(got, want) {
			t.Fatalf("preview:\n got %v\nwant %v", got, want)
		}
		if preview.Repositories != 1 || !preview.DryRun {
			t.Errorf("preview covered %d repositories, dryRun %v", preview.Repositories, preview.DryRun)
		}
		// The preview changed nothing.
		if tags := r.tagsOf("team/app"); len(tags) != 7 {
			t.Fatalf("after the preview, tags = %v", tags)
		}

		rep, err := r.Retention(ctx, registry.RetentionOptions{Now: later})
		if err != nil {
			t.Fatal(err)
		}
		if got := summarize(rep); !slices.Equal(got, want) {
			t.Errorf("run:\n got %v\nwant %v", got, want)
		}
		wantTags := []string{shas[2], shas[3], "latest", "v1.2.3"}
		slices.Sort(wantTags)
		if tags := r.tagsOf("team/app"); !slices.Equal(tags, wantTags) {
			t.Errorf("after retention, tags = %v, want %v", tags, wantTags)
		}
		for _, d := range []digest.Digest{oldest, sig, sbom, sigOfSig, orphan, dev} {
			if _, err := r.get("team/app", d.String()); !apierr.Is(err, apierr.ManifestUnknown) {
				t.Errorf("manifest %s survived retention: %v", d, err)
			}
		}
		for _, d := range []digest.Digest{latest, release} {
			if _, err := r.get("team/app", d.String()); err != nil {
				t.Errorf("kept manifest %s: %v", d, err)
			}
		}
		if tags := r.tagsOf("elsewhere/app"); !slices.Equal(tags, []string{"dev"}) {
			t.Errorf("a repository outside the scope lost tags: %v", tags)
		}
		if n, m := r.counts.get(r.counts.retention, "tag"), r.counts.get(r.counts.retention, "manifest"); n != 3 || m != 7 {
			t.Errorf("retention deletions counted: %d tags, %d manifests; want 3, 7", n, m)
		}
		// A second run finds nothing more to do.
		if rep, err := r.Retention(ctx, registry.RetentionOptions{Now: later}); err != nil || len(rep.Deletions) != 0 {
			t.Errorf("second run: %v, %v", summarize(rep), err)
		}
	})
}

// putUntagged pushes payload to repo by digest.
func (r *testReg) putUntagged(repo string, payload []byte) digest.Digest {
	r.t.Helper()
	d, err := r.put(repo, digest.FromBytes(payload).String(), payload)
	if err != nil {
		r.t.Fatalf("push %s by digest: %v", repo, err)
	}
	return d
}

func TestRetentionKeepsPulledAndImmutable(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		r.image("team/app", "pulled", "pulled")
		r.image("team/app", "idle", "idle")
		r.image("team/app", "v1", "v1")
		if _, err := r.AddImmutabilityRule(ctx, policy.ImmutabilityRule{Namespace: "team", Pattern: "v*"}); err != nil {
			t.Fatal(err)
		}
		keep30 := policy.RetentionPolicy{Scope: "team/app", KeepWithin: policy.Duration(30 * day)}

		// A pull through the registry is recorded when it flushes; a read
		// that is not a pull (listing tags) is not.
		rec := registry.New(registry.Options{Meta: r.store})
		if _, err := rec.Manifest(ctx, "team/app", ref("idle")); err != nil {
			t.Fatal(err)
		}
		if err := rec.FlushPulls(ctx); err != nil {
			t.Fatal(err)
		}
		if u, err := r.Usage(ctx, "team"); err != nil || !u.LastPull.IsZero() {
			t.Fatalf("a read that is not a pull was recorded: %+v, %v", u, err)
		}
		pulled, _, err := rec.PullManifest(ctx, "team/app", ref("pulled"))
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.FlushPulls(ctx); err != nil {
			t.Fatal(err)
		}
		u, err := r.Usage(ctx, "team")
		if err != nil || u.LastPull.IsZero() || u.Repositories[0].LastPull.IsZero() {
			t.Fatalf("usage after a pull: %+v, %v", u, err)
		}
		// Say it was pulled again 20 days from now; 40 days from now only
		// that pull keeps its tag, and v1 is immutable.
		err = r.store.Update(ctx, func(tx meta.Tx) error {
			return tx.RecordPulls(ctx, []meta.Pull{{Repository: "team/app", Digest: pulled.Digest, At: time.Now().Add(20 * day)}})
		})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := r.Retention(ctx, registry.RetentionOptions{Only: &keep30, Now: time.Now().Add(40 * day), DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		got := summarize(rep)
		if !slices.Contains(got, "-team/app:idle") || slices.Contains(got, "-team/app:pulled") || slices.Contains(got, "-team/app:v1") {
			t.Errorf("40 days on: %v; want idle removed, pulled and v1 (immutable) kept", got)
		}
		rep, err = r.Retention(ctx, registry.RetentionOptions{Only: &keep30, Now: time.Now().Add(60 * day), DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		got = summarize(rep)
		if !slices.Contains(got, "-team/app:pulled") || slices.Contains(got, "-team/app:v1") {
			t.Errorf("60 days on: %v; want pulled removed, v1 kept", got)
		}
		for _, k := range rep.Kept {
			if k.Tag == "v1" && !strings.Contains(k.Reason, "immutab") {
				t.Errorf("v1 kept because %q", k.Reason)
			}
		}
	})
}

func TestRetentionPolicyBadInput(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		good, err := r.AddRetentionPolicy(ctx, policy.RetentionPolicy{Scope: "team", Keep: []string{"latest"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			p    policy.RetentionPolicy
			says string
		}{
			{policy.RetentionPolicy{Scope: "team", KeepLast: []policy.KeepLast{{Pattern: "*", Count: -5}}}, "keepLast[0].count: must be at least 1, got -5"},
			{policy.RetentionPolicy{Scope: "team", KeepLast: []policy.KeepLast{{Pattern: "re:[", Count: 5}}}, "keepLast[0].pattern"},
			{policy.RetentionPolicy{Scope: "team", Keep: []string{"bad pattern"}}, "keep[0]"},
			{policy.RetentionPolicy{Scope: "team", UntaggedAfter: policy.Duration(-day)}, "untaggedAfter: must not be negative"},
			{policy.RetentionPolicy{Scope: "team"}, "no rules"},
			{policy.RetentionPolicy{Scope: "BAD", Keep: []string{"x"}}, "scope:"},
		} {
			_, err := r.AddRetentionPolicy(ctx, tt.p)
			wantCode(t, "add", err, apierr.RequestInvalid, tt.says)
			tt.p.ID = good.ID
			wantCode(t, "update", r.UpdateRetentionPolicy(ctx, tt.p), apierr.RequestInvalid, tt.says)
			_, err = r.Retention(ctx, registry.RetentionOptions{Only: &tt.p, DryRun: true})
			wantCode(t, "preview", err, apierr.RequestInvalid, tt.says)
		}
		ps, err := r.RetentionPolicies(ctx)
		if err != nil || len(ps) != 1 || !slices.Equal(ps[0].Keep, []string{"latest"}) {
			t.Errorf("after refused changes, policies = %+v, %v", ps, err)
		}
		wantCode(t, "update unknown", r.UpdateRetentionPolicy(ctx, policy.RetentionPolicy{ID: good.ID + 9, Scope: "team", Keep: []string{"x"}}), apierr.NotFound)
		wantCode(t, "get unknown", func() error { _, err := r.RetentionPolicy(ctx, good.ID+9); return err }(), apierr.NotFound)
		if err := r.DeleteRetentionPolicy(ctx, good.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "delete twice", r.DeleteRetentionPolicy(ctx, good.ID), apierr.NotFound)
	})
}

// TestRetentionBatches: a plan bigger than a batch is applied in several
// transactions, each a whole group (a manifest with its tags, its children
// and its referrers), and ends as one transaction would.
func TestRetentionBatches(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		defer registry.SetRetentionBatch(3)()
		var idxs, sigs []digest.Digest
		for i := range 4 {
			cfg, cfgB := []byte(fmt.Sprintf(`{"i":%d}`, i)), []byte(fmt.Sprintf(`{"i":%d,"arch":"arm64"}`, i))
			r.mustBlob("team/app", cfg)
			r.mustBlob("team/app", cfgB)
			am, bm := manifest("", cfg), manifest("", cfgB)
			a, b := r.putUntagged("team/app", am), r.putUntagged("team/app", bm)
			idx := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":"%s","size":%d},{"mediaType":%q,"digest":"%s","size":%d}]}`,
				ociIndex, ociManifest, a, len(am), ociManifest, b, len(bm))
			d, _, err := r.PutManifest(ctx, "team/app", ref(fmt.Sprintf("build-%d", i)), ociIndex, idx)
			if err != nil {
				t.Fatal(err)
			}
			idxs = append(idxs, d)
			sigs = append(sigs, r.putUntagged("team/app", manifest(d, cfg)))
		}
		rep, err := r.Retention(ctx, registry.RetentionOptions{Only: &policy.RetentionPolicy{
			Scope: "team", KeepLast: []policy.KeepLast{{Pattern: "build-*", Count: 1}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		// Three old builds: a tag, an index, two children and a signature each.
		if len(rep.Deletions) != 3*5 || len(rep.Skipped) != 0 {
			t.Errorf("deleted %d (skipped %v); want 15", len(rep.Deletions), rep.Skipped)
		}
		inv, err := r.store.Inventory(ctx, "team/app")
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.Tags) != 1 || len(inv.Manifests) != 4 {
			t.Errorf("left %d tags and %d manifests; want 1 and 4 (the newest build)", len(inv.Tags), len(inv.Manifests))
		}
		if _, err := r.get("team/app", sigs[3].String()); err != nil {
			t.Errorf("the newest build's signature: %v", err)
		}
	})
}

// TestRetentionArtifactTagsBatched: a cosign signature tag goes in the
// same transaction as the image it signs, even with one group per batch.
// Split from its image, the signature would be evaluated again as an
// ordinary tag, the newest, and keepLast would keep it in place of pr-1
// (fails without the tag joining its subject's group).
func TestRetentionArtifactTagsBatched(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		defer registry.SetRetentionBatch(1)()
		old := r.image("team/app", "a-old", "old")
		r.image("team/app", "pr-1", "pr-1")
		sigCfg := []byte(`{"sig":"old"}`)
		r.mustBlob("team/app", sigCfg)
		r.mustBlob("team/app", []byte("signature of old"))
		sigTag := strings.Replace(old.String(), ":", "-", 1) + ".sig"
		if _, err := r.put("team/app", sigTag, manifest("", sigCfg, []byte("signature of old"))); err != nil {
			t.Fatal(err)
		}
		rep, err := r.Retention(ctx, registry.RetentionOptions{Only: &policy.RetentionPolicy{
			Scope: "team", KeepLast: []policy.KeepLast{{Pattern: "*", Count: 1}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if tags := r.tagsOf("team/app"); !slices.Equal(tags, []string{"pr-1"}) {
			t.Errorf("after retention, tags = %v (deleted %v); want [pr-1]", tags, summarize(rep))
		}
		for _, d := range rep.Deletions {
			if d.Tag == sigTag && (d.Subject != old.String() || !strings.Contains(d.Reason, "cosign signature of "+old.String())) {
				t.Errorf("signature deletion %+v", d)
			}
		}
	})
}
