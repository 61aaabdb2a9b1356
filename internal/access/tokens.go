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

// IssueToken signs a bearer token for p with grant g (as [Service.Grant]
// computed it), with the newest signing key.
func (s *Service) IssueToken(ctx context.Context, p auth.Principal, g TokenGrant) (string, auth.TokenClaims, error) {
	signer, _ := s.keys.current(ctx, false)
	return signer.IssueCreating(subjectOf(p), g.Access, g.Creates, s.now())
}

// IssueIdentityToken signs a bearer token that names p to the surface
// whose audience it carries, which judges p by its rights at each request
// (the Docker Hub API's login token); on /v2 it grants nothing. It lives
// as long as the tokens of the token flow.
func (s *Service) IssueIdentityToken(ctx context.Context, p auth.Principal, audience string) (string, error) {
	signer, _ := s.keys.current(ctx, false)
	tok, _, err := signer.IssueIdentity(subjectOf(p), audience, s.now())
	return tok, err
}

// NewRefreshToken creates an OAuth2 refresh token for user p and returns
// it; only its hash is stored. A client that holds one logs in with it
// instead of the password (the "identity token" docker login keeps).
// Tokens and robots get none: their access token already is what they
// would store.
func (s *Service) NewRefreshToken(ctx context.Context, p auth.Principal) (string, error) {
	if p.Kind != auth.KindUser {
		return "", fmt.Errorf("refresh tokens are issued to users, not to %s", p.Kind)
	}
	secret, hash, err := auth.NewRefreshToken()
	if err != nil {
		return "", err
	}
	idb := make([]byte, 12)
	if _, err := rand.Read(idb); err != nil {
		return "", fmt.Errorf("refresh token id: %w", err)
	}
	id := hex.EncodeToString(idb)
	now := s.now().UTC()
	t := meta.Token{
		ID:        "rt-" + id,
		Kind:      meta.TokenRefresh,
		Name:      "refresh-" + id,
		Owner:     p.Name,
		Hash:      hash,
		Scopes:    []byte("[]"),
		ExpiresAt: now.Add(s.opts.RefreshTokenTTL),
		CreatedAt: now,
	}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return "", fmt.Errorf("store refresh token: %w", err)
	}
	return secret, nil
}

// RefreshLogin authenticates with a refresh token: the user it was issued
// to, if the token is neither revoked nor expired and the user is enabled.
// Failures count against the client address, as failed passwords do.
func (s *Service) RefreshLogin(ctx context.Context, token string, client netip.Addr) (auth.Principal, error) {
	now := s.now()
	if lo, ok := s.limiter.Allow("", client, now); !ok {
		s.failed(FailLockedOut)
		return auth.Principal{}, &LockedError{RetryAfter: lo.RetryAfter, Scope: lo.Scope}
	}
	p, why, err := s.refreshPrincipal(ctx, token, now)
	if err != nil {
		return auth.Principal{}, err
	}
	if why.refused() {
		s.limiter.Fail("", client, now)
		s.record(ctx, events.Anonymous, clientString(client), &events.LoginFailed{Reason: why.detail})
		s.failed(why.reason)
		return auth.Principal{}, ErrUnauthenticated
	}
	s.record(ctx, p.String(), clientString(client), &events.LoginSucceeded{Method: "refresh token"})
	return p, nil
}

func (s *Service) refreshPrincipal(ctx context.Context, token string, now time.Time) (auth.Principal, refusal, error) {
	var p auth.Principal
	if !auth.IsRefreshToken(token) {
		return p, refuse(FailTokenInvalid, "malformed refresh token"), nil
	}
	t, err := s.store.TokenByHash(ctx, auth.HashSecret(token))
	if errors.Is(err, meta.ErrNotFound) {
		return p, refuse(FailTokenInvalid, "unknown refresh token"), nil
	}
	if err != nil {
		return p, refusal{}, fmt.Errorf("look up refresh token: %w", err)
	}
	switch {
	case t.Kind != meta.TokenRefresh:
		return p, refuse(FailTokenInvalid, "token %s is not a refresh token", t.ID), nil
	case !t.RevokedAt.IsZero():
		return p, refuse(FailTokenRevoked, "refresh token %s was revoked", t.ID), nil
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return p, refuse(FailTokenExpired, "refresh token %s expired", t.ID), nil
	}
	u, err := s.store.User(ctx, t.Owner)
	if errors.Is(err, meta.ErrNotFound) {
		return p, refuse(FailTokenInvalid, "owner of refresh token %s is gone", t.ID), nil
	}
	if err != nil {
		return p, refusal{}, fmt.Errorf("look up user: %w", err)
	}
	if u.Disabled {
		return p, refuse(FailDisabled, "owner of refresh token %s is disabled", t.ID), nil
	}
	s.touches.touch(ctx, s, t.ID, now)
	return auth.Principal{Kind: auth.KindUser, Name: u.Name, SystemAdmin: u.Admin, At: now}, refusal{}, nil
}
