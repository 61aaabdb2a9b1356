package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
)

// hubError is a refusal in Docker Hub's words: its status, its message,
// and what it was about (errinfo).
type hubError struct {
	status  int
	message string
	info    map[string]string
	header  http.Header // Retry-After, WWW-Authenticate, Allow
	err     error       // the cause, for the log of a 5xx
}

func (e *hubError) Error() string { return e.message }
func (e *hubError) Unwrap() error { return e.err }

// errorBody is Docker Hub's error body (its "error" schema): detail, which
// its authentication and login answers carry, and message and errinfo,
// which its repository answers carry. wharf writes all three, so a script
// that reads either finds the reason.
type errorBody struct {
	Detail  string            `json:"detail"`
	Message string            `json:"message"`
	ErrInfo map[string]string `json:"errinfo,omitempty"`
}

func notFound(message string, info map[string]string) error {
	return &hubError{status: http.StatusNotFound, message: message, info: info}
}

func badRequest(message string, info map[string]string) error {
	return &hubError{status: http.StatusBadRequest, message: message, info: info}
}

func forbidden(message string, info map[string]string) error {
	return &hubError{status: http.StatusForbidden, message: message, info: info}
}

// unauthorized is a 401. Docker Hub's challenge names the JWT scheme its
// login tokens are sent with.
func unauthorized(message string) error {
	return &hubError{status: http.StatusUnauthorized, message: message,
		header: http.Header{"Www-Authenticate": {`JWT realm="wharf"`}}}
}

func methodNotAllowed(_ http.ResponseWriter, r *http.Request, allow string) error {
	return &hubError{status: http.StatusMethodNotAllowed, message: fmt.Sprintf("method %s is not allowed here", r.Method),
		header: http.Header{"Allow": {allow}}}
}

// repoInfo is the errinfo of an answer about repository repo of namespace ns.
func repoInfo(ns, repo string) map[string]string {
	return map[string]string{"namespace": ns, "repository": repoName(ns, repo)}
}

// repoName is repo without its namespace, as Docker Hub names repositories.
func repoName(ns, repo string) string {
	if len(repo) > len(ns)+1 {
		return repo[len(ns)+1:]
	}
	return repo
}

// fromRegistry translates an error of the registry or access service.
func fromRegistry(err error, info map[string]string) error {
	var he *hubError
	if errors.As(err, &he) {
		return err
	}
	e := apierr.From(err)
	msg := e.Message
	if msg == "" {
		msg = e.Code.Message
	}
	switch e.Code {
	case apierr.NameUnknown, apierr.ManifestUnknown, apierr.NotFound:
		return notFound("object not found", info)
	case apierr.NameInvalid, apierr.TagInvalid, apierr.DigestInvalid, apierr.RequestInvalid:
		return badRequest(msg, info)
	case apierr.Denied:
		return forbidden(msg, info)
	case apierr.Unavailable:
		return &hubError{status: http.StatusServiceUnavailable, message: msg, header: http.Header{"Retry-After": {"5"}}, err: err}
	}
	if errors.Is(err, meta.ErrUnavailable) {
		return &hubError{status: http.StatusServiceUnavailable, message: "metadata store unavailable", header: http.Header{"Retry-After": {"5"}}, err: err}
	}
	return &hubError{status: http.StatusInternalServerError, message: "internal error", err: err}
}

// writeError writes err as Docker Hub's error body with its status. An
// error of no known kind is logged and shown as an internal error.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away
	}
	var he *hubError
	if !errors.As(err, &he) {
		he = fromRegistry(err, nil).(*hubError)
	}
	if he.status >= 500 {
		h.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	body, _ := json.Marshal(errorBody{
		Detail:  he.message,
		Message: "httperror " + strconv.Itoa(he.status) + ": " + he.message,
		ErrInfo: he.info,
	})
	hdr := w.Header()
	for k, v := range he.header {
		hdr[k] = v
	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(he.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// writeJSON writes v with status 200.
func writeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return nil
}
