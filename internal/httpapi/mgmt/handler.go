// Package mgmt serves the management API under /api/v1: users, namespaces
// and their members, personal access tokens and robot accounts, repositories
// and tags, the lifecycle rules, and the audit log, as JSON, with errors as
// RFC 9457 problem JSON. The routes are listed once, in [routes], and
// described in the OpenAPI document served at /api/v1/openapi.json; a test
// keeps the two equal.
//
// The handlers parse and format; who may do what to accounts and namespaces
// is decided by the access service (see package access, "Who may manage
// accounts"), whose refusals become problems here. Repositories and tags
// are listed to those who may pull them and deleted by those who may delete
// them, as on /v2. Without access control the caller is the local
// administrator, who manages namespaces, repositories and the lifecycle but
// no accounts.
package mgmt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/promotion"
	"github.com/wharf-dev/wharf/internal/proxy"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/replication"
	"github.com/wharf-dev/wharf/internal/scanner"
)

// Prefix is the path every management route starts with.
const Prefix = "/api/v1"

// Options configures the handler.
type Options struct {
	// Access manages users, namespaces, members, tokens and robots, and
	// records what is done (on a registry without access control, the one
	// access.NewLocal returns); nil turns every route but the OpenAPI
	// document off. The caller of each request comes from the
	// authentication middleware in front of the handler (mw.Authenticate,
	// with ResolveBearer, or LocalAdmin without access control).
	Access *access.Service
	// Registry lists and deletes repositories, tags and manifests.
	Registry *registry.Registry
	Logger   *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// CollectGarbage runs one garbage collection now (POST /gc); nil
	// answers that it is not available.
	CollectGarbage func(ctx context.Context, dryRun bool) (GCReport, error)
	// Replication manages replication rules and runs; nil answers that
	// replication is not available.
	Replication *replication.Service
	// Scanner serves the scanning endpoints; nil answers that scanning
	// is off.
	Scanner *scanner.Service
	// Promotion promotes images and keeps their records; nil answers
	// that promotion is not available.
	Promotion *promotion.Service
	// Network holds the network rules of namespaces; nil answers that
	// they need access control.
	Network *access.Network
	// Proxy sets and shows the upstreams of proxy namespaces; nil answers
	// that pull-through caches are not available.
	Proxy *proxy.Cache
	// Webhooks manages webhook subscriptions, and WebhookStore reads them
	// and their delivery logs; nil answers that webhooks are not
	// available.
	Webhooks     *events.Webhooks
	WebhookStore meta.Webhooks
	// Record writes the events of refused changes (access.denied,
	// request.failed) off the request path; nil drops them. Changes record
	// their events in their own transactions.
	Record func(events.Event)
}

// Handler serves /api/v1.
type Handler struct {
	opts Options
	acc  *access.Service
	log  *slog.Logger
	now  func() time.Time
}

// New returns the /api/v1 handler.
func New(opts Options) *Handler {
	h := &Handler{opts: opts, acc: opts.Access, log: opts.Logger, now: opts.Now}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// ServeHTTP routes a request, takes its caller from the authentication
// middleware (every route but the OpenAPI document needs one) and writes
// the route's answer or its problem.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, p, allowed := match(r.Method, r.URL.EscapedPath())
	if rt == nil {
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeProblem(w, r, apierr.New(apierr.MethodNotAllowed, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allowed, ", ")), h.log)
			return
		}
		writeProblem(w, r, apierr.New(apierr.RouteUnknown, "no endpoint %s", r.URL.Path), h.log)
		return
	}
	if rt.public {
		if err := rt.handler(h, w, r, access.Caller{}, p); err != nil {
			writeProblem(w, r, err, h.log)
		}
		return
	}
	if h.acc == nil {
		writeProblem(w, r, apierr.New(apierr.NotFound, "the management API is off: it needs authentication (auth.enabled)"), h.log)
		return
	}
	c, err := mw.Caller(r.Context())
	if err != nil {
		writeProblem(w, r, authError(err), h.log)
		return
	}
	if c.Principal.At.IsZero() {
		c.Principal.At = h.now()
	}
	if c.Principal.Anonymous() {
		writeProblem(w, r, apierr.New(apierr.Unauthorized, "the management API needs credentials"), h.log)
		return
	}
	r = r.WithContext(events.WithActor(r.Context(), events.Actor{Name: c.Principal.String(), Client: c.Client, Request: &events.Request{
		ID: w.Header().Get("X-Request-Id"), Method: r.Method, Host: r.Host, UserAgent: r.UserAgent(),
	}}))
	if err := rt.handler(h, w, r, c, p); err != nil {
		writeProblem(w, r, err, h.log)
	}
}

// authError translates a failed authentication: a lockout is 429 with
// Retry-After, a store outage 503, anything the caller sent 401.
func authError(err error) error {
	var locked *access.LockedError
	var refusal *access.Error
	var source *access.SourceUnavailableError
	switch {
	case errors.As(err, &refusal):
		return accessError(err) // the local administrator's refusal: DENIED, saying why
	case errors.As(err, &locked):
		return &RetryError{After: locked.RetryAfter, Err: apierr.New(apierr.TooManyRequests, "%s", locked.Error())}
	case errors.Is(err, meta.ErrUnavailable):
		return &apierr.Error{Code: apierr.Unavailable, Message: "metadata store unavailable", Err: err}
	case errors.As(err, &source):
		return &apierr.Error{Code: apierr.Unavailable, Message: "the " + source.Source + " is unavailable; try again", Err: err}
	case errors.Is(err, access.ErrUnauthenticated), errors.Is(err, access.ErrBearerInvalid), errors.Is(err, auth.ErrAuthorizationInvalid):
		return &apierr.Error{Code: apierr.Unauthorized, Message: "authentication failed", Err: err}
	}
	return &apierr.Error{Code: apierr.Unknown, Message: "internal error", Err: err}
}

// denied is the refusal of an authenticated caller.
func denied(format string, args ...any) error {
	return apierr.New(apierr.Denied, format, args...)
}

// invalid is a refusal of bad input.
func invalid(format string, args ...any) error {
	return apierr.New(apierr.RequestInvalid, format, args...)
}

// storeError translates an error of the access service or the store into
// a problem: the access service's refusals keep their words (403, 400, 404,
// 409); of the store, ErrNotFound and ErrConflict become 404 and 409 saying
// what, ErrUnavailable 503, anything else 500; nil stays nil.
func storeError(err error, what string) error {
	var refusal *access.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refusal):
		return apierr.New(refusalCodes[refusal.Kind], "%s", refusal.Message)
	case errors.Is(err, meta.ErrNotFound):
		return apierr.New(apierr.NotFound, "%s not found", what)
	case errors.Is(err, meta.ErrConflict):
		return apierr.New(apierr.Conflict, "%s exists already", what)
	case errors.Is(err, meta.ErrUnavailable):
		return &apierr.Error{Code: apierr.Unavailable, Message: "metadata store unavailable", Err: err}
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return ae
	}
	return &apierr.Error{Code: apierr.Unknown, Message: "internal error", Err: fmt.Errorf("%s: %w", what, err)}
}

// refusalCodes are the problems of the access service's refusals.
var refusalCodes = map[error]apierr.Code{
	access.ErrDenied:   apierr.Denied,
	access.ErrInvalid:  apierr.RequestInvalid,
	access.ErrNotFound: apierr.NotFound,
	access.ErrConflict: apierr.Conflict,
}

// accessError translates an error of the access service.
func accessError(err error) error { return storeError(err, "access") }

// maxBody bounds request bodies; an htpasswd import is the largest.
const maxBody = 4 << 20

// decode reads a JSON body into v, refusing unknown fields, trailing data
// and bodies over maxBody.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return apierr.New(apierr.TooLarge, "request body larger than %d bytes", maxBody)
		}
		return invalid("request body is not the JSON expected: %v", err)
	}
	if dec.More() {
		return invalid("request body holds more than one JSON value")
	}
	// null would decode to the zero value: a PUT of null would clear
	// network rules, gates or a key set the caller never meant to.
	if string(raw) == "null" {
		return invalid("request body is null, not the JSON object expected")
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		return invalid("request body is not the JSON expected: %v", err)
	}
	return nil
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// refused records a change that err refused, if it did: access.denied for
// a refusal of the caller's access (DENIED), request.failed for any other
// (bad input, a conflict, something not found). A change that is made
// records its event in its own transaction.
func (h *Handler) refused(r *http.Request, c access.Caller, action, target string, err error) {
	if err == nil || h.opts.Record == nil {
		return
	}
	ae := apierr.From(err)
	var data events.Data = &events.RequestFailed{Action: action, Target: target, Code: ae.Code.Name, Reason: ae.Message}
	if ae.Code == apierr.Denied {
		data = &events.AccessDenied{Action: action, Target: target, Reason: ae.Message}
	}
	h.opts.Record(events.New(r.Context(), "", data))
}
