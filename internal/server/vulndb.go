package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/scan/vulndb"
	"github.com/wharf-dev/wharf/internal/scanner"
)

// OpenVulnDB opens the stores cfg names for `wharf vulndb`: bundles in the
// content store and the pointer in the metadata store, where every
// replica's scanner loads them from. cfg must be resolved and valid.
func OpenVulnDB(ctx context.Context, cfg config.Config) (vulndb.Bundles, vulndb.Pointer, io.Closer, error) {
	cs, err := openContent(ctx, cfg.Storage)
	if err != nil {
		return nil, nil, nil, err
	}
	ms, err := openMeta(ctx, cfg.Database, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, nil, err
	}
	st, ok := ms.(meta.Scans)
	if !ok {
		_ = ms.Close()
		return nil, nil, nil, fmt.Errorf("the metadata store %T keeps no vulnerability data", ms)
	}
	v := scanner.VulnDB{Content: cs, Meta: st}
	return v, v, ms, nil
}
