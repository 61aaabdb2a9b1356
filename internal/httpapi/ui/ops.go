package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/proxy"
	"github.com/wharf-dev/wharf/internal/replication"
	"github.com/wharf-dev/wharf/internal/scanner"
)

// What the administration pages (webhooks, replication, pull-through
// caches, trust settings) share: the services' refusals in words a page
// shows, and the events of changes made outside a transaction that could
// carry them, recorded as the management API records them.

// serviceError turns a refusal of the webhook, replication, proxy or
// scanner service into one classify shows with its words and status; what
// names the thing for "not found" and "exists already".
func serviceError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, events.ErrInvalid), errors.Is(err, replication.ErrInvalid), errors.Is(err, proxy.ErrInvalid),
		errors.Is(err, proxy.ErrNoKey), errors.Is(err, scanner.ErrAllowlist):
		return invalid("%v", err)
	case errors.Is(err, replication.ErrNotFound), errors.Is(err, meta.ErrNotFound), errors.Is(err, proxy.ErrNotProxy):
		return notFound("%s not found", what)
	case errors.Is(err, replication.ErrConflict), errors.Is(err, meta.ErrConflict):
		return &access.Error{Kind: access.ErrConflict, Message: what + " exists already"}
	}
	return err
}

// formID reads a path value that is a positive number.
func formID(r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	return id, err == nil && id > 0
}

// fields splits a form value into its words: patterns and names are
// separated by spaces, commas or new lines.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// checked reads a checkbox.
func checked(r *http.Request, name string) bool {
	switch r.PostFormValue(name) {
	case "", "0", "false", "off":
		return false
	}
	return true
}

// mayPost checks that v may post forms: a signed-in visitor with the
// session's token in the form.
func mayPost(r *http.Request, v visitor) error {
	if v.refusal != nil {
		return v.refusal
	}
	return checkCSRF(r, v)
}

// The administration pages' template functions.
func init() {
	funcs["webhookURL"] = webhookURL
	funcs["webhooksNS"] = webhooksURL
	funcs["formatName"] = formatName
	funcs["pathEscape"] = url.PathEscape
	// A job's first try waits up to a tenth of its interval.
	funcs["jobStart"] = func(every time.Duration) time.Duration { return (every / 10).Round(time.Second) }
	funcs["runTook"] = func(r meta.ReplicationRun) string {
		switch {
		case r.StartedAt.IsZero():
			return "—"
		case r.FinishedAt.IsZero():
			return "running for " + time.Since(r.StartedAt).Round(time.Second).String()
		}
		return r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
	}
	funcs["deliveryState"] = func(s string) string {
		if s == meta.DeliveryDead {
			return "failed (dead letter)"
		}
		return s
	}
	funcs["latency"] = func(d time.Duration) string {
		if d <= 0 {
			return "—"
		}
		if d < time.Second {
			return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
		}
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
	}
	funcs["excerpt"] = func(s string) string {
		const n = 200
		if len(s) <= n {
			return s
		}
		return strings.ToValidUTF8(s[:n], "") + "…"
	}
}

// formatName is how a payload format is named to people.
func formatName(f string) string {
	switch events.Format(f) {
	case events.FormatCloudEvents:
		return "CloudEvents"
	case events.FormatDistribution:
		return "distribution (CNCF registry notifications)"
	case events.FormatHarbor:
		return "Harbor"
	}
	return f
}

// opsRoutes are the administration pages' routes.
func (h *Handler) opsRoutes() {
	m := h.mux
	m.HandleFunc("GET /-/webhooks", h.systemWebhooks)
	m.HandleFunc("POST /-/webhooks", h.createWebhook)
	m.HandleFunc("GET /ns/{ns}/-/webhooks", h.namespaceWebhooks)
	m.HandleFunc("POST /ns/{ns}/-/webhooks", h.createWebhook)
	m.HandleFunc("GET /-/webhooks/{id}", h.webhookGet)
	m.HandleFunc("POST /-/webhooks/{id}/{op}", h.webhookOp)
	m.HandleFunc("GET /-/webhooks/{id}/deliveries/{delivery}", h.deliveryGet)
	m.HandleFunc("POST /-/webhooks/{id}/deliveries/{delivery}/redeliver", h.redeliver)
	m.HandleFunc("GET /-/replication", h.replicationGet)
	m.HandleFunc("POST /-/replication/rules", h.createRule)
	m.HandleFunc("GET /-/replication/rules/{id}", h.ruleGet)
	m.HandleFunc("POST /-/replication/rules/{id}/{op}", h.ruleOp)
	m.HandleFunc("GET /-/replication/runs/{id}", h.runGet)
	m.HandleFunc("GET /ns/{ns}/-/upstream", h.upstreamGet)
	m.HandleFunc("POST /ns/{ns}/-/upstream", h.setUpstream)
	m.HandleFunc("GET /ns/{ns}/-/trust", h.trustGet)
	m.HandleFunc("POST /ns/{ns}/-/trust/keys", h.addKey)
	m.HandleFunc("POST /ns/{ns}/-/trust/keys/{name}/remove", h.removeKey)
	m.HandleFunc("POST /ns/{ns}/-/trust/identities", h.addIdentity)
	m.HandleFunc("POST /ns/{ns}/-/trust/identities/{i}/remove", h.removeIdentity)
	m.HandleFunc("POST /ns/{ns}/-/trust/root", h.setRoot)
	m.HandleFunc("POST /ns/{ns}/-/trust/delete", h.deleteKeySet)
	m.HandleFunc("POST /ns/{ns}/-/image-policy", h.setImagePolicy)
	m.HandleFunc("POST /ns/{ns}/-/image-policy/delete", h.deleteImagePolicy)
	m.HandleFunc("POST /ns/{ns}/-/allowlist", h.allow)
	m.HandleFunc("POST /ns/{ns}/-/allowlist/{id}/remove", h.disallow)
}

// redactedURL is a URL as a form may show it again: without the password
// of its user information, which a refusal must not echo.
func redactedURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
