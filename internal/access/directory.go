package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// IdentityOptions configure company sign-in and the local accounts.
type IdentityOptions struct {
	// Store keeps external identities and web sessions; if nil, Access is
	// used when it implements meta.Identities.
	Store meta.Identities
	// LDAP checks the passwords of the users a directory keeps; nil for
	// none.
	LDAP PasswordSource
	// OIDC is the OpenID Connect provider users sign in with in a browser
	// (the sign-in itself is package oidc's; [Service.SignIn] provisions);
	// nil for none. The periodic check asks it about its users.
	OIDC IdentitySource
	// Workload verifies the OIDC tokens of CI jobs and maps them to
	// workload principals; nil for none.
	Workload WorkloadVerifier
	// LocalPasswordsOff refuses the passwords of local accounts (users no
	// source provisioned), except those of BreakGlass.
	LocalPasswordsOff bool
	// BreakGlass are local accounts whose passwords work even with
	// LocalPasswordsOff: the way in when the directory or provider is down.
	BreakGlass []string
	// DirectoryCacheTTL is how long a password the directory accepted is
	// accepted again without asking it (Docker clients send it with every
	// token request); zero asks every time.
	DirectoryCacheTTL time.Duration
	// SessionIdleTimeout ends a web session unused for this long;
	// SessionMaxAge ends it however busy. Defaults: 30 minutes, 12 hours.
	SessionIdleTimeout time.Duration
	SessionMaxAge      time.Duration
}

// secretLogin checks a user name and a secret that is not a bearer token:
// an access token, a CI job's OIDC token (workload identity), a directory
// password or a local password. source says which checked it.
func (s *Service) secretLogin(ctx context.Context, user, secret string, now time.Time) (p auth.Principal, why refusal, fresh bool, source string, err error) {
	switch {
	case auth.IsAccessToken(secret):
		p, why, fresh, err = s.tokenLogin(ctx, user, secret, now)
		return p, why, fresh, SourceLocal, err
	case s.opts.Identity.Workload != nil && looksLikeJWT(secret):
		p, why, fresh, err = s.workloadLogin(ctx, secret, now)
		return p, why, fresh, SourceWorkload, err
	}
	if secret == "" {
		// Never an unauthenticated bind, nor a look-up for nothing; the
		// same cost as any other refusal.
		_ = s.verifier.Verify("", secret)
		return p, refuse(FailWrongPassword, "empty password"), true, SourceLocal, nil
	}
	if s.opts.Identity.LDAP != nil {
		u, err := s.store.User(ctx, user)
		switch {
		case errors.Is(err, meta.ErrNotFound) || (err == nil && u.PasswordHash == ""):
			p, why, fresh, err = s.directoryLogin(ctx, user, secret, now)
			return p, why, fresh, SourceLDAP, err
		case err != nil:
			return p, why, false, SourceLocal, fmt.Errorf("look up user: %w", err)
		}
	}
	if s.opts.Identity.LocalPasswordsOff && !slices.Contains(s.opts.Identity.BreakGlass, user) {
		_ = s.verifier.Verify("", secret)
		return p, refuse(FailWrongPassword, "local passwords are off (auth.local.passwords) and %s is not a break-glass account", shortName(user)), true, SourceLocal, nil
	}
	p, why, fresh, err = s.passwordLogin(ctx, user, secret, now)
	return p, why, fresh, SourceLocal, err
}

// directoryLogin checks a password with the directory and provisions the
// user it vouches for. Every refusal costs one bcrypt comparison besides
// the directory's answer, as a local refusal does.
func (s *Service) directoryLogin(ctx context.Context, user, password string, now time.Time) (p auth.Principal, why refusal, fresh bool, err error) {
	dir := s.opts.Identity.LDAP
	if name, ok := s.directory.verified(user, password, now); ok {
		u, err := s.store.User(ctx, name)
		if err == nil && !u.Disabled {
			return auth.Principal{Kind: auth.KindUser, Name: u.Name, SystemAdmin: u.Admin, At: now}, refusal{}, false, nil
		}
		s.directory.forget(user, password)
	}
	id, err := dir.Authenticate(ctx, user, password)
	var sr *SourceRefusal
	if errors.As(err, &sr) {
		_ = s.verifier.Verify("", password)
		return p, refusal{reason: sr.Reason, detail: "source=ldap: " + sr.Detail}, true, nil
	}
	if err != nil {
		return p, why, false, err
	}
	p, err = s.provision(ctx, dir, id, false)
	var refused *Error
	if errors.As(err, &refused) {
		return p, refusal{reason: FailDisabled, detail: "source=ldap: " + refused.Message}, true, nil
	}
	if err != nil {
		return p, why, false, err
	}
	s.directory.remember(user, password, p.Name, now, s.opts.Identity.DirectoryCacheTTL)
	return p, refusal{}, true, nil
}

// directoryCache remembers for a while that the directory accepted a
// password, keyed, as passwordCache, by a hash of user and password. The
// account is still read from the store on every use, so disabling it
// takes effect at once.
type directoryCache struct {
	mu sync.Mutex
	m  map[string]directoryEntry
}

type directoryEntry struct {
	name  string // the wharf user it signed in as
	until time.Time
}

func (c *directoryCache) verified(user, password string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[passwordKey(user, password)]
	if !ok || !now.Before(e.until) {
		return "", false
	}
	return e.name, true
}

func (c *directoryCache) remember(user, password, name string, now time.Time, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxPasswordEntries {
		c.m = map[string]directoryEntry{}
	}
	c.m[passwordKey(user, password)] = directoryEntry{name: name, until: now.Add(ttl)}
}

func (c *directoryCache) forget(user, password string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, passwordKey(user, password))
}

// looksLikeJWT reports whether s has the shape of a compact JWS: three
// base64url parts, the first a JSON object. Access tokens, passwords and
// refresh tokens do not, in practice.
func looksLikeJWT(s string) bool {
	if len(s) < 20 || s[0] != 'e' || s[1] != 'y' { // "{" base64url-encoded starts "ey"
		return false
	}
	dots := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			dots++
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
