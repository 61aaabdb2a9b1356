package server

import (
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/metrics"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
)

// lifecycleHooks counts the registry's quota refusals and retention
// deletions in m.
func lifecycleHooks(m *metrics.Lifecycle, pushed func(string, digest.Digest, *oci.Manifest)) registry.Hooks {
	return registry.Hooks{
		QuotaRefused:     m.QuotaRefused,
		RetentionDeleted: func(kind string) { m.RetentionDeletions.WithLabelValues(kind).Inc() },
		ManifestPushed:   pushed,
	}
}
