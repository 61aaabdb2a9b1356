package server

import (
	"context"
	"net/http"

	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/httpapi/ui"
)

// uiHandler is the web UI at /. Its callers are authenticated by the same
// edge as the management API's, with the web session's cookie; without
// access control, the caller is the local administrator on this machine,
// as for the management API, and any other is shown why not.
func (s *Server) uiHandler() http.Handler {
	proxies, _ := s.cfg.HTTP.ProxyPrefixes() // validated
	opts := ui.Options{
		Registry: s.registry, Scanner: s.scanner, Promotion: s.promotion, Replication: s.replication, Proxy: s.proxy, Logger: s.log,
		CollectGarbage: s.collectForUI, Accounts: s.access != nil, OIDC: s.identity.oidc != nil,
		SecureCookie: s.cfg.Auth.Session.SecureCookie, TrustedProxies: proxies, SessionMaxAge: s.cfg.Auth.Session.MaxAge,
		Network: s.network, Webhooks: s.events.webhooks, WebhookStore: s.events.store, Record: s.recordNow, Jobs: s.jobStatuses,
	}
	var h http.Handler
	switch {
	case s.access != nil:
		opts.Access = s.access
		h = s.authenticate(ui.New(opts), true)
	case s.local != nil:
		opts.Access = s.local
		h = mw.Authenticate(ui.New(opts), mw.AuthOptions{TrustedProxies: proxies, LocalAdmin: true})
	default:
		return http.NotFoundHandler()
	}
	return mw.Wrap(h, mw.Options{
		Logger:  s.log,
		Metrics: s.metrics.HTTP,
		Route:   func(*http.Request) string { return "ui" },
	})
}

// collectForUI runs one garbage collection for the UI, as for the API.
func (s *Server) collectForUI(ctx context.Context, dryRun bool) (ui.GCReport, error) {
	rep, err := s.collectForAPI(ctx, dryRun)
	return ui.GCReport{DryRun: rep.DryRun, Reviewed: rep.Reviewed, BlobsDeleted: rep.BlobsDeleted, ManifestsDeleted: rep.ManifestsDeleted,
		BytesFreed: rep.BytesFreed, Kept: rep.Kept, Deferred: rep.Deferred, Errors: rep.Errors, Seconds: rep.Seconds}, err
}

// jobStatuses reports this replica's background jobs to the UI.
func (s *Server) jobStatuses() []ui.JobStatus {
	var out []ui.JobStatus
	for _, j := range s.bg.board.Statuses() {
		out = append(out, ui.JobStatus{Name: j.Name, Every: j.Every, Held: j.Held, Waiting: !j.Tried, Running: j.Running, Runs: j.Runs, Failures: j.Failures,
			LastSuccess: j.LastSuccess, LastFailure: j.LastFailure, LastError: j.LastError, LastDuration: j.LastDuration})
	}
	return out
}
