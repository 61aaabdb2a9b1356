// Package mgmt serves the management API under /api/v1: users, namespaces
// and their members, personal access tokens and robot accounts, repositories
// and tags, and the audit log, as JSON, with errors as RFC 9457 problem JSON.
// The routes are listed once, in [routes], and described in the OpenAPI
// document served at /api/v1/openapi.json; a test keeps the two equal.
//
// Who may do what:
//   - A system administrator may do everything.
//   - A namespace's admins (the role that grants [auth.ActionManage]) manage
//     its members, robots and visibility.
//   - Every user manages their own password and personal access tokens.
//   - Repositories and tags are listed to those who may pull them and
//     deleted by those who may delete them, as on /v2.
//
// A personal access token acts for its owner only as far as its scopes
// reach. Account-wide power (its owner's password, tokens, and, for an
// administrator, the whole registry) needs a token that may manage every
// repository ("*:*" or "*:manage"); a token scoped to "team-a/*:manage"
// manages namespace team-a and nothing else. Robots manage nothing.
package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/registry"
)

// Prefix is the path every management route starts with.
const Prefix = "/api/v1"

// Options configures the handler.
type Options struct {
	// Access stores users, namespaces, members, tokens and the audit log.
	Access meta.Access
	// Registry lists and deletes repositories, tags and manifests.
	Registry *registry.Registry
	// Authenticate establishes who made a request; nil turns every route
	// but the OpenAPI document off. An error refuses it: an *apierr.Error
	// as it is (403, 429, 503, 500), any other error as 401.
	// A request without credentials should give the anonymous principal.
	// Without access control it is [LocalAdministrator].
	Authenticate func(*http.Request) (auth.Principal, error)
	// Decide returns which of want p may take on repo, from the namespace's
	// visibility and p's role in it. The namespace as a whole is asked for
	// as the repository "NAMESPACE/*", which only scopes covering every
	// repository of the namespace match.
	Decide func(ctx context.Context, p auth.Principal, repo string, want []auth.Action) (auth.Decision, error)
	// CreateNamespaces lets any user create namespaces (and become their
	// admin); otherwise only system administrators may.
	CreateNamespaces bool
	// ClientAddr is the address a request came from (through trusted
	// proxies), for the audit log; the connection's peer if nil.
	ClientAddr func(*http.Request) netip.Addr
	// BcryptCost hashes new passwords; auth.DefaultBcryptCost if zero.
	BcryptCost int
	// MinPasswordLength is the fewest characters of a new password;
	// auth.DefaultMinPasswordLength if zero.
	MinPasswordLength int
	Logger            *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// CollectGarbage runs one garbage collection now (POST /gc); nil
	// answers that it is not available.
	CollectGarbage func(ctx context.Context, dryRun bool) (GCReport, error)
	// Keys rotates and retires the token signing keys (POST /keys/...);
	// nil answers that it is not available.
	Keys KeyManager
}

// Handler serves /api/v1.
type Handler struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
}

// New returns the /api/v1 handler.
func New(opts Options) *Handler {
	h := &Handler{opts: opts, log: opts.Logger, now: opts.Now}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// caller is who made a request and from where.
type caller struct {
	auth.Principal
	client string
}

// account is the user a caller acts for: a user, or a personal access
// token's owner; empty for robots and anonymous callers.
func (c caller) account() string {
	switch c.Kind {
	case auth.KindUser:
		return c.Name
	case auth.KindToken:
		return c.Owner
	}
	return ""
}

// wholeAccount reports whether c may act as its whole account: a user, or a
// token that may manage every repository.
func (c caller) wholeAccount() bool {
	switch c.Kind {
	case auth.KindUser, KindLocal:
		return true
	case auth.KindToken:
		return c.Scopes.Allows("*", auth.ActionManage, c.At)
	}
	return false
}

// systemAdmin reports whether c may administer the whole registry.
func (c caller) systemAdmin() bool { return c.SystemAdmin && c.wholeAccount() }

// self reports whether c may manage the account of user name.
func (c caller) self(name string) bool { return c.wholeAccount() && c.account() == name }

// ServeHTTP routes a request, authenticates its caller (every route but the
// OpenAPI document needs one) and writes the route's answer or its problem.
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
		if err := rt.handler(h, w, r, caller{}, p); err != nil {
			writeProblem(w, r, err, h.log)
		}
		return
	}
	if h.opts.Authenticate == nil {
		writeProblem(w, r, apierr.New(apierr.NotFound, "the management API is off: it needs authentication (auth.enabled)"), h.log)
		return
	}
	pr, err := h.opts.Authenticate(r)
	if err != nil {
		var ae *apierr.Error
		if !errors.As(err, &ae) {
			err = &apierr.Error{Code: apierr.Unauthorized, Message: "authentication failed", Err: err}
		}
		writeProblem(w, r, err, h.log)
		return
	}
	if pr.At.IsZero() {
		pr.At = h.now()
	}
	c := caller{Principal: pr, client: h.clientAddr(r)}
	if pr.Anonymous() {
		writeProblem(w, r, apierr.New(apierr.Unauthorized, "the management API needs credentials"), h.log)
		return
	}
	if pr.Kind == KindLocal && rt.accounts {
		writeProblem(w, r, apierr.New(apierr.Denied, "users, members, tokens, robots and signing keys need access control: turn auth.enabled on (WHARF_AUTH_ENABLED=true) to manage them"), h.log)
		return
	}
	if err := rt.handler(h, w, r, c, p); err != nil {
		writeProblem(w, r, err, h.log)
	}
}

func (h *Handler) clientAddr(r *http.Request) string {
	if h.opts.ClientAddr != nil {
		if a := h.opts.ClientAddr(r); a.IsValid() {
			return a.Unmap().String()
		}
		return ""
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// denied is the refusal of an authenticated caller.
func denied(format string, args ...any) error {
	return apierr.New(apierr.Denied, format, args...)
}

// invalid is a refusal of bad input.
func invalid(format string, args ...any) error {
	return apierr.New(apierr.RequestInvalid, format, args...)
}

// storeError translates a store error: ErrNotFound and ErrConflict become
// 404 and 409 saying what, ErrUnavailable 503, anything else 500; nil stays
// nil.
func storeError(err error, what string) error {
	switch {
	case err == nil:
		return nil
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

// maxBody bounds request bodies; an htpasswd import is the largest.
const maxBody = 4 << 20

// decode reads a JSON body into v, refusing unknown fields, trailing data
// and bodies over maxBody.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return apierr.New(apierr.TooLarge, "request body larger than %d bytes", maxBody)
		}
		return invalid("request body is not the JSON expected: %v", err)
	}
	if dec.More() {
		return invalid("request body holds more than one JSON value")
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

// audit records a change, or an attempt at one: result follows err.
func (h *Handler) audit(r *http.Request, c caller, action, target, detail string, err error) {
	result := "ok"
	if err != nil {
		result = "failed"
		if apierr.Is(err, apierr.Denied) {
			result = "denied"
		}
		if detail == "" {
			detail = apierr.From(err).Message
		}
	}
	e := meta.AuditEvent{
		At: h.now().UTC(), Actor: c.String(), Client: c.client,
		Action: action, Target: target, Result: result, Detail: detail,
	}
	// The change is made; a failed audit write must not report it as failed.
	if aerr := h.opts.Access.AppendAudit(context.WithoutCancel(r.Context()), e); aerr != nil {
		h.log.WarnContext(r.Context(), "audit event not recorded", "action", action, "target", target, "err", aerr)
	}
}
