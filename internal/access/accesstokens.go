package access

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// TokenCreate is a new personal access token or robot account.
type TokenCreate struct {
	// Name is chosen by the owner, unique among its tokens (or the
	// namespace's robots).
	Name string
	// Scopes are "PATTERN:ACTION[,ACTION]", e.g. "ci/*:pull,push"; at least
	// one. A robot's stay inside its namespace.
	Scopes []string
	// ExpiresAt, or ExpiresIn from now, is when it stops working; neither
	// means never.
	ExpiresAt time.Time
	ExpiresIn time.Duration
}

// parse checks in against the token rules and returns its scopes and
// expiry. within, if set, is the namespace every scope must stay inside.
func (in TokenCreate) parse(now time.Time, within string) (auth.ScopeSet, time.Time, error) {
	if !tokenNameRE.MatchString(in.Name) {
		return nil, time.Time{}, invalid("name %q is invalid: 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", truncate(in.Name))
	}
	if len(in.Scopes) == 0 {
		return nil, time.Time{}, invalid("a token needs at least one scope, such as ci/*:pull,push")
	}
	var ss auth.ScopeSet
	for _, s := range in.Scopes {
		sc, err := auth.ParseScope(s)
		if err != nil {
			return nil, time.Time{}, invalid("%v", err)
		}
		if within != "" && !oci.InNamespace(sc.Pattern, within) {
			return nil, time.Time{}, invalid("scope %q reaches outside namespace %s; a robot acts only in its namespace", truncate(s), within)
		}
		ss = append(ss, sc)
	}
	exp := in.ExpiresAt
	if in.ExpiresIn != 0 {
		if !exp.IsZero() {
			return nil, time.Time{}, invalid("give expiresAt or expiresIn, not both")
		}
		if in.ExpiresIn < 0 {
			return nil, time.Time{}, invalid("expiresIn %s is not a positive duration such as 720h", in.ExpiresIn)
		}
		exp = now.Add(in.ExpiresIn)
	}
	if !exp.IsZero() && !exp.After(now) {
		return nil, time.Time{}, invalid("expiry %s is in the past", exp.Format(time.RFC3339))
	}
	return ss, exp, nil
}

// newToken makes a token of kind for owner from in, and its secret; only
// the hash of the secret is kept.
func (s *Service) newToken(kind, owner string, in TokenCreate, ss auth.ScopeSet, exp time.Time) (meta.Token, string, error) {
	secret, hash, err := auth.NewAccessToken()
	if err != nil {
		return meta.Token{}, "", err
	}
	var idb [8]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return meta.Token{}, "", fmt.Errorf("token id: %w", err)
	}
	scopes, err := json.Marshal(ss)
	if err != nil {
		return meta.Token{}, "", err
	}
	return meta.Token{
		ID: kind[:1] + "-" + hex.EncodeToString(idb[:]), Kind: kind, Name: in.Name, Owner: owner,
		Hash: hash, Scopes: scopes, ExpiresAt: exp, CreatedAt: s.now().UTC(),
	}, secret, nil
}

// createToken stores t as the change ch, with its scopes.
func (s *Service) createToken(ctx context.Context, ch *change, t meta.Token, scopes []string) error {
	var data events.Data = &events.TokenCreated{ID: t.ID, Name: t.Name, Owner: t.Owner, Scopes: scopes, ExpiresAt: t.ExpiresAt}
	if t.Kind == meta.TokenRobot {
		data = &events.RobotCreated{ID: t.ID, Name: RobotName(t.Owner, t.Name), Scopes: scopes, ExpiresAt: t.ExpiresAt}
	}
	return s.update(ctx, func(tx meta.AccessTx) error {
		if err := tx.CreateToken(ctx, t); err != nil {
			return storeError(err, "token "+t.Name)
		}
		return ch.record(ctx, tx, data)
	})
}

// revokeToken revokes token id as the change ch if it is owned by owner
// and of one of kinds; otherwise it is not found, so no one learns of
// tokens they may not manage.
func (s *Service) revokeToken(ctx context.Context, ch *change, owner, id string, kinds ...string) error {
	return s.update(ctx, func(tx meta.AccessTx) error {
		t, err := tx.Token(ctx, id)
		if err != nil {
			return storeError(err, "token "+id)
		}
		if !slices.Contains(kinds, t.Kind) || t.Owner != owner {
			return notFound("token %s not found", id)
		}
		if err := tx.RevokeToken(ctx, id, s.now().UTC()); err != nil {
			return storeError(err, "token "+id)
		}
		var data events.Data = &events.TokenRevoked{ID: id, Name: t.Name, Owner: t.Owner}
		if t.Kind == meta.TokenRobot {
			data = &events.RobotRevoked{ID: id, Name: RobotName(t.Owner, t.Name)}
		}
		return ch.record(ctx, tx, data)
	})
}

// mayManageUserTokens checks that c may manage the tokens of user name.
func mayManageUserTokens(c Caller, name string) error {
	if c.SystemAdmin() || c.self(name) {
		return nil
	}
	return denied("managing the tokens of %s needs the user (or a token that may manage everything) or a system administrator", name)
}

// PersonalTokens lists the tokens of kind (meta.TokenPersonal, or
// meta.TokenRefresh: the sessions of docker login and other OAuth2
// clients) of user, sorted by name: for the user or a system
// administrator.
func (s *Service) PersonalTokens(ctx context.Context, c Caller, user, kind string) ([]meta.Token, error) {
	if err := s.accounts(); err != nil {
		return nil, err
	}
	if err := mayManageUserTokens(c, user); err != nil {
		return nil, err
	}
	if kind != meta.TokenPersonal && kind != meta.TokenRefresh {
		return nil, invalid("kind must be personal or refresh, got %q", truncate(kind))
	}
	if _, err := s.store.User(ctx, user); err != nil {
		return nil, storeError(err, "user "+user)
	}
	ts, err := s.store.Tokens(ctx, kind, user)
	return ts, storeError(err, "tokens of "+user)
}

// CreatePersonalToken creates a personal access token of user and returns
// it with its secret, which is shown this once: for the user or a system
// administrator.
func (s *Service) CreatePersonalToken(ctx context.Context, c Caller, user string, in TokenCreate) (t meta.Token, secret string, err error) {
	ch := s.change(c, "token.create", "user:"+user+"/token:"+in.Name)
	defer func() { ch.refused(ctx, err) }()
	if err = s.accounts(); err != nil {
		return t, secret, err
	}
	if err := mayManageUserTokens(c, user); err != nil {
		return t, "", err
	}
	ss, exp, err := in.parse(s.now(), "")
	if err != nil {
		return t, "", err
	}
	if t, secret, err = s.newToken(meta.TokenPersonal, user, in, ss, exp); err != nil {
		return t, "", err
	}
	return t, secret, s.createToken(ctx, ch, t, in.Scopes)
}

// RevokePersonalToken revokes a personal access token or refresh token of
// user: for the user or a system administrator.
func (s *Service) RevokePersonalToken(ctx context.Context, c Caller, user, id string) (err error) {
	ch := s.change(c, "token.revoke", "user:"+user+"/token:"+id)
	defer func() { ch.refused(ctx, err) }()
	if err = s.accounts(); err != nil {
		return err
	}
	if err := mayManageUserTokens(c, user); err != nil {
		return err
	}
	return s.revokeToken(ctx, ch, user, id, meta.TokenPersonal, meta.TokenRefresh)
}

// Robots lists the robot accounts of namespace ns, sorted by name: for
// its admins and system administrators.
func (s *Service) Robots(ctx context.Context, c Caller, ns string) ([]meta.Token, error) {
	if err := s.accounts(); err != nil {
		return nil, err
	}
	if _, err := s.ManagedNamespace(ctx, c, ns); err != nil {
		return nil, err
	}
	ts, err := s.store.Tokens(ctx, meta.TokenRobot, ns)
	return ts, storeError(err, "tokens of "+ns)
}

// CreateRobot creates a robot account of namespace ns, its scopes inside
// the namespace, and returns it with its secret, which is shown this once:
// for the namespace's admins and system administrators.
func (s *Service) CreateRobot(ctx context.Context, c Caller, ns string, in TokenCreate) (t meta.Token, secret string, err error) {
	ch := s.change(c, "robot.create", "robot:"+RobotName(ns, in.Name)).inNamespace(ns)
	defer func() { ch.refused(ctx, err) }()
	if err = s.accounts(); err != nil {
		return t, secret, err
	}
	if _, err := s.ManagedNamespace(ctx, c, ns); err != nil {
		return t, "", err
	}
	ss, exp, err := in.parse(s.now(), ns)
	if err != nil {
		return t, "", err
	}
	if t, secret, err = s.newToken(meta.TokenRobot, ns, in, ss, exp); err != nil {
		return t, "", err
	}
	return t, secret, s.createToken(ctx, ch, t, in.Scopes)
}

// RevokeRobot revokes robot id of namespace ns: for the namespace's admins
// and system administrators.
func (s *Service) RevokeRobot(ctx context.Context, c Caller, ns, id string) (err error) {
	ch := s.change(c, "robot.revoke", ns+"/robot:"+id).inNamespace(ns)
	defer func() { ch.refused(ctx, err) }()
	if err = s.accounts(); err != nil {
		return err
	}
	if _, err := s.ManagedNamespace(ctx, c, ns); err != nil {
		return err
	}
	return s.revokeToken(ctx, ch, ns, id, meta.TokenRobot)
}
