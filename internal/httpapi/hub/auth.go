package hub

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
)

// Audience is the "aud" that marks the tokens POST /v2/users/login issues,
// beside the registry's service. Such a token names its holder to this API,
// which judges the holder by its rights at each request, as Docker Hub
// does its login tokens; on /v2 it grants nothing (the Docker token flow
// issues those).
const Audience = "wharf-docker-hub-api"

// AcceptJWTScheme returns next with an Authorization header of Docker Hub's
// JWT scheme ("JWT <token>", what scripts written for Docker Hub send)
// rewritten to the Bearer scheme the authentication edge reads. Put it in
// front of that edge.
func AcceptJWTScheme(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Authorization"); len(v) > 4 && strings.EqualFold(v[:4], "JWT ") {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+strings.TrimLeft(v[4:], " "))
		}
		next.ServeHTTP(w, r)
	})
}

// authorize checks that the caller of r may pull repo (in namespace ns)
// and take the actions of also. A repository the caller may not pull does
// not exist for it (404, or 401 to a caller who sent no credentials); one
// it may pull but not change is 403, saying why.
func (h *Handler) authorize(r *http.Request, ns, repo string, also ...auth.Action) error {
	if h.access == nil {
		return nil
	}
	ctx := r.Context()
	c, err := mw.Caller(ctx)
	if err != nil {
		return authFailure(err)
	}
	want := append([]auth.Action{auth.ActionPull}, also...)
	login := isLoginToken(c)
	var p auth.Principal
	var d auth.Decision
	if login {
		if p, err = h.principal(ctx, c); err != nil {
			return err
		}
		d, err = h.access.Decide(ctx, p, repo, want)
	} else {
		var az access.Authorization
		az, err = h.access.Authorize(ctx, c, repo, want)
		d = az.Decision
	}
	if err != nil {
		return err
	}
	if d.AllowsAll(want) {
		// A read obeys the pull lists and a delete the push lists, as on
		// /v2: the tags and digests listed here are what a pull reads.
		err := h.network.Check(ctx, repo, want, mw.ClientAddr(ctx))
		var ne *access.NetworkError
		if errors.As(err, &ne) {
			return forbidden(ne.Error(), repoInfo(ns, repo))
		}
		return err
	}
	if c.NoCredentials() {
		return unauthorized("Authentication credentials were not provided.")
	}
	if !d.Allows(auth.ActionPull) {
		return notFound("object not found", repoInfo(ns, repo))
	}
	if c.Bearer != nil && !login {
		return forbidden("the bearer token does not grant "+auth.DescribeAction(also[0], repo)+
			"; log in with POST /v2/users/login, or send an access token or a password", repoInfo(ns, repo))
	}
	if !login {
		p = c.Principal
	}
	ref, err := h.access.Explain(ctx, p, repo, also)
	if err != nil {
		return err
	}
	return forbidden(ref.Message, repoInfo(ns, repo))
}

// isLoginToken reports whether c presented a token of POST /v2/users/login.
func isLoginToken(c access.Caller) bool {
	return c.Bearer != nil && slices.Contains(c.Bearer.Audience, Audience)
}

// principal is who the caller is, as the store has it now: for a bearer
// token, its subject (a login token whose account can no longer act,
// disabled, deleted or its token revoked, is refused); for anyone else,
// who the authentication edge established.
func (h *Handler) principal(ctx context.Context, c access.Caller) (auth.Principal, error) {
	p, err := h.access.Resolve(ctx, c)
	if err != nil {
		return p, err
	}
	if isLoginToken(c) && p.Anonymous() {
		return p, unauthorized("the account this token was issued to can no longer log in")
	}
	return p, nil
}

// authFailure translates an authentication error of the edge.
func authFailure(err error) error {
	var locked *access.LockedError
	switch {
	case errors.As(err, &locked):
		return &hubError{status: http.StatusTooManyRequests, message: locked.Error(),
			header: http.Header{"Retry-After": {strconv.FormatInt(int64((locked.RetryAfter+time.Second-1)/time.Second), 10)}}}
	case errors.Is(err, access.ErrBearerInvalid):
		if errors.Is(err, auth.ErrTokenExpired) {
			return unauthorized("Token has expired; log in again")
		}
		return unauthorized("Given token not valid")
	case errors.Is(err, access.ErrUnauthenticated):
		return unauthorized("Incorrect authentication credentials")
	case errors.Is(err, auth.ErrAuthorizationInvalid):
		return unauthorized("malformed Authorization header")
	}
	return err
}

// loginRequest is the body of POST /v2/users/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// loginResponse is its answer.
type loginResponse struct {
	Token string `json:"token"`
}

// maxLoginBody bounds the login body: a name and a password or access token.
const maxLoginBody = 64 << 10

// openRegistryToken is what login answers on a registry without access
// control, where every request is served without credentials: a script
// that logs in first still runs, and sends back a token nothing reads.
const openRegistryToken = "access-control-is-off"

// login checks a user name and a password (or an access token, or a
// robot's NAMESPACE+NAME and its token) and returns a token for this API,
// sent back as "Authorization: JWT <token>" or "Bearer <token>". Failed
// logins count against the user and the address as on /v2.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, r, "POST")
	}
	// Read the body as JSON whatever its Content-Type: curl -d sends
	// JSON as a form unless told otherwise.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxLoginBody+1))
	if err != nil {
		return badRequest("cannot read the request body: "+err.Error(), nil)
	}
	if len(body) > maxLoginBody {
		return badRequest("the request body is larger than 64 KiB", nil)
	}
	var req loginRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return badRequest(`the body must be JSON: {"username": "...", "password": "..."}`, nil)
	}
	var missing []string
	if req.Username == "" {
		missing = append(missing, "username")
	}
	if req.Password == "" {
		missing = append(missing, "password")
	}
	if len(missing) > 0 {
		return badRequest(strings.Join(missing, " and ")+" must be given", map[string]string{"fields": strings.Join(missing, ",")})
	}
	if h.access == nil {
		return writeJSON(w, r, loginResponse{Token: openRegistryToken})
	}
	ctx := r.Context()
	p, err := h.access.Login(ctx, req.Username, req.Password, mw.ClientAddr(ctx))
	if err != nil {
		return authFailure(err)
	}
	tok, err := h.access.IssueIdentityToken(ctx, p, Audience)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, r, loginResponse{Token: tok})
}
