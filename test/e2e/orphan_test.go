package e2e

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/content/s3"
)

// plantOrphan stores a random blob in the content store that wharf serve
// with dataDir and env uses, and records nothing of it: what a process
// killed between an upload's commit (the bytes moved into place) and its
// database transaction leaves behind.
func plantOrphan(t *testing.T, dataDir string, env []string) digest.Digest {
	t.Helper()
	ctx := context.Background()
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var store content.Store
	var err error
	if vars["WHARF_STORAGE_DRIVER"] == "s3" {
		store, err = s3.New(ctx, s3.Options{
			Endpoint:        vars["WHARF_STORAGE_S3_ENDPOINT"],
			Bucket:          vars["WHARF_STORAGE_S3_BUCKET"],
			Prefix:          vars["WHARF_STORAGE_S3_PREFIX"],
			AccessKeyID:     vars["WHARF_STORAGE_S3_ACCESS_KEY_ID"],
			SecretAccessKey: vars["WHARF_STORAGE_S3_SECRET_ACCESS_KEY"],
			PathStyle:       vars["WHARF_STORAGE_S3_PATH_STYLE"] == "true",
		})
	} else {
		store, err = fs.New(filepath.Join(dataDir, "content"))
	}
	if err != nil {
		t.Fatal(err)
	}
	b := randomBytes(64 << 10)
	d := digest.FromBytes(b)
	id := d.Encoded()[:32]
	_, parts, err := store.Append(ctx, id, 0, "", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Commit(ctx, id, parts, int64(len(b)), d); err != nil {
		t.Fatal(err)
	}
	return d
}
