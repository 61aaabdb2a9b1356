package distv2

import (
	"net"
	"net/http"
	"strings"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/registry"
)

// withActor returns r carrying the actor of the events its changes record:
// the caller (anonymous without access control), its address and the
// request.
func (h *Handler) withActor(w http.ResponseWriter, r *http.Request) *http.Request {
	a := events.Actor{Name: events.Anonymous, Request: &events.Request{
		ID: w.Header().Get("X-Request-Id"), Method: r.Method, Host: r.Host, UserAgent: r.UserAgent(),
	}}
	if c, ok := callerOf(r.Context()); ok {
		a.Name, a.Client = c.Principal.String(), c.Client
	} else if addr := mw.ClientAddr(r.Context()); addr.IsValid() {
		a.Client = addr.Unmap().String()
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		a.Client = host
	}
	return r.WithContext(events.WithActor(r.Context(), a))
}

// recordDenial records an access.denied event when a manifest pull, push
// or delete, or a blob delete, was refused as DENIED: the caller may not,
// or an immutable tag forbids it. A 401 is not recorded: it is the first
// step of every Docker client's token flow, and failed logins are recorded
// where they happen. A quota refusal records quota.exceeded instead.
func (h *Handler) recordDenial(r *http.Request, rt route, err error) {
	if h.record == nil || err == nil {
		return
	}
	action := deniedAction(rt, r.Method)
	if action == "" {
		return
	}
	ae := apierr.From(err)
	if ae.Code != apierr.Denied || registry.QuotaRefused(err) {
		return
	}
	h.record(events.New(r.Context(), rt.repo, &events.AccessDenied{Action: action, Target: target(rt), Reason: ae.Message}))
}

// deniedAction names, in the audit log's words, what a request tried: ""
// for requests whose refusals are not recorded.
func deniedAction(rt route, method string) string {
	switch {
	case rt.kind == RouteManifest && (method == http.MethodGet || method == http.MethodHead):
		return "pull"
	case rt.kind == RouteManifest && method == http.MethodPut:
		return "push"
	case rt.kind == RouteManifest && method == http.MethodDelete:
		if strings.Contains(rt.arg, ":") {
			return "manifest.delete"
		}
		return "tag.delete"
	case rt.kind == RouteBlob && method == http.MethodDelete:
		return "blob.delete"
	}
	return ""
}

// target names what a manifest or blob request was about: repo:tag or
// repo@digest.
func target(rt route) string {
	if strings.Contains(rt.arg, ":") {
		return rt.repo + "@" + rt.arg
	}
	return rt.repo + ":" + rt.arg
}
