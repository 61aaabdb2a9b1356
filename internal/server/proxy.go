package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/wharf-dev/wharf/internal/metrics"
	"github.com/wharf-dev/wharf/internal/proxy"
	"github.com/wharf-dev/wharf/internal/remote"
)

// openProxy makes the pull-through cache of proxy namespaces the
// registry's upstream. It reads which namespaces mirror what from the
// metadata store and contacts no upstream.
func (s *Server) openProxy(ctx context.Context) error {
	c := s.cfg.Proxy
	var sealer *remote.Sealer
	if path := c.CredentialsKeyFile; path != "" {
		var err error
		if sealer, err = remote.LoadSealer(path, s.cfg.Database.Driver == "sqlite"); err != nil {
			return fmt.Errorf("proxy.credentialsKeyFile: %w", err)
		}
	}
	px, err := proxy.New(proxy.Options{
		Registry:       s.registry,
		Meta:           s.meta,
		Content:        s.content,
		Sealer:         sealer,
		UserAgent:      "wharf (pull-through cache)",
		Logger:         s.log,
		Events:         proxyEvents(s.log, s.metrics.NewProxy()),
		CheckTimeout:   c.CheckTimeout,
		FetchTimeout:   c.FetchTimeout,
		IdleTimeout:    c.IdleTimeout,
		MaxConnections: c.MaxConnections,
	})
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	if err := px.Reload(ctx); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	s.registry.SetUpstream(px)
	s.proxy = px
	return nil
}

// proxyEvents is where the pull-through cache's events go: the metrics
// and the log. The event stream takes them when it exists; this function
// is the one place to send them there.
func proxyEvents(log *slog.Logger, m *metrics.Proxy) func(proxy.Event) {
	return func(e proxy.Event) {
		m.Event(e.Type, e.Size)
		level := slog.LevelDebug
		switch e.Type {
		case proxy.EventServedStale, proxy.EventUpstreamUp:
			level = slog.LevelInfo
		case proxy.EventUpstreamDown, proxy.EventFillFailed:
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "proxy event", "event", e.Type, "namespace", e.Namespace, "upstream", e.Upstream,
			"repository", e.Repository, "reference", e.Reference, "digest", e.Digest, "size", e.Size, "detail", e.Detail)
	}
}
