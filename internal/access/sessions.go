package access

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// Web sessions are the web UI's credentials: a browser that signed in
// (through the OIDC provider, or with a password) holds a cookie with a
// random secret, and the store keeps its hash, its user and its times, so
// any replica serves it and signing out ends it everywhere. A session ends
// SessionIdleTimeout after its last use, SessionMaxAge after it began, when
// its user signs out, or when its user is disabled or deleted (checked on
// every request).

// Defaults of web sessions.
const (
	DefaultSessionIdleTimeout = 30 * time.Minute
	DefaultSessionMaxAge      = 12 * time.Hour
	// sessionTouchEvery coalesces the writes of a session's last use.
	sessionTouchEvery = time.Minute
)

// ErrNoSession: the session cookie names no live session.
var ErrNoSession = fmt.Errorf("%w: no such session, or it ended", ErrUnauthenticated)

func (s *Service) sessionIdle() time.Duration {
	if d := s.opts.Identity.SessionIdleTimeout; d > 0 {
		return d
	}
	return DefaultSessionIdleTimeout
}

func (s *Service) sessionMaxAge() time.Duration {
	if d := s.opts.Identity.SessionMaxAge; d > 0 {
		return d
	}
	return DefaultSessionMaxAge
}

// StartWebSession begins a web session for user p, signed in by source
// from client, and returns the secret for its cookie (shown this once)
// and the session, whose CSRF token forms carry.
func (s *Service) StartWebSession(ctx context.Context, p auth.Principal, source string, client netip.Addr) (string, meta.WebSession, error) {
	if s.ids == nil {
		return "", meta.WebSession{}, errors.New("the metadata store keeps no web sessions")
	}
	if p.Kind != auth.KindUser {
		return "", meta.WebSession{}, fmt.Errorf("web sessions are for users, not %s", p.Kind)
	}
	secret, hash, err := auth.NewSessionSecret()
	if err != nil {
		return "", meta.WebSession{}, err
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", meta.WebSession{}, fmt.Errorf("session id: %w", err)
	}
	now := s.now().UTC()
	ws := meta.WebSession{
		Hash: hash, ID: "ws-" + hex.EncodeToString(b[:8]), User: p.Name, Source: source, CSRF: hex.EncodeToString(b[8:]),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.sessionMaxAge()),
	}
	if err := s.ids.CreateWebSession(ctx, ws); err != nil {
		return "", meta.WebSession{}, fmt.Errorf("start web session: %w", err)
	}
	s.record(ctx, p.String(), clientString(client), &events.SessionStarted{ID: ws.ID, User: ws.User, Source: source})
	return secret, ws, nil
}

// WebSessionCaller returns the caller a session cookie's secret stands
// for, and the session: ErrNoSession if it names none, or one that has
// ended (idle, too old, its user disabled or gone).
func (s *Service) WebSessionCaller(ctx context.Context, secret string, client netip.Addr) (Caller, meta.WebSession, error) {
	if s.ids == nil || !auth.IsSessionSecret(secret) {
		return Caller{}, meta.WebSession{}, ErrNoSession
	}
	hash := auth.HashSecret(secret)
	ws, err := s.ids.WebSession(ctx, hash)
	if errors.Is(err, meta.ErrNotFound) {
		return Caller{}, meta.WebSession{}, ErrNoSession
	}
	if err != nil {
		return Caller{}, meta.WebSession{}, fmt.Errorf("look up web session: %w", err)
	}
	now := s.now()
	if !now.Before(ws.ExpiresAt) || now.Sub(ws.LastSeenAt) >= s.sessionIdle() {
		_ = s.ids.DeleteWebSession(context.WithoutCancel(ctx), hash)
		return Caller{}, meta.WebSession{}, ErrNoSession
	}
	u, err := s.store.User(ctx, ws.User)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && u.Disabled) {
		_ = s.ids.DeleteWebSession(context.WithoutCancel(ctx), hash)
		return Caller{}, meta.WebSession{}, ErrNoSession
	}
	if err != nil {
		return Caller{}, meta.WebSession{}, fmt.Errorf("look up user: %w", err)
	}
	if now.Sub(ws.LastSeenAt) >= sessionTouchEvery {
		if err := s.ids.TouchWebSession(context.WithoutCancel(ctx), hash, now.UTC()); err != nil {
			s.log.DebugContext(ctx, "recording web session use failed", "session", ws.ID, "err", err)
		}
	}
	return Caller{
		Principal: auth.Principal{Kind: auth.KindUser, Name: u.Name, SystemAdmin: u.Admin, At: now},
		Scheme:    auth.SchemeSession,
		Client:    clientString(client),
	}, ws, nil
}

// SessionCaller is [Service.WebSessionCaller] without the session: the
// authentication edge's way in for the web UI.
func (s *Service) SessionCaller(ctx context.Context, secret string, client netip.Addr) (Caller, error) {
	c, _, err := s.WebSessionCaller(ctx, secret, client)
	return c, err
}

// EndWebSession signs a session out; a secret that names no session
// is not an error.
func (s *Service) EndWebSession(ctx context.Context, secret string, client netip.Addr) error {
	if s.ids == nil || !auth.IsSessionSecret(secret) {
		return nil
	}
	hash := auth.HashSecret(secret)
	ws, err := s.ids.WebSession(ctx, hash)
	if errors.Is(err, meta.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up web session: %w", err)
	}
	if err := s.ids.DeleteWebSession(ctx, hash); err != nil && !errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("end web session: %w", err)
	}
	s.record(ctx, "user:"+ws.User, clientString(client), &events.SessionEnded{ID: ws.ID, User: ws.User})
	return nil
}

// Logins in progress at an identity provider (a browser sent to it, a
// device waiting for its user) are kept in the store under the hash of
// their state, so that whichever replica gets the callback or the poll can
// finish them, each at most once.

// SaveLogin keeps data under state until ttl has passed.
func (s *Service) SaveLogin(ctx context.Context, state string, data []byte, ttl time.Duration) error {
	if s.ids == nil {
		return errors.New("the metadata store keeps no logins in progress")
	}
	return s.ids.PutLoginState(ctx, meta.LoginState{Hash: auth.HashSecret(state), Data: data, ExpiresAt: s.now().UTC().Add(ttl)})
}

// PeekLogin returns the data kept under state: ErrNoSession-like
// ErrLoginUnknown if there is none or it expired.
func (s *Service) PeekLogin(ctx context.Context, state string) ([]byte, error) {
	if s.ids == nil {
		return nil, ErrLoginUnknown
	}
	ls, err := s.ids.LoginState(ctx, auth.HashSecret(state))
	return s.liveLogin(ls, err)
}

// TakeLogin returns the data kept under state and forgets it, so a login
// finishes once.
func (s *Service) TakeLogin(ctx context.Context, state string) ([]byte, error) {
	if s.ids == nil {
		return nil, ErrLoginUnknown
	}
	ls, err := s.ids.TakeLoginState(ctx, auth.HashSecret(state))
	return s.liveLogin(ls, err)
}

func (s *Service) liveLogin(ls meta.LoginState, err error) ([]byte, error) {
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return nil, ErrLoginUnknown
	case err != nil:
		return nil, fmt.Errorf("look up login: %w", err)
	case !s.now().Before(ls.ExpiresAt):
		return nil, ErrLoginUnknown
	}
	return ls.Data, nil
}

// ErrLoginUnknown: no login in progress has this state: never begun,
// finished already, or expired.
var ErrLoginUnknown = errors.New("no sign-in in progress has this state: it expired, was used already, or was never begun")
