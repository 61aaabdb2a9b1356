package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wharf-dev/wharf/internal/meta"
)

var _ meta.Access = (*Store)(nil)

// The access methods are each one statement on the pool, so each is its own
// transaction. The foreign keys of 0003 do the cascades.

// constraint translates a violated key into the meta error it means: a
// taken name or hash is ErrConflict, a missing user or namespace (foreign
// key) ErrNotFound. Any other error passes through, marked unavailable if
// the server could not be reached.
func constraint(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %w", meta.ErrConflict, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: %w", meta.ErrNotFound, err)
		}
	}
	return unavailable(err)
}

// exec runs a write and reports whether it changed a row.
func (s *Store) exec(ctx context.Context, query string, args ...any) (bool, error) {
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return false, constraint(err)
	}
	return tag.RowsAffected() > 0, nil
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

// nullTime is t as a nullable column: NULL for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// fromNullTime is the inverse of nullTime, in UTC.
func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// queryAll runs a read on the pool and scans every row with scan, returning
// an empty, not nil, slice when there are none.
func queryAll[T any](ctx context.Context, s *Store, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, unavailable(err)
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
	return out, unavailable(rows.Err())
}

// CreateUser records a new user; ErrConflict if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u meta.User) error {
	created := timestamp(u.CreatedAt)
	updated := created
	if !u.UpdatedAt.IsZero() {
		updated = u.UpdatedAt
	}
	_, err := s.exec(ctx, `INSERT INTO users (name, password_hash, admin, disabled, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, u.Name, u.PasswordHash, u.Admin, u.Disabled, created, updated)
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

const userColumns = `name, password_hash, admin, disabled, created_at, updated_at`

func scanUser(row pgx.Row) (meta.User, error) {
	var u meta.User
	if err := row.Scan(&u.Name, &u.PasswordHash, &u.Admin, &u.Disabled, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return meta.User{}, err
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}

// User returns user name, or ErrNotFound.
func (s *Store) User(ctx context.Context, name string) (meta.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`, name))
	if err != nil {
		return meta.User{}, notFound(err, "user %s", name)
	}
	return u, nil
}

// Users lists users by name, a page at a time.
func (s *Store) Users(ctx context.Context, p meta.Page) ([]meta.User, error) {
	us, err := queryAll(ctx, s, scanUser,
		`SELECT `+userColumns+` FROM users WHERE name > $1 ORDER BY name LIMIT $2`, p.Last, limit(p))
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// UpdateUser replaces the hash and flags of user u.Name.
func (s *Store) UpdateUser(ctx context.Context, u meta.User) error {
	return s.change(ctx, "update user "+u.Name,
		`UPDATE users SET password_hash = $1, admin = $2, disabled = $3, updated_at = $4 WHERE name = $5`,
		u.PasswordHash, u.Admin, u.Disabled, timestamp(u.UpdatedAt), u.Name)
}

// DeleteUser removes user name; its memberships and tokens go by cascade.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.change(ctx, "delete user "+name, `DELETE FROM users WHERE name = $1`, name)
}

// CountUsers returns how many users there are.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", unavailable(err))
	}
	return n, nil
}

// CreateNamespace records a new namespace; ErrConflict if it exists.
func (s *Store) CreateNamespace(ctx context.Context, ns meta.Namespace) error {
	_, err := s.exec(ctx, `INSERT INTO namespaces (name, public, created_at) VALUES ($1, $2, $3)`,
		ns.Name, ns.Public, timestamp(ns.CreatedAt))
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", ns.Name, err)
	}
	return nil
}

func scanNamespace(row pgx.Row) (meta.Namespace, error) {
	var ns meta.Namespace
	if err := row.Scan(&ns.Name, &ns.Public, &ns.CreatedAt); err != nil {
		return meta.Namespace{}, err
	}
	ns.CreatedAt = ns.CreatedAt.UTC()
	return ns, nil
}

// Namespace returns namespace name, or ErrNotFound.
func (s *Store) Namespace(ctx context.Context, name string) (meta.Namespace, error) {
	ns, err := scanNamespace(s.pool.QueryRow(ctx,
		`SELECT name, public, created_at FROM namespaces WHERE name = $1`, name))
	if err != nil {
		return meta.Namespace{}, notFound(err, "namespace %s", name)
	}
	return ns, nil
}

// Namespaces lists namespaces by name, a page at a time.
func (s *Store) Namespaces(ctx context.Context, p meta.Page) ([]meta.Namespace, error) {
	nss, err := queryAll(ctx, s, scanNamespace,
		`SELECT name, public, created_at FROM namespaces WHERE name > $1 ORDER BY name LIMIT $2`, p.Last, limit(p))
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	return nss, nil
}

// UpdateNamespace replaces the Public flag of namespace ns.Name.
func (s *Store) UpdateNamespace(ctx context.Context, ns meta.Namespace) error {
	return s.change(ctx, "update namespace "+ns.Name,
		`UPDATE namespaces SET public = $1 WHERE name = $2`, ns.Public, ns.Name)
}

// DeleteNamespace removes namespace name; members and robots go by cascade.
func (s *Store) DeleteNamespace(ctx context.Context, name string) error {
	return s.change(ctx, "delete namespace "+name, `DELETE FROM namespaces WHERE name = $1`, name)
}

// PutMember adds m or changes its role, keeping the time it first joined.
func (s *Store) PutMember(ctx context.Context, m meta.Member) error {
	_, err := s.exec(ctx, `INSERT INTO members (namespace, user_name, role, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (namespace, user_name) DO UPDATE SET role = excluded.role`,
		m.Namespace, m.User, m.Role, timestamp(m.CreatedAt))
	if err != nil {
		return fmt.Errorf("put member %s of %s: %w", m.User, m.Namespace, err)
	}
	return nil
}

const memberColumns = `namespace, user_name, role, created_at`

func scanMember(row pgx.Row) (meta.Member, error) {
	var m meta.Member
	if err := row.Scan(&m.Namespace, &m.User, &m.Role, &m.CreatedAt); err != nil {
		return meta.Member{}, err
	}
	m.CreatedAt = m.CreatedAt.UTC()
	return m, nil
}

// Member returns the membership of user in namespace, or ErrNotFound.
func (s *Store) Member(ctx context.Context, namespace, user string) (meta.Member, error) {
	m, err := scanMember(s.pool.QueryRow(ctx,
		`SELECT `+memberColumns+` FROM members WHERE namespace = $1 AND user_name = $2`, namespace, user))
	if err != nil {
		return meta.Member{}, notFound(err, "member %s of %s", user, namespace)
	}
	return m, nil
}

// Members lists the members of namespace by user name.
func (s *Store) Members(ctx context.Context, namespace string) ([]meta.Member, error) {
	ms, err := queryAll(ctx, s, scanMember,
		`SELECT `+memberColumns+` FROM members WHERE namespace = $1 ORDER BY user_name`, namespace)
	if err != nil {
		return nil, fmt.Errorf("members of %s: %w", namespace, err)
	}
	return ms, nil
}

// Memberships lists the memberships of user by namespace.
func (s *Store) Memberships(ctx context.Context, user string) ([]meta.Member, error) {
	ms, err := queryAll(ctx, s, scanMember,
		`SELECT `+memberColumns+` FROM members WHERE user_name = $1 ORDER BY namespace`, user)
	if err != nil {
		return nil, fmt.Errorf("memberships of %s: %w", user, err)
	}
	return ms, nil
}

// DeleteMember removes user from namespace; ErrNotFound if not a member.
func (s *Store) DeleteMember(ctx context.Context, namespace, user string) error {
	return s.change(ctx, fmt.Sprintf("delete member %s of %s", user, namespace),
		`DELETE FROM members WHERE namespace = $1 AND user_name = $2`, namespace, user)
}

// tokenOwner splits a token's owner into the column its kind uses.
func tokenOwner(kind, owner string) (user, namespace *string, err error) {
	switch kind {
	case meta.TokenPersonal, meta.TokenRefresh:
		return &owner, nil, nil
	case meta.TokenRobot:
		return nil, &owner, nil
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
			nullTime(t.ExpiresAt), nullTime(t.LastUsedAt), nullTime(t.RevokedAt), timestamp(t.CreatedAt))
	}
	if err != nil {
		return fmt.Errorf("create %s token %s of %s: %w", t.Kind, t.Name, t.Owner, err)
	}
	return nil
}

const tokenColumns = `id, kind, name, COALESCE(owner_user, owner_namespace), hash, scopes,
	expires_at, last_used_at, revoked_at, created_at`

func scanToken(row pgx.Row) (meta.Token, error) {
	var t meta.Token
	var expires, used, revoked *time.Time
	err := row.Scan(&t.ID, &t.Kind, &t.Name, &t.Owner, &t.Hash, &t.Scopes, &expires, &used, &revoked, &t.CreatedAt)
	if err != nil {
		return meta.Token{}, err
	}
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromNullTime(expires), fromNullTime(used), fromNullTime(revoked)
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

// Token returns token id, or ErrNotFound.
func (s *Store) Token(ctx context.Context, id string) (meta.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = $1`, id))
	if err != nil {
		return meta.Token{}, notFound(err, "token %s", id)
	}
	return t, nil
}

// TokenByHash returns the token whose secret hashes to hash, or ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash string) (meta.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hash))
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
	ts, err := queryAll(ctx, s, scanToken,
		`SELECT `+tokenColumns+` FROM tokens WHERE `+column+` = $1 AND kind = $2 ORDER BY name`, owner, kind)
	if err != nil {
		return nil, fmt.Errorf("%s tokens of %s: %w", kind, owner, err)
	}
	return ts, nil
}

// RevokeToken marks token id revoked at at; a token revoked already keeps
// its first revocation time.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	return s.change(ctx, "revoke token "+id,
		`UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`, timestamp(at), id)
}

// TouchToken moves the last-used time of token id forward to at; an older
// at than the one recorded changes nothing.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	return s.change(ctx, "touch token "+id,
		`UPDATE tokens SET last_used_at = GREATEST(last_used_at, $1) WHERE id = $2`, timestamp(at), id)
}

// DeleteToken removes token id; ErrNotFound if there is none.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	return s.change(ctx, "delete token "+id, `DELETE FROM tokens WHERE id = $1`, id)
}

// PruneTokens deletes the tokens that expired or were revoked before before.
func (s *Store) PruneTokens(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE expires_at < $1 OR revoked_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("prune tokens: %w", unavailable(err))
	}
	return int(tag.RowsAffected()), nil
}

// PruneAudit deletes the audit events that happened before before.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM audit_events WHERE at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("prune audit log: %w", unavailable(err))
	}
	return int(tag.RowsAffected()), nil
}

func scanSigningKey(row pgx.Row) (meta.SigningKey, error) {
	var k meta.SigningKey
	var retired *time.Time
	if err := row.Scan(&k.ID, &k.PrivatePEM, &k.CreatedAt, &retired); err != nil {
		return meta.SigningKey{}, err
	}
	k.CreatedAt, k.RetiredAt = k.CreatedAt.UTC(), fromNullTime(retired)
	return k, nil
}

// SigningKeys lists every signing key, retired or not, oldest first.
func (s *Store) SigningKeys(ctx context.Context) ([]meta.SigningKey, error) {
	ks, err := queryAll(ctx, s, scanSigningKey,
		`SELECT id, private_pem, created_at, retired_at FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return ks, nil
}

// AddSigningKey records k; ErrConflict if its ID is taken.
func (s *Store) AddSigningKey(ctx context.Context, k meta.SigningKey) error {
	_, err := s.exec(ctx, `INSERT INTO signing_keys (id, private_pem, created_at, retired_at) VALUES ($1, $2, $3, $4)`,
		k.ID, k.PrivatePEM, timestamp(k.CreatedAt), nullTime(k.RetiredAt))
	if err != nil {
		return fmt.Errorf("add signing key %s: %w", k.ID, err)
	}
	return nil
}

// RetireSigningKey marks key id retired at at, keeping an earlier retirement.
func (s *Store) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	return s.change(ctx, "retire signing key "+id,
		`UPDATE signing_keys SET retired_at = COALESCE(retired_at, $1) WHERE id = $2`, timestamp(at), id)
}

// AppendAudit records events in one transaction, sent as one batch; the
// database assigns their IDs.
func (s *Store) AppendAudit(ctx context.Context, events ...meta.AuditEvent) error {
	const q = `INSERT INTO audit_events (at, actor, client, action, target, result, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	var err error
	switch len(events) {
	case 0:
		return nil
	case 1:
		e := events[0]
		_, err = s.pool.Exec(ctx, q, timestamp(e.At), e.Actor, e.Client, e.Action, e.Target, e.Result, e.Detail)
	default:
		err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
			var b pgx.Batch
			for _, e := range events {
				b.Queue(q, timestamp(e.At), e.Actor, e.Client, e.Action, e.Target, e.Result, e.Detail)
			}
			return tx.SendBatch(ctx, &b).Close()
		})
	}
	if err != nil {
		return fmt.Errorf("append %d audit events: %w", len(events), unavailable(err))
	}
	return nil
}

func scanAuditEvent(row pgx.Row) (meta.AuditEvent, error) {
	var e meta.AuditEvent
	if err := row.Scan(&e.ID, &e.At, &e.Actor, &e.Client, &e.Action, &e.Target, &e.Result, &e.Detail); err != nil {
		return meta.AuditEvent{}, err
	}
	e.At = e.At.UTC()
	return e, nil
}

// Audit returns the events q selects, newest (highest ID) first.
func (s *Store) Audit(ctx context.Context, q meta.AuditQuery) ([]meta.AuditEvent, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(cond, "$", "$"+strconv.Itoa(len(args))))
	}
	if q.Actor != "" {
		add("actor = $", q.Actor)
	}
	if q.Action != "" {
		add("action = $", q.Action)
	}
	if q.TargetPrefix != "" {
		add("starts_with(target, $)", q.TargetPrefix)
	}
	if q.Result != "" {
		add("result = $", q.Result)
	}
	if !q.Since.IsZero() {
		add("at >= $", q.Since)
	}
	if !q.Until.IsZero() {
		add("at < $", q.Until)
	}
	if q.BeforeID > 0 {
		add("id < $", q.BeforeID)
	}
	query := `SELECT id, at, actor, client, action, target, result, detail FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, auditLimit(q.N))
	query += " ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args))
	es, err := queryAll(ctx, s, scanAuditEvent, query, args...)
	if err != nil {
		return nil, fmt.Errorf("audit query: %w", err)
	}
	return es, nil
}

// auditLimit is AuditQuery.N as a LIMIT: 0 (or less) means 100.
func auditLimit(n int) int {
	if n <= 0 {
		return 100
	}
	return n
}
