package server

import (
	"errors"
	"net/http"
	"net/netip"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/meta"
)

// mgmtHandler is the management API. Without auth.enabled its caller is
// the local administrator, for requests made on this machine only
// (mgmt.LocalAdministrator), who manages namespaces, repositories and the
// lifecycle but not accounts. clientAddr is /v2's, so logins are limited
// and audited by the same address.
func (s *Server) mgmtHandler(clientAddr func(*http.Request) netip.Addr) http.Handler {
	opts := mgmt.Options{Registry: s.registry, Logger: s.log, BcryptCost: s.cfg.Auth.BcryptCost,
		MinPasswordLength: s.cfg.Auth.MinPasswordLength, CreateNamespaces: s.cfg.Auth.CreateNamespaces, ClientAddr: clientAddr, CollectGarbage: s.collectForAPI}
	if ma, ok := s.meta.(meta.Access); ok && s.access == nil {
		proxies, _ := s.cfg.HTTP.ProxyPrefixes() // validated
		opts.Access = ma
		opts.Authenticate = mgmt.LocalAdministrator(proxies)
		opts.Decide = mgmt.LocalDecide
	}
	if s.access != nil {
		opts.Access = s.meta.(meta.Access) // openAccess checked it
		opts.Authenticate = func(r *http.Request) (auth.Principal, error) {
			return s.mgmtAuthenticate(r, clientAddr(r))
		}
		opts.Decide = s.access.Decide
		opts.Keys = s.access
	}
	return mw.Wrap(mgmt.New(opts), mw.Options{
		Logger:  s.log,
		Metrics: s.metrics.HTTP,
		Route:   func(*http.Request) string { return "api" },
	})
}

// mgmtAuthenticate establishes the caller of a management request with the
// access service: Basic credentials (a password or an access token), a
// bearer token from /token, or an access token sent as the bearer token
// ("Authorization: Bearer wharf_..."), which is what the CLI sends.
func (s *Server) mgmtAuthenticate(r *http.Request, client netip.Addr) (auth.Principal, error) {
	ctx := r.Context()
	cr, err := auth.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return auth.Principal{}, err
	}
	if cr.Scheme == auth.SchemeBearer && auth.IsAccessToken(cr.Token) {
		// Login wants the name the token logs in as; an unknown token is
		// left for Login to refuse and count against the client address.
		name := ""
		if t, err := s.meta.(meta.Access).TokenByHash(ctx, auth.HashSecret(cr.Token)); err == nil {
			name = t.Owner
			if t.Kind == meta.TokenRobot {
				name = access.RobotName(t.Owner, t.Name)
			}
		}
		cr = auth.Credentials{Scheme: auth.SchemeBasic, Username: name, Password: cr.Token}
	}
	c, err := s.access.Authenticate(ctx, cr, client)
	var locked *access.LockedError
	switch {
	case errors.As(err, &locked):
		return auth.Principal{}, &mgmt.RetryError{After: locked.RetryAfter,
			Err: apierr.New(apierr.TooManyRequests, "%s", locked.Error())}
	case errors.Is(err, meta.ErrUnavailable):
		return auth.Principal{}, &apierr.Error{Code: apierr.Unavailable, Message: "metadata store unavailable", Err: err}
	case errors.Is(err, access.ErrUnauthenticated), errors.Is(err, access.ErrBearerInvalid):
		return auth.Principal{}, err // 401
	case err != nil:
		return auth.Principal{}, &apierr.Error{Code: apierr.Unknown, Message: "internal error", Err: err}
	}
	if c.Bearer != nil {
		// A bearer token carries a grant for /v2, not the caller's roles:
		// read who it names from the store.
		return s.access.Resolve(ctx, c)
	}
	return c.Principal, nil
}
