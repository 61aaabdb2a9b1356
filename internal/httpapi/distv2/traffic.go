package distv2

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/metrics"
	"github.com/wharf-dev/wharf/internal/oci"
)

// count records a pull (manifest GET or HEAD, blob GET) or a push
// (manifest PUT) in the traffic metrics, with the status it was answered
// and, for a blob, the bytes pulled. A request the client abandoned is
// not counted: nobody got an answer.
func (h *Handler) count(r *http.Request, rt route, err error, pulled int64, start time.Time) {
	var kind string
	switch {
	case rt.kind == RouteManifest && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		kind = metrics.PullManifest
	case rt.kind == RouteBlob && r.Method == http.MethodGet:
		kind = metrics.PullBlob
	case rt.kind == RouteManifest && r.Method == http.MethodPut:
	default:
		return
	}
	status := http.StatusOK
	if err != nil {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return
		}
		status = apierr.From(err).Code.Status
	}
	ns := oci.Namespace(rt.repo)
	if kind == "" {
		h.traffic.Push(ns, status)
		return
	}
	h.traffic.Pull(ns, kind, status, pulled, time.Since(start))
}
