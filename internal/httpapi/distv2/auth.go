package distv2

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/registry"
)

// callerOf is the caller the authentication middleware established, if it
// did: authenticated once, asked again for free.
func callerOf(ctx context.Context) (access.Caller, bool) {
	c, err := mw.Caller(ctx)
	return c, err == nil
}

// authError is a refusal that carries the WWW-Authenticate challenge or the
// Retry-After the client needs with it; writeError sets the headers.
type authError struct {
	err        *apierr.Error
	challenge  string
	retryAfter time.Duration
}

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

// needed returns the actions a request needs on its repository; none for
// the ping and the catalog, which need only a caller who authenticated. A
// route it does not know needs an action nobody holds, so a route added
// without a line here is closed rather than open.
func needed(rt route, method string) []auth.Action {
	pull := []auth.Action{auth.ActionPull}
	switch rt.kind {
	case RoutePing, RouteCatalog:
		return nil
	case RouteTags, RouteReferrers:
		return pull
	case RouteManifest:
		switch method {
		case http.MethodPut:
			return []auth.Action{auth.ActionPush}
		case http.MethodDelete:
			return []auth.Action{auth.ActionDelete}
		}
		return pull
	case RouteBlob:
		if method == http.MethodDelete {
			return []auth.Action{auth.ActionDelete}
		}
		return pull
	case RouteUpload:
		return []auth.Action{auth.ActionPush}
	}
	return []auth.Action{actionUnknown}
}

// actionUnknown is not an action any role or scope grants.
const actionUnknown auth.Action = "unknown-route"

// authenticate takes the caller of r from the authentication middleware and
// checks it may do what the route needs. It returns the request with the
// namespace its push creates in its context, if it does (see
// [Handler.claimNamespace]).
func (h *Handler) authenticate(r *http.Request, rt route) (*http.Request, error) {
	ctx := r.Context()
	c, err := mw.Caller(ctx)
	if err != nil {
		return r, h.authFailure(r, rt, err)
	}
	want := needed(rt, r.Method)
	if len(want) == 0 {
		if c.NoCredentials() {
			return r, h.unauthorized(r, rt, "", nil)
		}
		return r, nil
	}
	az, err := h.access.Authorize(ctx, c, rt.repo, want)
	if err != nil {
		return r, err
	}
	if !az.AllowsAll(want) {
		return r, h.denied(r, rt, c, want)
	}
	if err := h.network.Check(ctx, rt.repo, want, mw.ClientAddr(ctx)); err != nil {
		return r, networkRefusal(err)
	}
	if rt.kind == RouteManifest && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		r = r.WithContext(registry.WithPushCheck(r.Context(), func(ctx context.Context) bool { return h.mayPush(ctx, c, rt.repo) }))
	}
	if az.CreatesNamespace {
		r = r.WithContext(context.WithValue(r.Context(), claimKey{}, &claim{rt: rt}))
	}
	return r, nil
}

// networkRefusal is DENIED naming the network rule that refused.
func networkRefusal(err error) error {
	var ne *access.NetworkError
	if !errors.As(err, &ne) {
		return err
	}
	client := ""
	if ne.Client.IsValid() {
		client = ne.Client.String()
	}
	return apierr.New(apierr.Denied, "%s", ne.Error()).WithDetail(map[string]string{"rule": ne.Rule, "client": client})
}

// mayPush reports whether the caller of a pull may push to repo, which
// decides how an image policy treats the pull (see registry.WithPushCheck).
// A bearer token is judged by who holds it, not by its scopes: clients ask
// for a pull-only token to read the image they are about to sign. Asked
// only when a policy would refuse the pull; a failure to decide is a no,
// and so is a push the namespace's network rules would refuse from here.
func (h *Handler) mayPush(ctx context.Context, c access.Caller, repo string) bool {
	p, err := h.access.Resolve(ctx, c)
	if err != nil {
		return false
	}
	push := []auth.Action{auth.ActionPush}
	d, err := h.access.Decide(ctx, p, repo, push)
	if err != nil || !d.Allows(auth.ActionPush) {
		return false
	}
	return h.network.Check(ctx, repo, push, mw.ClientAddr(ctx)) == nil
}

// claimKey is the context key of the [claim] of a push that creates its
// repository's namespace.
type claimKey struct{}

// claim is a namespace a push creates, once.
type claim struct {
	rt   route
	done bool
}

// claimNamespace creates the namespace of the repository r pushes into
// when authorisation said the push creates it, and does nothing otherwise.
// The handlers call it right before their first write into the
// repository, so that a push refused, abandoned or found to have nothing
// to write creates nothing: authorising has no side effects, writing does.
func (h *Handler) claimNamespace(r *http.Request) error {
	cl, ok := r.Context().Value(claimKey{}).(*claim)
	if !ok || cl.done {
		return nil
	}
	cl.done = true
	return h.createNamespace(r, cl.rt)
}

// createNamespace creates the namespace of the route's repository, which
// the caller's push creates (see [access.Authorization]), before the push
// writes anything. When someone else created it meanwhile and the caller
// may not push into theirs, the push is refused as any other.
func (h *Handler) createNamespace(r *http.Request, rt route) error {
	c, _ := callerOf(r.Context())
	err := h.access.CreateNamespaceByPush(r.Context(), c, rt.repo)
	if errors.Is(err, access.ErrDenied) {
		return h.denied(r, rt, c, needed(rt, r.Method))
	}
	return err
}

// denied answers a caller that may not do what it asked. Someone who did not
// authenticate is asked to (401). A bearer token that lacks a scope its
// holder has is answered 401 insufficient_scope, so the client fetches a
// token with the scope; otherwise the answer is 403 DENIED, saying which
// action on which repository needs which role in which namespace, in terms
// the caller may see (see auth.Explain): a namespace private to others
// reads exactly like one that does not exist.
func (h *Handler) denied(r *http.Request, rt route, c access.Caller, want []auth.Action) error {
	ctx := r.Context()
	anonymous := func(code string) error {
		ref := auth.Explain(auth.Principal{Kind: auth.KindAnonymous}, auth.NamespaceView{}, rt.repo, want[0])
		return h.unauthorized(r, rt, code, apierr.New(apierr.Unauthorized, "%s", ref.Message).WithDetail(ref.Detail))
	}
	if c.NoCredentials() {
		return anonymous("")
	}
	p := c.Principal
	if c.Bearer != nil {
		var err error
		if p, err = h.access.Resolve(ctx, c); err != nil {
			return err
		}
		d, err := h.access.Decide(ctx, p, rt.repo, want)
		if err != nil {
			return err
		}
		if d.AllowsAll(want) {
			return h.unauthorized(r, rt, "insufficient_scope", apierr.New(apierr.Unauthorized,
				"the bearer token does not grant %s; ask the token endpoint for scope repository:%s:%s", auth.DescribeAction(want[0], rt.repo), rt.repo, joinActions(want)))
		}
		if p.Anonymous() {
			// Log in. The challenge says insufficient_scope, as the
			// reference registry's does: without it the Docker engine
			// takes the 401 for a transient failure and retries a push
			// five times over 50 seconds before it reports it.
			return anonymous("insufficient_scope")
		}
	}
	ref, err := h.access.Explain(ctx, p, rt.repo, want)
	if err != nil {
		return err
	}
	return apierr.New(apierr.Denied, "%s", ref.Message).WithDetail(ref.Detail)
}

// authFailure translates an authentication error.
func (h *Handler) authFailure(r *http.Request, rt route, err error) error {
	var locked *access.LockedError
	switch {
	case errors.As(err, &locked):
		return &authError{err: apierr.New(apierr.TooManyRequests, "%s", locked.Error()), retryAfter: locked.RetryAfter}
	case errors.Is(err, access.ErrBearerInvalid):
		msg := "invalid bearer token"
		if errors.Is(err, auth.ErrTokenExpired) {
			msg = "bearer token expired"
		}
		return h.unauthorized(r, rt, "invalid_token", apierr.New(apierr.Unauthorized, "%s", msg))
	case errors.Is(err, access.ErrUnauthenticated):
		return h.unauthorized(r, rt, "", apierr.New(apierr.Unauthorized, "invalid user name, password or token"))
	case errors.Is(err, auth.ErrAuthorizationInvalid):
		return h.unauthorized(r, rt, "", apierr.New(apierr.Unauthorized, "malformed Authorization header"))
	}
	return err
}

// unauthorized is a 401 with the Bearer challenge that sends the client to
// the token endpoint, asking for the scope the request needs.
func (h *Handler) unauthorized(r *http.Request, rt route, code string, e *apierr.Error) error {
	if e == nil {
		e = apierr.New(apierr.Unauthorized, "")
	}
	ch := auth.BearerChallenge{Realm: h.realm(r), Service: h.access.ServiceName(), Error: code}
	switch want := needed(rt, r.Method); {
	case rt.kind == RouteCatalog:
		ch.Scopes = []auth.ResourceScope{{Type: auth.TypeRegistry, Name: auth.CatalogResource, Actions: []auth.Action{auth.ActionAll}}}
	case len(want) > 0:
		if want[0] == auth.ActionPush {
			want = []auth.Action{auth.ActionPull, auth.ActionPush} // as Docker clients ask
		}
		ch.Scopes = []auth.ResourceScope{{Type: auth.TypeRepository, Name: rt.repo, Actions: want}}
	}
	return &authError{err: e, challenge: ch.String()}
}

// realm is the token endpoint's URL: the configured one, or /token on the
// host and scheme the client used (behind a TLS-terminating proxy, from
// X-Forwarded-Proto).
//
// A request naming the registry it mirrors (containerd's ns= parameter)
// passes it on, so that the token asked for is for the repositories the
// request is routed to (see [Router]).
func (h *Handler) realm(r *http.Request) string {
	realm := h.realmURL
	if realm == "" {
		scheme := "http"
		if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
			scheme = "https"
		}
		realm = scheme + "://" + r.Host + "/token"
	}
	if ns := r.URL.Query().Get("ns"); ns != "" && h.router != nil {
		sep := "?"
		if strings.Contains(realm, "?") {
			sep = "&"
		}
		realm += sep + url.Values{"ns": {ns}}.Encode()
	}
	return realm
}

func joinActions(as []auth.Action) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, ",")
}

func setAuthHeaders(w http.ResponseWriter, err error) {
	var ae *authError
	if !errors.As(err, &ae) {
		return
	}
	if ae.challenge != "" {
		w.Header().Set("WWW-Authenticate", ae.challenge)
	}
	if ae.retryAfter > 0 {
		secs := int64((ae.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
}
