package registry

import (
	"context"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// StorageUsage is what the registry holds, as the metadata store records
// it.
type StorageUsage struct {
	Blobs int64 // blobs recorded, referenced or waiting for garbage collection
	Bytes int64 // their bytes, each blob once: what the content store holds
	// Namespaces holds the bytes of every namespace with a repository (see
	// [meta.LifecycleReader.NamespaceBytes]), sorted by name.
	Namespaces []NamespaceBytes
	// Quotas lists every quota with the bytes counted against it.
	Quotas []meta.Quota
}

// NamespaceBytes is what one namespace holds.
type NamespaceBytes struct {
	Namespace string
	Bytes     int64
}

// storagePage is how many rows one query of StorageUsage reads.
const storagePage = 1000

// StorageUsage adds up what the registry holds. It reads every blob row
// and every repository name, and runs the quota query of each namespace,
// so it is for a background job, never for a request. The figures are not
// one snapshot: writes between its queries may be counted or not.
func (r *Registry) StorageUsage(ctx context.Context) (StorageUsage, error) {
	var u StorageUsage
	gcr, ok := r.meta.(meta.GCReader)
	if !ok {
		return u, fmt.Errorf("storage usage: the metadata store does not list blobs")
	}
	for after := digest.Digest(""); ; {
		bs, err := gcr.Blobs(ctx, after, storagePage)
		if err != nil {
			return u, fmt.Errorf("storage usage: list blobs: %w", err)
		}
		for _, b := range bs {
			u.Blobs++
			u.Bytes += b.Size
		}
		if len(bs) < storagePage {
			break
		}
		after = bs[len(bs)-1].Digest
	}
	namespaces, err := r.namespaces(ctx)
	if err != nil {
		return u, err
	}
	for _, ns := range namespaces {
		n, err := r.meta.NamespaceBytes(ctx, ns)
		if err != nil {
			return u, fmt.Errorf("storage usage: %w", err)
		}
		u.Namespaces = append(u.Namespaces, NamespaceBytes{Namespace: ns, Bytes: n})
	}
	if u.Quotas, err = r.meta.Quotas(ctx); err != nil {
		return u, fmt.Errorf("storage usage: quotas: %w", err)
	}
	return u, nil
}

// namespaces lists the namespaces that hold a repository, sorted.
func (r *Registry) namespaces(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for page := (meta.Page{N: storagePage}); ; {
		repos, err := r.meta.Repositories(ctx, page)
		if err != nil {
			return nil, fmt.Errorf("storage usage: list repositories: %w", err)
		}
		for _, repo := range repos {
			if ns := oci.Namespace(repo); !seen[ns] {
				seen[ns] = true
				out = append(out, ns)
			}
		}
		if len(repos) < storagePage {
			break
		}
		page.Last = repos[len(repos)-1]
	}
	slices.Sort(out)
	return out, nil
}
