package server

import (
	"net/http"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
)

// mgmtHandler is the management API. Its callers are authenticated by the
// same edge as /v2's, so logins are limited and audited by the same client
// address; a bearer token from /token is read as the rights of whom it
// names. Without auth.enabled its caller is the local administrator, for
// requests made on this machine only, who manages namespaces, repositories
// and the lifecycle but not accounts.
func (s *Server) mgmtHandler() http.Handler {
	opts := mgmt.Options{Registry: s.registry, Logger: s.log, CollectGarbage: s.collectForAPI, Replication: s.replication, Scanner: s.scanner,
		Promotion: s.promotion, Network: s.network, Proxy: s.proxy,
		Webhooks: s.events.webhooks, WebhookStore: s.events.store, Record: s.recordNow}
	var h http.Handler
	switch {
	case s.access != nil:
		opts.Access = s.access
		h = s.authenticate(mgmt.New(opts), true)
	case s.local != nil:
		opts.Access = s.local
		proxies, _ := s.cfg.HTTP.ProxyPrefixes() // validated
		h = mw.Authenticate(mgmt.New(opts), mw.AuthOptions{TrustedProxies: proxies, LocalAdmin: true})
	default:
		h = mgmt.New(opts)
	}
	return mw.Wrap(h, mw.Options{
		Logger:  s.log,
		Metrics: s.metrics.HTTP,
		Route:   func(*http.Request) string { return "api" },
	})
}
