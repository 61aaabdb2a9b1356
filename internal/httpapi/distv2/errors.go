package distv2

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
)

// retryAfterSeconds is the Retry-After of a 503: about what a store restart
// or failover takes, and short enough that a client that honours it is not
// kept waiting long after the store is back.
const retryAfterSeconds = "5"

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeError writes err as OCI error JSON with the status of its code. Errors
// that carry no code are logged with their cause and shown as UNKNOWN. A 503
// (a store unreachable) tells the client when to retry.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away; nobody is listening
	}
	e := apierr.From(err)
	var source *access.SourceUnavailableError
	switch {
	case e.Code == apierr.Unknown && errors.Is(err, meta.ErrUnavailable):
		// From the access service, which returns store errors as they are.
		e = &apierr.Error{Code: apierr.Unavailable, Message: "metadata store unavailable", Err: err}
	case e.Code == apierr.Unknown && errors.As(err, &source):
		// A sign-in the directory or provider could not answer: retry, the
		// credentials were not refused.
		e = &apierr.Error{Code: apierr.Unavailable, Message: "the " + source.Source + " is unavailable; try again", Err: err}
	}
	if e.Code.Status >= 500 {
		h.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	msg := e.Message
	if msg == "" {
		msg = e.Code.Message
	}
	body, _ := json.Marshal(errorBody{Errors: []errorEntry{{Code: e.Code.Name, Message: msg, Detail: e.Detail}}})
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	switch {
	case e.RetryAfter > 0:
		hdr.Set("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
	case e.Code.Status == http.StatusServiceUnavailable:
		hdr.Set("Retry-After", retryAfterSeconds)
	}
	setAuthHeaders(w, err)
	w.WriteHeader(e.Code.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
