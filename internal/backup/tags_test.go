package backup

import (
	"context"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/policy"
)

// TestImportTagsAtOnce: an import that would move an immutable tag is
// refused, and the repository's other tags, new ones included, are not
// applied either: a repository's tags change all at once or not at all.
func TestImportTagsAtOnce(t *testing.T) {
	ctx := context.Background()
	src := newRegistry(t, "fs+sqlite")
	a := pushImage(t, src, "team/app", "a-new", "amd64", "new image")
	pushManifest(t, src, "team/app", "z-release", mustPayload(t, src, "team/app", a))
	p, _ := export(t, NewLocal(src), "oci-archive", ExportOptions{Selection: Selection{Repositories: []string{"team/app"}}})

	dst := newRegistry(t, "fs+sqlite")
	old := pushImage(t, dst, "team/app", "z-release", "amd64", "released image")
	if _, err := dst.AddImmutabilityRule(ctx, policy.ImmutabilityRule{Namespace: "team", Pattern: "z-*"}); err != nil {
		t.Fatal(err)
	}
	_, err := importPath(t, p, NewLocal(dst), ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("import over an immutable tag: %v", err)
	}
	got := state(t, dst)["team/app"]
	if len(got) != 1 || !strings.HasPrefix(got["z-release"], old.Digest.String()) {
		t.Fatalf("after the refused import the tags are %v; want only z-release, unmoved", got)
	}
}
