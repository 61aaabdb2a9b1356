package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// Caller is who made a request, as authentication established it.
type Caller struct {
	Principal auth.Principal
	// Bearer holds the claims of the bearer token the caller presented. When
	// set, the token alone says what the caller may do, as the Docker token
	// flow has it: the grant was decided when the token was issued.
	Bearer *auth.TokenClaims
	// Scheme is how the caller presented its credentials; SchemeNone when
	// it presented none.
	Scheme auth.Scheme
	// Client is the client's address, for the audit log.
	Client string
}

// Authenticate turns the credentials of one request into a Caller: none
// make an anonymous caller; Basic a user (password) or a token or robot
// (access token as the password); Bearer an access token alone (what the
// CLI sends) or whoever a signed bearer token names. Errors are
// ErrUnauthenticated, ErrBearerInvalid, a *LockedError, or a store failure.
func (s *Service) Authenticate(ctx context.Context, cr auth.Credentials, client netip.Addr) (Caller, error) {
	if s.local {
		return Caller{}, fmt.Errorf("%w: access control is off", ErrUnauthenticated)
	}
	c := Caller{Client: clientString(client), Scheme: cr.Scheme}
	switch cr.Scheme {
	case auth.SchemeNone:
		c.Principal = auth.Principal{Kind: auth.KindAnonymous, At: s.now()}
		return c, nil
	case auth.SchemeBasic:
		p, err := s.Login(ctx, cr.Username, cr.Password, client)
		if err != nil {
			return Caller{}, err
		}
		c.Principal = p
		return c, nil
	case auth.SchemeBearer:
		if auth.IsAccessToken(cr.Token) {
			p, err := s.Login(ctx, s.tokenLoginName(ctx, cr.Token), cr.Token, client)
			if err != nil {
				return Caller{}, err
			}
			c.Principal = p
			return c, nil
		}
		claims, err := s.keys.verify(ctx, cr.Token)
		if err != nil {
			s.failed(bearerFailure(err))
			return Caller{}, fmt.Errorf("%w: %w", ErrBearerInvalid, err)
		}
		c.Principal = subjectPrincipal(claims.Subject)
		c.Principal.At = s.now()
		c.Bearer = &claims
		return c, nil
	}
	return Caller{}, fmt.Errorf("%w: unsupported scheme", ErrUnauthenticated)
}

// tokenLoginName is the user name an access token logs in as: its owner, or
// a robot's NAMESPACE+NAME. An unknown token gets the empty name and is left
// for Login to refuse and count against the client address.
func (s *Service) tokenLoginName(ctx context.Context, secret string) string {
	t, err := s.store.TokenByHash(ctx, auth.HashSecret(secret))
	if err != nil {
		return ""
	}
	if t.Kind == meta.TokenRobot {
		return RobotName(t.Owner, t.Name)
	}
	return t.Owner
}

// NoCredentials reports whether c presented no credentials at all (an
// anonymous bearer token is a credential).
func (c Caller) NoCredentials() bool { return c.Scheme == auth.SchemeNone }

// Login checks a user name and a secret: the user's password, or an access
// token (a personal access token of that user, or a robot whose name is
// given as NAMESPACE+NAME). Failures are counted against the user from
// this client address, the user, and the address (see [auth.Limiter]);
// once one of them is locked out, Login answers *LockedError without
// looking at the secret.
func (s *Service) Login(ctx context.Context, user, secret string, client netip.Addr) (auth.Principal, error) {
	now := s.now()
	name := boundedName(user)
	if s.opts.Identity.Workload != nil && looksLikeJWT(secret) {
		// A CI token cannot be guessed, and its user name is anyone's: its
		// failures count against the address only, so that a flood of bad
		// tokens cannot lock every CI job out.
		name = ""
	}
	if lo, ok := s.limiter.Allow(name, client, now); !ok {
		s.record(ctx, "user:"+shortName(user), clientString(client), &events.LoginFailed{User: shortName(user), Locked: true,
			Reason: "locked out after failed logins (" + string(lo.Scope) + ")"})
		s.failed(FailLockedOut)
		return auth.Principal{}, &LockedError{RetryAfter: lo.RetryAfter, Scope: lo.Scope, User: shortName(user)}
	}
	p, why, fresh, source, err := s.secretLogin(ctx, user, secret, now)
	if err != nil {
		return auth.Principal{}, err
	}
	if why.refused() {
		s.limiter.Fail(name, client, now)
		s.record(ctx, "user:"+shortName(user), clientString(client), &events.LoginFailed{User: shortName(user), Source: source,
			Reason: strings.TrimPrefix(why.detail, "source="+source+": ")})
		s.failed(why.reason)
		if source == SourceWorkload {
			// Why a CI token was refused (an audience, a claim of a rule)
			// helps whoever sets the rules up, and tells a holder of a
			// valid token nothing it could not read in it.
			return auth.Principal{}, &SourceRefusal{Reason: why.reason, Detail: strings.TrimPrefix(why.detail, "source=workload: ")}
		}
		return auth.Principal{}, ErrUnauthenticated
	}
	s.limiter.Succeed(name, client)
	if fresh {
		method := "password"
		if auth.IsAccessToken(secret) {
			method = "token"
		}
		s.signedIn(ctx, source, method, p, clientString(client))
	}
	return p, nil
}

// passwordLogin checks a password. why explains a refusal (for the audit
// log); fresh says bcrypt ran, rather than the cache answering.
func (s *Service) passwordLogin(ctx context.Context, name, password string, now time.Time) (p auth.Principal, why refusal, fresh bool, err error) {
	// Every refusal costs one bcrypt comparison at auth.bcryptCost (see
	// auth.PasswordVerifier), so that its time does not tell which names
	// exist or have a password.
	u, err := s.store.User(ctx, name)
	if errors.Is(err, meta.ErrNotFound) {
		_ = s.verifier.Verify("", password)
		return p, refuse(FailUnknownUser, "no such user"), true, nil
	}
	if err != nil {
		return p, refusal{}, false, fmt.Errorf("look up user: %w", err)
	}
	if u.PasswordHash == "" {
		_ = s.verifier.Verify("", password)
		return p, refuse(FailWrongPassword, "account has no password"), true, nil
	}
	if !s.passwords.verified(name, password, u.PasswordHash, now) {
		if err := s.passwords.check(name, password, u.PasswordHash, now, s.verifier.Verify); err != nil {
			if errors.Is(err, auth.ErrPasswordMismatch) {
				return p, refuse(FailWrongPassword, "wrong password"), true, nil
			}
			return p, refusal{}, false, err
		}
		fresh = true
	}
	if u.Disabled {
		return p, refuse(FailDisabled, "account disabled"), fresh, nil
	}
	return auth.Principal{Kind: auth.KindUser, Name: u.Name, SystemAdmin: u.Admin, At: now}, refusal{}, fresh, nil
}

// tokenLogin checks an access token presented as a password.
func (s *Service) tokenLogin(ctx context.Context, user, secret string, now time.Time) (p auth.Principal, why refusal, fresh bool, err error) {
	t, err := s.store.TokenByHash(ctx, auth.HashSecret(secret))
	if errors.Is(err, meta.ErrNotFound) {
		return p, refuse(FailTokenInvalid, "unknown access token"), false, nil
	}
	if err != nil {
		return p, refusal{}, false, fmt.Errorf("look up token: %w", err)
	}
	switch t.Kind {
	case meta.TokenPersonal:
		if user != t.Owner {
			return p, refuse(FailTokenInvalid, "token %s belongs to another user", t.ID), false, nil
		}
	case meta.TokenRobot:
		if user != RobotName(t.Owner, t.Name) {
			return p, refuse(FailTokenInvalid, "robot token %s is %s", t.ID, RobotName(t.Owner, t.Name)), false, nil
		}
	default:
		return p, refuse(FailTokenInvalid, "token %s is a %s token", t.ID, t.Kind), false, nil
	}
	p, why, err = s.tokenPrincipal(ctx, t, now)
	if err != nil || why.refused() {
		return p, why, false, err
	}
	return p, refusal{}, s.touches.touch(ctx, s, t.ID, now), nil
}

// tokenPrincipal returns the principal of a personal access token or robot,
// or why it may not act: revoked, expired, or its owner disabled.
func (s *Service) tokenPrincipal(ctx context.Context, t meta.Token, now time.Time) (p auth.Principal, why refusal, err error) {
	switch {
	case !t.RevokedAt.IsZero():
		return p, refuse(FailTokenRevoked, "token %s was revoked", t.ID), nil
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return p, refuse(FailTokenExpired, "token %s expired", t.ID), nil
	}
	var scopes auth.ScopeSet
	if len(t.Scopes) > 0 {
		if err := json.Unmarshal(t.Scopes, &scopes); err != nil {
			return p, refuse(FailTokenInvalid, "token %s has unreadable scopes", t.ID), nil
		}
	}
	switch t.Kind {
	case meta.TokenPersonal:
		u, err := s.store.User(ctx, t.Owner)
		if errors.Is(err, meta.ErrNotFound) {
			return p, refuse(FailTokenInvalid, "owner of token %s is gone", t.ID), nil
		}
		if err != nil {
			return p, refusal{}, fmt.Errorf("look up user: %w", err)
		}
		if u.Disabled {
			return p, refuse(FailDisabled, "owner of token %s is disabled", t.ID), nil
		}
		return auth.Principal{Kind: auth.KindToken, Name: t.ID, Owner: u.Name, SystemAdmin: u.Admin, Scopes: scopes, At: now}, refusal{}, nil
	case meta.TokenRobot:
		return auth.Principal{Kind: auth.KindRobot, Name: RobotName(t.Owner, t.Name), Owner: t.Owner, Scopes: scopes, At: now}, refusal{}, nil
	}
	return p, refuse(FailTokenInvalid, "token %s is a %s token", t.ID, t.Kind), nil
}

// maxNameKey bounds the user names the limiter and the audit log keep as
// given. The Authorization header may be 80 KiB, and an attacker trying
// many long names must not fill memory or the audit table with them.
const maxNameKey = 128

// boundedName is name, or a hash of it when it is too long to be a user name.
func boundedName(name string) string {
	if len(name) <= maxNameKey {
		return name
	}
	return "sha256:" + auth.HashSecret(name)
}

// shortName is name cut to maxNameKey bytes, for the audit log.
func shortName(name string) string {
	if len(name) <= maxNameKey {
		return name
	}
	return strings.ToValidUTF8(name[:maxNameKey], "") + "..."
}

// RobotName is the user name a robot logs in with: its namespace, a plus
// sign, and its name, as in "ci+builder".
func RobotName(namespace, name string) string { return namespace + "+" + name }

// subjectPrincipal reads the principal a bearer token's subject names (see
// [subjectOf]). Only kind and name are known without the store.
func subjectPrincipal(sub string) auth.Principal {
	kind, name, ok := strings.Cut(sub, ":")
	if !ok || name == "" {
		return auth.Principal{Kind: auth.KindAnonymous}
	}
	switch k := auth.PrincipalKind(kind); k {
	case auth.KindUser, auth.KindToken, auth.KindRobot, auth.KindWorkload:
		p := auth.Principal{Kind: k, Name: name}
		if k == auth.KindRobot || k == auth.KindWorkload {
			p.Owner, _, _ = strings.Cut(name, "+")
		}
		return p
	}
	return auth.Principal{Kind: auth.KindAnonymous}
}

// subjectOf is the "sub" of a token issued to p: "user:alice",
// "token:<id>", "robot:ci+builder", or empty for anonymous.
func subjectOf(p auth.Principal) string {
	if p.Anonymous() {
		return ""
	}
	return p.String()
}

// Resolve returns the full principal a bearer token names, read from the
// store now: the user's admin flag, the token's scopes. A principal that may
// no longer act (disabled, revoked, gone) resolves to anonymous. /v2 uses it
// where the token's own grant does not answer: to filter the catalog, and
// to tell a token that lacks a scope its holder has (401, ask for a new
// token) from one whose holder lacks it (403).
func (s *Service) Resolve(ctx context.Context, c Caller) (auth.Principal, error) {
	if c.Bearer == nil {
		return c.Principal, nil
	}
	now := s.now()
	anon := auth.Principal{Kind: auth.KindAnonymous, At: now}
	p := c.Principal
	switch p.Kind {
	case auth.KindUser:
		u, err := s.store.User(ctx, p.Name)
		if errors.Is(err, meta.ErrNotFound) {
			return anon, nil
		}
		if err != nil {
			return anon, fmt.Errorf("look up user: %w", err)
		}
		if u.Disabled {
			return anon, nil
		}
		return auth.Principal{Kind: auth.KindUser, Name: u.Name, SystemAdmin: u.Admin, At: now}, nil
	case auth.KindToken:
		t, err := s.store.Token(ctx, p.Name)
		return s.resolveToken(ctx, t, err, now)
	case auth.KindWorkload:
		return s.resolveWorkload(p.Name, now), nil
	case auth.KindRobot:
		ts, err := s.store.Tokens(ctx, meta.TokenRobot, p.Owner)
		if err != nil {
			return anon, fmt.Errorf("look up robot: %w", err)
		}
		for _, t := range ts {
			if RobotName(t.Owner, t.Name) == p.Name {
				return s.resolveToken(ctx, t, nil, now)
			}
		}
	}
	return anon, nil
}

func (s *Service) resolveToken(ctx context.Context, t meta.Token, err error, now time.Time) (auth.Principal, error) {
	anon := auth.Principal{Kind: auth.KindAnonymous, At: now}
	if errors.Is(err, meta.ErrNotFound) {
		return anon, nil
	}
	if err != nil {
		return anon, fmt.Errorf("look up token: %w", err)
	}
	p, why, err := s.tokenPrincipal(ctx, t, now)
	if err != nil || why.refused() {
		return anon, err
	}
	return p, nil
}

func clientString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.Unmap().String()
}
