package distv2

import (
	"net/http"
	"strings"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
)

// audit records a pull (manifest GET), push (manifest PUT) or delete
// (manifest or blob DELETE) in the audit log, whether it succeeded, was
// denied or failed. A 401 is not recorded: it is the first step of every
// Docker client's token flow, not an event; failed logins are recorded where
// they happen. A push or pull by tag records the manifest's digest as the
// detail, so the log says which image a tag named at the time.
func (h *Handler) audit(w http.ResponseWriter, r *http.Request, rt route, err error) {
	var action string
	switch {
	case rt.kind == RouteManifest && r.Method == http.MethodGet:
		action = "pull"
	case rt.kind == RouteManifest && r.Method == http.MethodPut:
		action = "push"
	case (rt.kind == RouteManifest || rt.kind == RouteBlob) && r.Method == http.MethodDelete:
		action = "delete"
	default:
		return
	}
	c, ok := callerOf(r.Context())
	if !ok {
		return
	}
	e := meta.AuditEvent{Actor: c.Principal.String(), Client: c.Client, Action: action, Target: target(rt), Result: "ok"}
	if err == nil && action != "delete" {
		e.Detail = w.Header().Get("Docker-Content-Digest")
	}
	if err != nil {
		ae := apierr.From(err)
		switch ae.Code {
		case apierr.Unauthorized:
			return
		case apierr.Denied:
			e.Result = "denied"
		default:
			e.Result = "failed"
		}
		e.Detail = ae.Code.Name
	}
	h.access.Audit(r.Context(), e)
}

// target names what a manifest or blob request was about: repo:tag or
// repo@digest.
func target(rt route) string {
	if strings.Contains(rt.arg, ":") {
		return rt.repo + "@" + rt.arg
	}
	return rt.repo + ":" + rt.arg
}
