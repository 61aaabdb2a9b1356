package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// openAccess builds the access control service when auth.enabled is set,
// with the identity sources configured; nil otherwise, which leaves the
// registry open.
func openAccess(ctx context.Context, cfg config.Config, ms meta.Store, log *slog.Logger, hooks access.Hooks, record func(events.Event)) (*access.Service, identity, error) {
	if !cfg.Auth.Enabled {
		return nil, identity{}, nil
	}
	ma, ok := ms.(meta.Access)
	if !ok {
		return nil, identity{}, fmt.Errorf("auth.enabled: the %s metadata store does not keep users", cfg.Database.Driver)
	}
	a := cfg.Auth
	id, idopts, err := openIdentity(a)
	if err != nil {
		return nil, identity{}, err
	}
	svc, err := access.New(ctx, access.Options{
		Access:          ma,
		Logger:          log,
		Issuer:          a.Issuer,
		Service:         a.Service,
		TokenTTL:        a.TokenTTL,
		RefreshTokenTTL: a.RefreshTokenTTL,
		KeyLifetime:     a.KeyLifetime,
		Limiter: auth.LimiterOptions{
			MaxFailures:        a.Limiter.MaxFailures,
			MaxUserFailures:    a.Limiter.MaxUserFailures,
			MaxAddressFailures: a.Limiter.MaxAddressFailures,
			Window:             a.Limiter.Window,
			Backoff:            a.Limiter.Backoff,
			MaxBackoff:         a.Limiter.MaxBackoff,
		},
		CreateNamespaces:  a.CreateNamespaces,
		AdminPassword:     cfg.AdminPassword,
		BcryptCost:        a.BcryptCost,
		MinPasswordLength: a.MinPasswordLength,
		Hooks:             hooks,
		Identity:          idopts,
		Record:            record,
	})
	if err != nil {
		id.close()
		return nil, identity{}, fmt.Errorf("auth: %w", err)
	}
	return svc, id, nil
}
