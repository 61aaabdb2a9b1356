package registry_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
)

// referrer pushes an artifact manifest whose subject is d into repo.
func (r *testReg) referrer(repo string, d digest.Digest, name string) digest.Digest {
	r.t.Helper()
	cfg, layer := []byte(`{"sig":"`+name+`"}`), []byte("signature "+name)
	r.mustBlob(repo, cfg)
	r.mustBlob(repo, layer)
	rd, err := r.put(repo, "sha256-"+d.Encoded()[:20]+"."+name, manifest(d, cfg, layer))
	if err != nil {
		r.t.Fatalf("push referrer %s: %v", name, err)
	}
	return rd
}

// TestPromote: an index with its platforms, the referrers of each and the
// referrers of those are copied by linking, tagged, in one transaction;
// again, nothing changes; the tag obeys immutability; the record written
// in the transaction commits with the copy, and its failure leaves nothing.
func TestPromote(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		amd := r.image("ci/app", "amd", "amd")
		arm := r.image("ci/app", "arm", "arm")
		// Each platform's size in the index must match: fix them up.
		am, _ := r.store.Manifest(ctx, "ci/app", amd)
		rm, _ := r.store.Manifest(ctx, "ci/app", arm)
		idx := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":"%s","size":%d,"platform":{"os":"linux","architecture":"amd64"}},{"mediaType":%q,"digest":"%s","size":%d,"platform":{"os":"linux","architecture":"arm64"}}]}`,
			ociIndex, ociManifest, amd, am.Size, ociManifest, arm, rm.Size))
		top, _, err := r.PutManifest(ctx, "ci/app", ref("latest"), ociIndex, idx)
		if err != nil {
			t.Fatal(err)
		}
		sig := r.referrer("ci/app", top, "sig")
		sigOfSig := r.referrer("ci/app", sig, "countersig")
		sbom := r.referrer("ci/app", amd, "sbom")

		// A failing record rolls the whole copy back.
		boom := errors.New("boom")
		_, err = r.Promote(ctx, registry.Promotion{Source: "ci/app", Digest: top, Target: "prod/app", Tag: "1.0",
			Record: func(context.Context, meta.Tx, []registry.PromotedManifest) error { return boom }})
		if !errors.Is(err, boom) {
			t.Fatalf("promote with a failing record: %v", err)
		}
		for _, d := range []digest.Digest{top, amd, arm, sig} {
			if _, err := r.store.Manifest(ctx, "prod/app", d); !errors.Is(err, meta.ErrNotFound) {
				t.Fatalf("%s in prod after a rolled-back promotion: %v", d, err)
			}
		}
		if _, err := r.store.Blob(ctx, "prod/app", digest.FromString(`{"name":"amd"}`)); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("a blob linked after a rolled-back promotion: %v", err)
		}

		var recorded []registry.PromotedManifest
		copied, err := r.Promote(ctx, registry.Promotion{Source: "ci/app", Digest: top, Target: "prod/app", Tag: "1.0",
			Record: func(_ context.Context, _ meta.Tx, c []registry.PromotedManifest) error { recorded = c; return nil }})
		if err != nil {
			t.Fatal(err)
		}
		roles := map[digest.Digest]string{}
		for _, c := range copied {
			if !c.New {
				t.Errorf("%s not new on the first promotion", c.Digest)
			}
			roles[c.Digest] = c.Role
		}
		want := map[digest.Digest]string{top: "image", amd: "platform", arm: "platform", sig: "referrer", sigOfSig: "referrer", sbom: "referrer"}
		if fmt.Sprint(roles) != fmt.Sprint(want) || len(recorded) != len(copied) {
			t.Fatalf("copied %v, want %v (recorded %d)", roles, want, len(recorded))
		}
		if d, err := r.get("prod/app", "1.0"); err != nil || d != top {
			t.Fatalf("prod/app:1.0 = %s, %v", d, err)
		}
		for d := range want {
			if _, err := r.Manifest(ctx, "prod/app", ref(d.String())); err != nil {
				t.Errorf("prod/app@%s: %v", d, err)
			}
		}
		// The blobs are readable from prod, without having been uploaded there.
		rc, _, err := r.OpenBlob(ctx, "prod/app", digest.FromString("layer of arm"))
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		refs, err := r.Referrers(ctx, "prod/app", top, "")
		if err != nil || len(refs) != 1 || refs[0].Digest != sig {
			t.Errorf("referrers in prod: %v, %v", refs, err)
		}

		// Again: nothing new, no error.
		again, err := r.Promote(ctx, registry.Promotion{Source: "ci/app", Digest: top, Target: "prod/app", Tag: "1.0"})
		if err != nil || len(again) != len(want) {
			t.Fatalf("promote again: %v, %v", again, err)
		}
		for _, c := range again {
			if c.New {
				t.Errorf("%s new on the second promotion", c.Digest)
			}
		}

		// An immutable target tag is not moved by a promotion.
		if _, err := r.AddImmutabilityRule(ctx, policy.ImmutabilityRule{Namespace: "prod", Pattern: "*"}); err != nil {
			t.Fatal(err)
		}
		_, err = r.Promote(ctx, registry.Promotion{Source: "ci/app", Digest: amd, Target: "prod/app", Tag: "1.0"})
		wantCode(t, "move an immutable tag", err, apierr.Denied, "1.0", "immutable")
		if _, err := r.store.Manifest(ctx, "prod/other", amd); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("refused promotion left a manifest: %v", err)
		}

		// What the source lacks is named.
		_, err = r.Promote(ctx, registry.Promotion{Source: "ci/app", Digest: digest.FromString("nothing"), Target: "prod/app", Tag: "2.0"})
		wantCode(t, "promote a missing manifest", err, apierr.ManifestUnknown, "is not in ci/app")
		_, err = r.Promote(ctx, registry.Promotion{Source: "ci/app", Digest: top, Target: "prod/app", Tag: "bad tag"})
		wantCode(t, "bad tag", err, apierr.TagInvalid)
		_, err = r.Promote(ctx, registry.Promotion{Source: "ci/App", Digest: top, Target: "prod/app"})
		wantCode(t, "bad source", err, apierr.NameInvalid)
	})
}

// TestPromoteConcurrentToOneTag: two digests promoted at once to one
// immutable tag: one wins, the other is refused, and the tag names the
// winner's image, whole.
func TestPromoteConcurrentToOneTag(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		if _, err := r.AddImmutabilityRule(ctx, policy.ImmutabilityRule{Namespace: "prod", Pattern: "*"}); err != nil {
			t.Fatal(err)
		}
		for round := range 5 {
			promoteRace(t, r, round)
		}
	})
}

func promoteRace(t *testing.T, r *testReg, round int) {
	ctx := context.Background()
	tag := fmt.Sprint("1.", round)
	var ds []digest.Digest
	for i := range 3 {
		ds = append(ds, r.image("ci/app", fmt.Sprintf("c%d-%d", round, i), fmt.Sprintf("concurrent%d-%d", round, i)))
	}
	errs := make([]error, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The record's write is slow: the others' checks of the tag
			// run while the first holds it uncommitted.
			_, errs[i] = r.Promote(ctx, registry.Promotion{Source: "ci/app", Digest: d, Target: "prod/app", Tag: tag,
				Record: func(context.Context, meta.Tx, []registry.PromotedManifest) error {
					time.Sleep(50 * time.Millisecond)
					return nil
				}})
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatalf("both promotions won")
			}
			won = i
		case apierr.Is(err, apierr.Denied):
		default:
			t.Fatalf("promotion %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no promotion won")
	}
	if d, err := r.get("prod/app", tag); err != nil || d != ds[won] {
		t.Fatalf("prod/app:%s = %s, %v; want the winner %s", tag, d, err, ds[won])
	}
}

// TestPromoteAttachments: signatures attached by cosign's tag schema
// (sha256-<hex>.sig) go with the image and keep their tags; an immutable
// attachment tag in the target keeps what it names.
func TestPromoteAttachments(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		img := r.image("ci/app", "v1", "signed")
		sigTag := "sha256-" + img.Encoded() + ".sig"
		sig := r.image("ci/app", sigTag, "cosign signature")
		copied, err := r.Promote(ctx, registry.Promotion{Source: "ci/app", Digest: img, Target: "prod/app", Tag: "1.0"})
		if err != nil {
			t.Fatal(err)
		}
		if len(copied) != 2 || copied[1].Role != "attachment" || copied[1].Tag != sigTag || copied[1].Digest != sig {
			t.Fatalf("copied %+v", copied)
		}
		if d, err := r.get("prod/app", sigTag); err != nil || d != sig {
			t.Fatalf("prod/app:%s = %s, %v", sigTag, d, err)
		}
		// A new signature in ci; prod's attachment tags are immutable.
		if _, err := r.AddImmutabilityRule(ctx, policy.ImmutabilityRule{Namespace: "prod", Pattern: "*"}); err != nil {
			t.Fatal(err)
		}
		sig2 := r.image("ci/app", sigTag, "cosign signature 2")
		if _, err := r.Promote(ctx, registry.Promotion{Source: "ci/app", Digest: img, Target: "prod/app", Tag: "1.0"}); err != nil {
			t.Fatalf("promote again with an immutable attachment tag: %v", err)
		}
		if d, _ := r.get("prod/app", sigTag); d != sig {
			t.Errorf("the immutable attachment tag moved to %s", d)
		}
		if _, err := r.Manifest(ctx, "prod/app", ref(sig2.String())); err != nil {
			t.Errorf("the new signature was not copied by digest: %v", err)
		}
	})
}
