package distv2

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
)

// maxTokenForm bounds a POST /token body: credentials and MaxResourceScopes
// scopes fit many times over.
const maxTokenForm = 64 << 10

// Token serves the token endpoint of the Docker token authentication flow:
//
//   - GET with optional Basic credentials (a password or an access token),
//     per the Docker token specification: service, scope (repeatable),
//     account, offline_token. Without credentials the token is anonymous
//     and grants pulls from public namespaces only.
//   - POST with an OAuth2 form, per the Docker OAuth2 specification:
//     grant_type=password (username, password) or refresh_token
//     (refresh_token), with service, scope and access_type=offline.
//
// The granted scope is the intersection of what was asked and what the
// caller may do; a resource the caller may not touch is granted with no
// actions, and the registry refuses the request later. Errors of the GET
// form are OCI error JSON, which Docker clients read; errors of the POST
// form are OAuth2 error JSON (RFC 6749, section 5.2).
func (h *Handler) Token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet:
		if err := h.tokenGet(w, r); err != nil {
			if errors.Is(err, access.ErrUnauthenticated) {
				w.Header().Set("WWW-Authenticate", auth.BasicChallenge(h.access.ServiceName()))
				err = apierr.New(apierr.Unauthorized, "invalid user name, password or token")
			}
			h.writeError(w, r, tokenError(err))
		}
	case http.MethodPost:
		if err := h.tokenPost(w, r); err != nil {
			h.writeOAuthError(w, r, tokenError(err))
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		h.writeError(w, r, methodNotAllowed(r))
	}
}

// tokenError turns a lockout into 429 with Retry-After.
func tokenError(err error) error {
	var locked *access.LockedError
	if errors.As(err, &locked) {
		return &authError{err: apierr.New(apierr.TooManyRequests, "%s", locked.Error()), retryAfter: locked.RetryAfter}
	}
	return err
}

func (h *Handler) tokenGet(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	if err := h.checkService(q.Get("service")); err != nil {
		return err
	}
	cr, err := mw.Credentials(ctx)
	if err != nil {
		return apierr.New(apierr.TokenRequestInvalid, "malformed Authorization header")
	}
	switch cr.Scheme {
	case auth.SchemeNone:
	case auth.SchemeBasic:
		if acct := q.Get("account"); acct != "" && acct != cr.Username {
			return apierr.New(apierr.TokenRequestInvalid, "account %q does not match the credentials", acct)
		}
	default:
		return apierr.New(apierr.TokenRequestInvalid, "the token endpoint takes Basic credentials")
	}
	c, err := mw.Caller(ctx)
	if err != nil {
		return err
	}
	resp, err := h.issue(r, c.Principal, q["scope"], q.Get("offline_token") == "true")
	if err != nil {
		return err
	}
	return writeJSON(w, r, http.StatusOK, "application/json", resp)
}

func (h *Handler) tokenPost(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
	if err := r.ParseForm(); err != nil {
		return oauthError{"invalid_request", "the body is not a form"}
	}
	f := r.PostForm
	if err := h.checkService(f.Get("service")); err != nil {
		return oauthError{"invalid_request", err.Error()}
	}
	var p auth.Principal
	var err error
	offline := false
	switch f.Get("grant_type") {
	case "password":
		if f.Get("username") == "" {
			return oauthError{"invalid_request", "username is required"}
		}
		p, err = h.access.Login(ctx, f.Get("username"), f.Get("password"), mw.ClientAddr(ctx))
		offline = f.Get("access_type") == "offline"
	case "refresh_token":
		p, err = h.access.RefreshLogin(ctx, f.Get("refresh_token"), mw.ClientAddr(ctx))
	case grantTokenExchange:
		// Workload identity (RFC 8693): a CI job's OIDC token for a bearer
		// token with the scopes its workload rule allows.
		switch f.Get("subject_token_type") {
		case tokenTypeJWT, tokenTypeIDToken:
		default:
			return oauthError{"invalid_request", "subject_token_type must be " + tokenTypeJWT + " or " + tokenTypeIDToken}
		}
		p, err = h.access.ExchangeWorkloadToken(ctx, f.Get("subject_token"), mw.ClientAddr(ctx))
	default:
		return oauthError{"unsupported_grant_type", "grant_type must be password, refresh_token or " + grantTokenExchange}
	}
	var sr *access.SourceRefusal
	if errors.As(err, &sr) && f.Get("grant_type") == grantTokenExchange {
		return oauthError{"invalid_grant", sr.Detail}
	}
	if errors.Is(err, access.ErrUnauthenticated) {
		return oauthError{"invalid_grant", "invalid credentials"}
	}
	if err != nil {
		return err
	}
	resp, err := h.issue(r, p, f["scope"], offline)
	if err != nil {
		if apierr.Is(err, apierr.TokenRequestInvalid) {
			return oauthError{"invalid_scope", apierr.From(err).Message}
		}
		return err
	}
	issuedType := ""
	if f.Get("grant_type") == grantTokenExchange {
		issuedType = tokenTypeAccess
	}
	return writeJSON(w, r, http.StatusOK, "application/json", oauthTokenResponse{
		IssuedTokenType: issuedType,
		AccessToken:     resp.AccessToken,
		TokenType:       "Bearer",
		ExpiresIn:       resp.ExpiresIn,
		IssuedAt:        resp.IssuedAt,
		Scope:           resp.scope,
		RefreshToken:    resp.RefreshToken,
	})
}

// tokenResponse is the answer of GET /token. token and access_token carry
// the same token, as the spec allows, for clients that read either.
type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token,omitempty"`
	scope        string
}

// The token exchange of workload identity (RFC 8693).
const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeJWT       = "urn:ietf:params:oauth:token-type:jwt"
	tokenTypeIDToken   = "urn:ietf:params:oauth:token-type:id_token"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
)

// oauthTokenResponse is the answer of POST /token.
type oauthTokenResponse struct {
	// IssuedTokenType is set in the answer of a token exchange.
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int    `json:"expires_in"`
	IssuedAt        string `json:"issued_at"`
	Scope           string `json:"scope"`
	RefreshToken    string `json:"refresh_token,omitempty"`
}

// issue grants p the scopes asked for, signs a token and, when asked for
// offline access by a user, creates a refresh token.
func (h *Handler) issue(r *http.Request, p auth.Principal, scopeParams []string, offline bool) (tokenResponse, error) {
	ctx := r.Context()
	scopes, err := auth.ParseResourceScopes(scopeParams...)
	if err != nil {
		return tokenResponse{}, apierr.Wrap(apierr.TokenRequestInvalid, err)
	}
	if err := h.routeScopes(r, scopes); err != nil {
		return tokenResponse{}, err
	}
	granted, err := h.access.Grant(ctx, p, scopes)
	if err != nil {
		return tokenResponse{}, err
	}
	tok, claims, err := h.access.IssueToken(ctx, p, granted)
	if err != nil {
		return tokenResponse{}, err
	}
	resp := tokenResponse{
		Token:       tok,
		AccessToken: tok,
		ExpiresIn:   int(claims.ExpiresAt.Sub(claims.IssuedAt) / time.Second),
		IssuedAt:    claims.IssuedAt.UTC().Format(time.RFC3339),
		scope:       auth.FormatResourceScopes(nonEmpty(granted.Access)),
	}
	if offline && p.Kind == auth.KindUser {
		if resp.RefreshToken, err = h.access.NewRefreshToken(ctx, p); err != nil {
			return tokenResponse{}, err
		}
	}
	return resp, nil
}

// routeScopes names, in each repository scope, the repository a request
// for it is routed to (see [Router]), so that a client of the registry as
// a mirror gets a token for what it will be served.
func (h *Handler) routeScopes(r *http.Request, scopes []auth.ResourceScope) error {
	if h.router == nil {
		return nil
	}
	ns := r.URL.Query().Get("ns")
	for i, s := range scopes {
		if s.Type != auth.TypeRepository {
			continue
		}
		read := len(s.Actions) > 0
		for _, a := range s.Actions {
			read = read && a == auth.ActionPull
		}
		routed, err := h.router.Route(r.Context(), s.Name, ns, read)
		if err != nil {
			return fmt.Errorf("route %s: %w", s.Name, err)
		}
		scopes[i].Name = routed
	}
	return nil
}

func nonEmpty(scopes []auth.ResourceScope) []auth.ResourceScope {
	var out []auth.ResourceScope
	for _, s := range scopes {
		if len(s.Actions) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// checkService refuses a token request for another service: the token
// would not be accepted there, nor here under another audience.
func (h *Handler) checkService(service string) error {
	if service != "" && service != h.access.ServiceName() {
		return apierr.New(apierr.TokenRequestInvalid, "this token service issues tokens for service %q, not %q", h.access.ServiceName(), service)
	}
	return nil
}

// oauthError is an OAuth2 error response of the POST form.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e oauthError) Error() string { return e.Code + ": " + e.Description }

// writeOAuthError writes err as OAuth2 error JSON: invalid_grant is 401
// (Docker clients then report bad credentials), a lockout 429 with
// Retry-After, other request errors 400, and anything else goes through
// the OCI error path's status and logging.
func (h *Handler) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	var oe oauthError
	status := http.StatusBadRequest
	switch {
	case errors.As(err, &oe):
		if oe.Code == "invalid_grant" {
			status = http.StatusUnauthorized
		}
	default:
		e := apierr.From(err)
		if e.Code.Status >= 500 {
			h.writeError(w, r, err)
			return
		}
		setAuthHeaders(w, err)
		status = e.Code.Status
		oe = oauthError{Code: "invalid_request", Description: e.Message}
		if status == http.StatusTooManyRequests {
			oe.Code = "slow_down"
		}
	}
	body, _ := json.Marshal(oe)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
