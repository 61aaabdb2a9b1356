package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

const (
	tokenColumns = `id, kind, name, COALESCE(owner_user, owner_namespace), hash, scopes,
	expires_at, last_used_at, revoked_at, created_at`

	// The token reads on the path of every request with a token.
	qToken       = `SELECT ` + tokenColumns + ` FROM tokens WHERE id = $1`
	qTokenByHash = `SELECT ` + tokenColumns + ` FROM tokens WHERE hash = $1`
)

// The queries of this file, for the backends to prepare.
var _ = prepared(
	qToken, qTokenByHash,
)

// tokenOwner splits a token's owner into the column its kind uses.
func tokenOwner(kind, owner string) (user, namespace any, err error) {
	switch kind {
	case meta.TokenPersonal, meta.TokenRefresh:
		return owner, nil, nil
	case meta.TokenRobot:
		return nil, owner, nil
	}
	return nil, nil, fmt.Errorf("unknown token kind %q", kind)
}

// CreateToken records t; ErrConflict if its ID, hash or (kind, owner, name)
// is taken, ErrNotFound if its owner does not exist.
func (s *Store) CreateToken(ctx context.Context, t meta.Token) error {
	user, ns, err := tokenOwner(t.Kind, t.Owner)
	if err == nil {
		_, err = s.exec(ctx, `INSERT INTO tokens (id, kind, name, owner_user, owner_namespace, hash, scopes,
			expires_at, last_used_at, revoked_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			t.ID, t.Kind, t.Name, user, ns, t.Hash, t.Scopes,
			nullTime(t.ExpiresAt), nullTime(t.LastUsedAt), nullTime(t.RevokedAt), orNow(t.CreatedAt))
	}
	if err != nil {
		return fmt.Errorf("create %s token %s of %s: %w", t.Kind, t.Name, t.Owner, err)
	}
	return nil
}

func scanToken(row Row) (meta.Token, error) {
	var t meta.Token
	var expires, used, revoked *time.Time
	err := row.Scan(&t.ID, &t.Kind, &t.Name, &t.Owner, &t.Hash, &t.Scopes, &expires, &used, &revoked, &t.CreatedAt)
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromNull(expires), fromNull(used), fromNull(revoked)
	return t, err
}

// Token returns token id, or ErrNotFound.
func (s *Store) Token(ctx context.Context, id string) (meta.Token, error) {
	t, err := scanToken(s.db.QueryRow(ctx, qToken, id))
	if err != nil {
		return meta.Token{}, s.notFound(err, "token %s", id)
	}
	return t, nil
}

// TokenByHash returns the token whose secret hashes to hash, or ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash string) (meta.Token, error) {
	t, err := scanToken(s.db.QueryRow(ctx, qTokenByHash, hash))
	if err != nil {
		return meta.Token{}, s.notFound(err, "token by hash")
	}
	return t, nil
}

// Tokens lists the tokens of kind owned by owner, by name.
func (s *Store) Tokens(ctx context.Context, kind, owner string) ([]meta.Token, error) {
	column := "owner_user"
	if kind == meta.TokenRobot {
		column = "owner_namespace"
	}
	ts, err := collect(ctx, s.db, scanToken,
		`SELECT `+tokenColumns+` FROM tokens WHERE `+column+` = $1 AND kind = $2 ORDER BY name`, owner, kind)
	if err != nil {
		return nil, s.wrap(err, "%s tokens of %s", kind, owner)
	}
	return ts, nil
}

// RevokeToken marks token id revoked at at; a token revoked already keeps
// its first revocation time.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	return s.change(ctx, "revoke token "+id,
		`UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`, orNow(at), id)
}

// TouchToken moves the last-used time of token id forward to at; an older
// at than the one recorded changes nothing. A NULL last_used_at compares
// as neither greater nor smaller, so the CASE takes at.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	return s.change(ctx, "touch token "+id,
		`UPDATE tokens SET last_used_at = CASE WHEN last_used_at > $1 THEN last_used_at ELSE $1 END WHERE id = $2`,
		orNow(at), id)
}

// DeleteToken removes token id; ErrNotFound if there is none.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	return s.change(ctx, "delete token "+id, `DELETE FROM tokens WHERE id = $1`, id)
}

// PruneTokens deletes the tokens that expired or were revoked before before.
func (s *Store) PruneTokens(ctx context.Context, before time.Time) (int, error) {
	return s.prune(ctx, "prune tokens", `DELETE FROM tokens WHERE expires_at < $1 OR revoked_at < $1`, before)
}
