package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

var _ meta.Access = (*Store)(nil)

// The access methods are each one statement, so each is its own transaction
// without an explicit BEGIN: writes go to the writer connection (and so wait
// for an Update in progress; an Update function must not call them), reads
// to the reader pool. The foreign keys of 0003 do the cascades.

// SQLite's extended result codes for the constraints the access tables
// declare.
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// constraint translates a violated key into the meta error it means: a
// taken name or hash is ErrConflict, a missing user or namespace (foreign
// key) ErrNotFound. Any other error passes through, marked unavailable if
// the database was locked by another process.
func constraint(err error) error {
	var se interface{ Code() int }
	if errors.As(err, &se) {
		switch se.Code() {
		case sqliteConstraintPrimaryKey, sqliteConstraintUnique:
			return fmt.Errorf("%w: %w", meta.ErrConflict, err)
		case sqliteConstraintForeignKey:
			return fmt.Errorf("%w: %w", meta.ErrNotFound, err)
		}
	}
	return unavailable(err)
}

// exec runs a write on the writer and reports whether it changed a row.
func (s *Store) exec(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := s.writer.ExecContext(ctx, query, args...)
	if err != nil {
		return false, constraint(err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// change runs a write that must change a row, or reports ErrNotFound.
func (s *Store) change(ctx context.Context, what string, query string, args ...any) error {
	ok, err := s.exec(ctx, query, args...)
	if err == nil && !ok {
		err = meta.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// nullNanos is t as a nullable column: NULL for the zero time.
func nullNanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// fromNullNanos is the inverse of nullNanos.
func fromNullNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}

// CreateUser records a new user; ErrConflict if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u meta.User) error {
	created := toNanos(u.CreatedAt)
	updated := created
	if !u.UpdatedAt.IsZero() {
		updated = u.UpdatedAt.UnixNano()
	}
	_, err := s.exec(ctx, `INSERT INTO users (name, password_hash, admin, disabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, u.Name, u.PasswordHash, u.Admin, u.Disabled, created, updated)
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

const userColumns = `name, password_hash, admin, disabled, created_at, updated_at`

// The access reads on the path of every authenticated request, prepared
// with the other reads (readQueries).
const (
	qUser        = `SELECT ` + userColumns + ` FROM users WHERE name = ?`
	qNamespace   = `SELECT name, public, created_at FROM namespaces WHERE name = ?`
	qMember      = `SELECT ` + memberColumns + ` FROM members WHERE namespace = ? AND user_name = ?`
	qToken       = `SELECT ` + tokenColumns + ` FROM tokens WHERE id = ?`
	qTokenByHash = `SELECT ` + tokenColumns + ` FROM tokens WHERE hash = ?`
)

func scanUser(row rowScanner) (meta.User, error) {
	var u meta.User
	var created, updated int64
	if err := row.Scan(&u.Name, &u.PasswordHash, &u.Admin, &u.Disabled, &created, &updated); err != nil {
		return meta.User{}, err
	}
	u.CreatedAt, u.UpdatedAt = fromNanos(created), fromNanos(updated)
	return u, nil
}

// User returns user name, or ErrNotFound.
func (s *Store) User(ctx context.Context, name string) (meta.User, error) {
	u, err := scanUser(s.q.QueryRowContext(ctx, qUser, name))
	if err != nil {
		return meta.User{}, notFound(err, "user %s", name)
	}
	return u, nil
}

// Users lists users by name, a page at a time.
func (s *Store) Users(ctx context.Context, p meta.Page) ([]meta.User, error) {
	us, err := queryAll(ctx, s.readers, scanUser,
		`SELECT `+userColumns+` FROM users WHERE name > ? ORDER BY name LIMIT ?`, p.Last, limit(p))
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// UpdateUser replaces the hash and flags of user u.Name.
func (s *Store) UpdateUser(ctx context.Context, u meta.User) error {
	return s.change(ctx, "update user "+u.Name,
		`UPDATE users SET password_hash = ?, admin = ?, disabled = ?, updated_at = ? WHERE name = ?`,
		u.PasswordHash, u.Admin, u.Disabled, toNanos(u.UpdatedAt), u.Name)
}

// DeleteUser removes user name; its memberships and tokens go by cascade.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.change(ctx, "delete user "+name, `DELETE FROM users WHERE name = ?`, name)
}

// CountUsers returns how many users there are.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.readers.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// CreateNamespace records a new namespace; ErrConflict if it exists.
func (s *Store) CreateNamespace(ctx context.Context, ns meta.Namespace) error {
	_, err := s.exec(ctx, `INSERT INTO namespaces (name, public, created_at) VALUES (?, ?, ?)`,
		ns.Name, ns.Public, toNanos(ns.CreatedAt))
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", ns.Name, err)
	}
	return nil
}

func scanNamespace(row rowScanner) (meta.Namespace, error) {
	var ns meta.Namespace
	var created int64
	if err := row.Scan(&ns.Name, &ns.Public, &created); err != nil {
		return meta.Namespace{}, err
	}
	ns.CreatedAt = fromNanos(created)
	return ns, nil
}

// Namespace returns namespace name, or ErrNotFound.
func (s *Store) Namespace(ctx context.Context, name string) (meta.Namespace, error) {
	ns, err := scanNamespace(s.q.QueryRowContext(ctx, qNamespace, name))
	if err != nil {
		return meta.Namespace{}, notFound(err, "namespace %s", name)
	}
	return ns, nil
}

// Namespaces lists namespaces by name, a page at a time.
func (s *Store) Namespaces(ctx context.Context, p meta.Page) ([]meta.Namespace, error) {
	nss, err := queryAll(ctx, s.readers, scanNamespace,
		`SELECT name, public, created_at FROM namespaces WHERE name > ? ORDER BY name LIMIT ?`, p.Last, limit(p))
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	return nss, nil
}

// UpdateNamespace replaces the Public flag of namespace ns.Name.
func (s *Store) UpdateNamespace(ctx context.Context, ns meta.Namespace) error {
	return s.change(ctx, "update namespace "+ns.Name,
		`UPDATE namespaces SET public = ? WHERE name = ?`, ns.Public, ns.Name)
}

// DeleteNamespace removes namespace name; members and robots go by cascade.
func (s *Store) DeleteNamespace(ctx context.Context, name string) error {
	return s.change(ctx, "delete namespace "+name, `DELETE FROM namespaces WHERE name = ?`, name)
}

// PutMember adds m or changes its role, keeping the time it first joined.
func (s *Store) PutMember(ctx context.Context, m meta.Member) error {
	_, err := s.exec(ctx, `INSERT INTO members (namespace, user_name, role, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (namespace, user_name) DO UPDATE SET role = excluded.role`,
		m.Namespace, m.User, m.Role, toNanos(m.CreatedAt))
	if err != nil {
		return fmt.Errorf("put member %s of %s: %w", m.User, m.Namespace, err)
	}
	return nil
}

const memberColumns = `namespace, user_name, role, created_at`

func scanMember(row rowScanner) (meta.Member, error) {
	var m meta.Member
	var created int64
	if err := row.Scan(&m.Namespace, &m.User, &m.Role, &created); err != nil {
		return meta.Member{}, err
	}
	m.CreatedAt = fromNanos(created)
	return m, nil
}

// Member returns the membership of user in namespace, or ErrNotFound.
func (s *Store) Member(ctx context.Context, namespace, user string) (meta.Member, error) {
	m, err := scanMember(s.q.QueryRowContext(ctx, qMember, namespace, user))
	if err != nil {
		return meta.Member{}, notFound(err, "member %s of %s", user, namespace)
	}
	return m, nil
}

// Members lists the members of namespace by user name.
func (s *Store) Members(ctx context.Context, namespace string) ([]meta.Member, error) {
	ms, err := queryAll(ctx, s.readers, scanMember,
		`SELECT `+memberColumns+` FROM members WHERE namespace = ? ORDER BY user_name`, namespace)
	if err != nil {
		return nil, fmt.Errorf("members of %s: %w", namespace, err)
	}
	return ms, nil
}

// Memberships lists the memberships of user by namespace.
func (s *Store) Memberships(ctx context.Context, user string) ([]meta.Member, error) {
	ms, err := queryAll(ctx, s.readers, scanMember,
		`SELECT `+memberColumns+` FROM members WHERE user_name = ? ORDER BY namespace`, user)
	if err != nil {
		return nil, fmt.Errorf("memberships of %s: %w", user, err)
	}
	return ms, nil
}

// DeleteMember removes user from namespace; ErrNotFound if not a member.
func (s *Store) DeleteMember(ctx context.Context, namespace, user string) error {
	return s.change(ctx, fmt.Sprintf("delete member %s of %s", user, namespace),
		`DELETE FROM members WHERE namespace = ? AND user_name = ?`, namespace, user)
}

// tokenOwner splits t's owner into the column its kind uses.
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
			expires_at, last_used_at, revoked_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Kind, t.Name, user, ns, t.Hash, t.Scopes,
			nullNanos(t.ExpiresAt), nullNanos(t.LastUsedAt), nullNanos(t.RevokedAt), toNanos(t.CreatedAt))
	}
	if err != nil {
		return fmt.Errorf("create %s token %s of %s: %w", t.Kind, t.Name, t.Owner, err)
	}
	return nil
}

const tokenColumns = `id, kind, name, COALESCE(owner_user, owner_namespace), hash, scopes,
	expires_at, last_used_at, revoked_at, created_at`

func scanToken(row rowScanner) (meta.Token, error) {
	var t meta.Token
	var expires, used, revoked sql.NullInt64
	var created int64
	err := row.Scan(&t.ID, &t.Kind, &t.Name, &t.Owner, &t.Hash, &t.Scopes, &expires, &used, &revoked, &created)
	if err != nil {
		return meta.Token{}, err
	}
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromNullNanos(expires), fromNullNanos(used), fromNullNanos(revoked)
	t.CreatedAt = fromNanos(created)
	return t, nil
}

// Token returns token id, or ErrNotFound.
func (s *Store) Token(ctx context.Context, id string) (meta.Token, error) {
	t, err := scanToken(s.q.QueryRowContext(ctx, qToken, id))
	if err != nil {
		return meta.Token{}, notFound(err, "token %s", id)
	}
	return t, nil
}

// TokenByHash returns the token whose secret hashes to hash, or ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash string) (meta.Token, error) {
	t, err := scanToken(s.q.QueryRowContext(ctx, qTokenByHash, hash))
	if err != nil {
		return meta.Token{}, notFound(err, "token by hash")
	}
	return t, nil
}

// Tokens lists the tokens of kind owned by owner, by name.
func (s *Store) Tokens(ctx context.Context, kind, owner string) ([]meta.Token, error) {
	column := "owner_user"
	if kind == meta.TokenRobot {
		column = "owner_namespace"
	}
	ts, err := queryAll(ctx, s.readers, scanToken,
		`SELECT `+tokenColumns+` FROM tokens WHERE `+column+` = ? AND kind = ? ORDER BY name`, owner, kind)
	if err != nil {
		return nil, fmt.Errorf("%s tokens of %s: %w", kind, owner, err)
	}
	return ts, nil
}

// RevokeToken marks token id revoked at at; a token revoked already keeps
// its first revocation time.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	return s.change(ctx, "revoke token "+id,
		`UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, toNanos(at), id)
}

// TouchToken moves the last-used time of token id forward to at; an older
// at than the one recorded changes nothing.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	n := toNanos(at)
	return s.change(ctx, "touch token "+id,
		`UPDATE tokens SET last_used_at = max(COALESCE(last_used_at, ?), ?) WHERE id = ?`, n, n, id)
}

// DeleteToken removes token id; ErrNotFound if there is none.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	return s.change(ctx, "delete token "+id, `DELETE FROM tokens WHERE id = ?`, id)
}

// PruneTokens deletes the tokens that expired or were revoked before before.
func (s *Store) PruneTokens(ctx context.Context, before time.Time) (int, error) {
	return s.prune(ctx, "prune tokens",
		`DELETE FROM tokens WHERE expires_at < ? OR revoked_at < ?`, before.UnixNano(), before.UnixNano())
}

// PruneAudit deletes the audit events that happened before before.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	return s.prune(ctx, "prune audit log", `DELETE FROM audit_events WHERE at < ?`, before.UnixNano())
}

// prune runs a DELETE and returns how many rows it removed.
func (s *Store) prune(ctx context.Context, what, query string, args ...any) (int, error) {
	res, err := s.writer.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, unavailable(err))
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// SigningKeys lists every signing key, retired or not, oldest first.
func (s *Store) SigningKeys(ctx context.Context) ([]meta.SigningKey, error) {
	ks, err := queryAll(ctx, s.readers, scanSigningKey,
		`SELECT id, private_pem, created_at, retired_at FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return ks, nil
}

func scanSigningKey(row rowScanner) (meta.SigningKey, error) {
	var k meta.SigningKey
	var created int64
	var retired sql.NullInt64
	if err := row.Scan(&k.ID, &k.PrivatePEM, &created, &retired); err != nil {
		return meta.SigningKey{}, err
	}
	k.CreatedAt, k.RetiredAt = fromNanos(created), fromNullNanos(retired)
	return k, nil
}

// AddSigningKey records k; ErrConflict if its ID is taken.
func (s *Store) AddSigningKey(ctx context.Context, k meta.SigningKey) error {
	_, err := s.exec(ctx, `INSERT INTO signing_keys (id, private_pem, created_at, retired_at) VALUES (?, ?, ?, ?)`,
		k.ID, k.PrivatePEM, toNanos(k.CreatedAt), nullNanos(k.RetiredAt))
	if err != nil {
		return fmt.Errorf("add signing key %s: %w", k.ID, err)
	}
	return nil
}

// RetireSigningKey marks key id retired at at, keeping an earlier retirement.
func (s *Store) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	return s.change(ctx, "retire signing key "+id,
		`UPDATE signing_keys SET retired_at = COALESCE(retired_at, ?) WHERE id = ?`, toNanos(at), id)
}

// qAppendAudit inserts one audit event.
const qAppendAudit = `INSERT INTO audit_events (at, actor, client, action, target, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`

// AppendAudit records events in one transaction; the database assigns
// their IDs.
func (s *Store) AppendAudit(ctx context.Context, events ...meta.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	err := func() error {
		if len(events) == 1 {
			e := events[0]
			_, err := s.writer.ExecContext(ctx, qAppendAudit, toNanos(e.At), e.Actor, e.Client, e.Action, e.Target, e.Result, e.Detail)
			return err
		}
		tx, err := s.writer.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() // a no-op after Commit
		stmt, err := tx.PrepareContext(ctx, qAppendAudit)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, e := range events {
			if _, err := stmt.ExecContext(ctx, toNanos(e.At), e.Actor, e.Client, e.Action, e.Target, e.Result, e.Detail); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	if err != nil {
		return fmt.Errorf("append %d audit events: %w", len(events), unavailable(err))
	}
	return nil
}

// Audit returns the events q selects, newest (highest ID) first.
func (s *Store) Audit(ctx context.Context, q meta.AuditQuery) ([]meta.AuditEvent, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if q.Actor != "" {
		add("actor = ?", q.Actor)
	}
	if q.Action != "" {
		add("action = ?", q.Action)
	}
	if q.TargetPrefix != "" {
		// substr, not LIKE: a prefix may hold % and _.
		where = append(where, "substr(target, 1, length(?)) = ?")
		args = append(args, q.TargetPrefix, q.TargetPrefix)
	}
	if q.Result != "" {
		add("result = ?", q.Result)
	}
	if !q.Since.IsZero() {
		add("at >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		add("at < ?", q.Until.UnixNano())
	}
	if q.BeforeID > 0 {
		add("id < ?", q.BeforeID)
	}
	query := `SELECT id, at, actor, client, action, target, result, detail FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, auditLimit(q.N))
	es, err := queryAll(ctx, s.readers, scanAuditEvent, query, args...)
	if err != nil {
		return nil, fmt.Errorf("audit query: %w", err)
	}
	return es, nil
}

func scanAuditEvent(row rowScanner) (meta.AuditEvent, error) {
	var e meta.AuditEvent
	var at int64
	if err := row.Scan(&e.ID, &at, &e.Actor, &e.Client, &e.Action, &e.Target, &e.Result, &e.Detail); err != nil {
		return meta.AuditEvent{}, err
	}
	e.At = fromNanos(at)
	return e, nil
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

// queryAll runs a read on the reader pool and scans every row with scan,
// returning an empty, not nil, slice when there are none.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// auditLimit is AuditQuery.N as a LIMIT: 0 (or less) means 100.
func auditLimit(n int) int {
	if n <= 0 {
		return 100
	}
	return n
}
