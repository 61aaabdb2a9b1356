package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// Company sign-in ([meta.Identities], migration 0007): external identities,
// web sessions and logins in progress. Every method is one statement.

const (
	identityColumns = `user_name, source, subject, email, groups, granted, suspended, refresh_token, checked_at, created_at`
	sessionColumns  = `hash, id, user_name, source, csrf, created_at, last_seen_at, expires_at`

	qExternalIdentity          = `SELECT ` + identityColumns + ` FROM external_identities WHERE user_name = $1`
	qExternalIdentityBySubject = `SELECT ` + identityColumns + ` FROM external_identities WHERE source = $1 AND subject = $2`
	qPutExternalIdentity       = `INSERT INTO external_identities (` + identityColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (user_name) DO UPDATE SET source = excluded.source, subject = excluded.subject,
			email = excluded.email, groups = excluded.groups, granted = excluded.granted,
			suspended = excluded.suspended, refresh_token = excluded.refresh_token, checked_at = excluded.checked_at`
	// The session read on the path of every request of the web UI.
	qWebSession = `SELECT ` + sessionColumns + ` FROM web_sessions WHERE hash = $1`
)

// The queries of this file, for the backends to prepare.
var _ = prepared(
	qExternalIdentity, qWebSession,
)

var _ meta.Identities = (*Store)(nil)

func scanIdentity(row Row) (meta.ExternalIdentity, error) {
	var id meta.ExternalIdentity
	var groups []byte
	err := row.Scan(&id.User, &id.Source, &id.Subject, &id.Email, &groups, &id.Granted, &id.Suspended, &id.RefreshToken, &id.CheckedAt, &id.CreatedAt)
	if err != nil {
		return id, err
	}
	if err := json.Unmarshal(groups, &id.Groups); err != nil {
		return id, fmt.Errorf("groups of %s: %w", id.User, err)
	}
	return id, nil
}

// ExternalIdentity returns the identity of user, or ErrNotFound.
func (r *Reads) ExternalIdentity(ctx context.Context, user string) (meta.ExternalIdentity, error) {
	id, err := scanIdentity(r.db.QueryRow(ctx, qExternalIdentity, user))
	if err != nil {
		return meta.ExternalIdentity{}, r.notFound(err, "external identity of %s", user)
	}
	return id, nil
}

// ExternalIdentityBySubject returns the identity of subject at source, or
// ErrNotFound.
func (s *Store) ExternalIdentityBySubject(ctx context.Context, source, subject string) (meta.ExternalIdentity, error) {
	id, err := scanIdentity(s.db.QueryRow(ctx, qExternalIdentityBySubject, source, subject))
	if err != nil {
		return meta.ExternalIdentity{}, s.notFound(err, "%s identity %q", source, subject)
	}
	return id, nil
}

// ExternalIdentities lists the identities of source by user name, a page at
// a time.
func (s *Store) ExternalIdentities(ctx context.Context, source string, p meta.Page) ([]meta.ExternalIdentity, error) {
	ids, err := collect(ctx, s.db, scanIdentity, `SELECT `+identityColumns+` FROM external_identities
		WHERE source = $1 AND user_name > $2 ORDER BY user_name LIMIT $3`, source, p.Last, s.limit(p))
	if err != nil {
		return nil, s.wrap(err, "list %s identities", source)
	}
	return ids, nil
}

// PutExternalIdentity creates or replaces the identity of id.User.
func (s *Store) PutExternalIdentity(ctx context.Context, id meta.ExternalIdentity) error {
	return putExternalIdentity(ctx, s.write, s.d, id)
}

// putExternalIdentity writes id on db: the Store's writer, or a
// transaction's.
func putExternalIdentity(ctx context.Context, db DB, d *dialect, id meta.ExternalIdentity) error {
	groups := id.Groups
	if groups == nil {
		groups = []string{}
	}
	gb, err := json.Marshal(groups)
	if err != nil {
		return err
	}
	granted := id.Granted
	if granted == nil {
		granted = []byte("[]")
	}
	var refresh any
	if len(id.RefreshToken) > 0 {
		refresh = id.RefreshToken
	}
	_, err = db.Exec(ctx, qPutExternalIdentity, id.User, id.Source, id.Subject, id.Email, gb, granted,
		id.Suspended, refresh, orNow(id.CheckedAt), orNow(id.CreatedAt))
	if err != nil {
		return fmt.Errorf("put %s identity of %s: %w", id.Source, id.User, d.Constraint(err))
	}
	return nil
}

func scanSession(row Row) (meta.WebSession, error) {
	var ws meta.WebSession
	err := row.Scan(&ws.Hash, &ws.ID, &ws.User, &ws.Source, &ws.CSRF, &ws.CreatedAt, &ws.LastSeenAt, &ws.ExpiresAt)
	return ws, err
}

// CreateWebSession records ws; ErrConflict if its hash or id is taken,
// ErrNotFound if its user does not exist.
func (s *Store) CreateWebSession(ctx context.Context, ws meta.WebSession) error {
	created := orNow(ws.CreatedAt)
	seen := ws.LastSeenAt
	if seen.IsZero() {
		seen = created
	}
	_, err := s.exec(ctx, `INSERT INTO web_sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		ws.Hash, ws.ID, ws.User, ws.Source, ws.CSRF, created, seen, ws.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create web session of %s: %w", ws.User, err)
	}
	return nil
}

// WebSession returns the session whose secret hashes to hash, or
// ErrNotFound.
func (s *Store) WebSession(ctx context.Context, hash string) (meta.WebSession, error) {
	ws, err := scanSession(s.db.QueryRow(ctx, qWebSession, hash))
	if err != nil {
		return meta.WebSession{}, s.notFound(err, "web session")
	}
	return ws, nil
}

// TouchWebSession moves the session's last-seen time forward to at.
func (s *Store) TouchWebSession(ctx context.Context, hash string, at time.Time) error {
	return s.change(ctx, "touch web session",
		`UPDATE web_sessions SET last_seen_at = CASE WHEN last_seen_at > $1 THEN last_seen_at ELSE $1 END WHERE hash = $2`,
		orNow(at), hash)
}

// DeleteWebSession ends a session; ErrNotFound if there is none.
func (s *Store) DeleteWebSession(ctx context.Context, hash string) error {
	return s.change(ctx, "delete web session", `DELETE FROM web_sessions WHERE hash = $1`, hash)
}

// DeleteUserWebSessions ends every session of user.
func (s *Store) DeleteUserWebSessions(ctx context.Context, user string) (int, error) {
	return s.prune(ctx, "delete web sessions of "+user, `DELETE FROM web_sessions WHERE user_name = $1`, user)
}

// PruneWebSessions deletes the sessions past their end or idle too long.
func (s *Store) PruneWebSessions(ctx context.Context, before, idleBefore time.Time) (int, error) {
	return s.prune(ctx, "prune web sessions",
		`DELETE FROM web_sessions WHERE expires_at < $1 OR last_seen_at < $2`, before, idleBefore)
}

// PutLoginState records a login in progress, replacing one of the same
// hash.
func (s *Store) PutLoginState(ctx context.Context, ls meta.LoginState) error {
	_, err := s.exec(ctx, `INSERT INTO login_states (hash, data, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (hash) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at`,
		ls.Hash, ls.Data, ls.ExpiresAt)
	if err != nil {
		return fmt.Errorf("record login state: %w", err)
	}
	return nil
}

func scanLoginState(row Row) (meta.LoginState, error) {
	var ls meta.LoginState
	err := row.Scan(&ls.Hash, &ls.Data, &ls.ExpiresAt)
	return ls, err
}

// LoginState returns the login in progress of hash, or ErrNotFound.
func (s *Store) LoginState(ctx context.Context, hash string) (meta.LoginState, error) {
	ls, err := scanLoginState(s.db.QueryRow(ctx, `SELECT hash, data, expires_at FROM login_states WHERE hash = $1`, hash))
	if err != nil {
		return meta.LoginState{}, s.notFound(err, "login state")
	}
	return ls, nil
}

// TakeLoginState returns the login in progress of hash and deletes it in
// one statement, so two callbacks with one state cannot both have it.
func (s *Store) TakeLoginState(ctx context.Context, hash string) (meta.LoginState, error) {
	ls, err := scanLoginState(s.write.QueryRow(ctx, `DELETE FROM login_states WHERE hash = $1 RETURNING hash, data, expires_at`, hash))
	if err != nil {
		return meta.LoginState{}, s.notFound(err, "login state")
	}
	return ls, nil
}

// PruneLoginStates deletes the logins that expired before before.
func (s *Store) PruneLoginStates(ctx context.Context, before time.Time) (int, error) {
	return s.prune(ctx, "prune login states", `DELETE FROM login_states WHERE expires_at < $1`, before)
}
