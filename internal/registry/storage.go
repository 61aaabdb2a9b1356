package registry

import (
	"context"

	"github.com/wharf-dev/wharf/internal/meta"
)

// StorageUsage is what the registry holds, as the metadata store records
// it, and every quota with the bytes counted against it.
type StorageUsage struct {
	meta.StorageUsage
	Quotas []meta.Quota
}

// StorageUsage adds up what the registry holds. It reads every link and
// manifest, so it is for a background job, never for a request. The
// figures are not one snapshot: writes between its statements may be
// counted or not.
func (r *Registry) StorageUsage(ctx context.Context) (StorageUsage, error) {
	u, err := r.meta.StorageUsage(ctx)
	if err != nil {
		return StorageUsage{}, internal("storage usage", err)
	}
	qs, err := r.meta.Quotas(ctx)
	if err != nil {
		return StorageUsage{}, internal("storage usage: quotas", err)
	}
	return StorageUsage{StorageUsage: u, Quotas: qs}, nil
}
