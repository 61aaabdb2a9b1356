package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// The access methods ([meta.Access]) are each one statement, so each is
// its own transaction without an explicit BEGIN: writes go to the write
// DB (SQLite's writer, so they wait for an Update in progress; an Update
// function must not call them), reads to the read DB. The foreign keys of
// migration 0003 do the cascades.

// exec runs a write and reports whether it changed a row, a violated key
// translated by the dialect.
func (s *Store) exec(ctx context.Context, query string, args ...any) (bool, error) {
	n, err := s.write.Exec(ctx, query, args...)
	if err != nil {
		return false, s.d.Constraint(err)
	}
	return n > 0, nil
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

// prune runs a DELETE and returns how many rows it removed.
func (s *Store) prune(ctx context.Context, what, query string, args ...any) (int, error) {
	n, err := s.write.Exec(ctx, query, args...)
	if err != nil {
		return 0, s.wrap(err, "%s", what)
	}
	return int(n), nil
}

const (
	userColumns   = `name, password_hash, admin, disabled, created_at, updated_at`
	memberColumns = `namespace, user_name, role, created_at`

	// The access reads on the path of every authenticated request.
	qUser      = `SELECT ` + userColumns + ` FROM users WHERE name = $1`
	qNamespace = `SELECT name, public, kind, created_at FROM namespaces WHERE name = $1`
	qMember    = `SELECT ` + memberColumns + ` FROM members WHERE namespace = $1 AND user_name = $2`
)

// The queries of this file, for the backends to prepare.
var _ = prepared(
	qUser, qNamespace, qMember,
)

// CreateUser records a new user; ErrConflict if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u meta.User) error {
	created := orNow(u.CreatedAt)
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

func scanUser(row Row) (meta.User, error) {
	var u meta.User
	err := row.Scan(&u.Name, &u.PasswordHash, &u.Admin, &u.Disabled, &u.CreatedAt, &u.UpdatedAt)
	return u, err
}

// User returns user name, or ErrNotFound.
func (s *Store) User(ctx context.Context, name string) (meta.User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, qUser, name))
	if err != nil {
		return meta.User{}, s.notFound(err, "user %s", name)
	}
	return u, nil
}

// Users lists users by name, a page at a time.
func (s *Store) Users(ctx context.Context, p meta.Page) ([]meta.User, error) {
	us, err := collect(ctx, s.db, scanUser,
		`SELECT `+userColumns+` FROM users WHERE name > $1 ORDER BY name LIMIT $2`, p.Last, s.limit(p))
	if err != nil {
		return nil, s.wrap(err, "list users")
	}
	return us, nil
}

// UpdateUser replaces the hash and flags of user u.Name.
func (s *Store) UpdateUser(ctx context.Context, u meta.User) error {
	return s.change(ctx, "update user "+u.Name,
		`UPDATE users SET password_hash = $1, admin = $2, disabled = $3, updated_at = $4 WHERE name = $5`,
		u.PasswordHash, u.Admin, u.Disabled, orNow(u.UpdatedAt), u.Name)
}

// DeleteUser removes user name; its memberships and tokens go by cascade.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.change(ctx, "delete user "+name, `DELETE FROM users WHERE name = $1`, name)
}

// CountUsers returns how many users there are.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, s.wrap(err, "count users")
	}
	return n, nil
}

// CreateNamespace records a new namespace; ErrConflict if it exists.
func (s *Store) CreateNamespace(ctx context.Context, ns meta.Namespace) error {
	kind := ns.Kind
	if kind == "" {
		kind = meta.NamespaceGeneral
	}
	_, err := s.exec(ctx, `INSERT INTO namespaces (name, public, kind, created_at) VALUES ($1, $2, $3, $4)`,
		ns.Name, ns.Public, kind, orNow(ns.CreatedAt))
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", ns.Name, err)
	}
	return nil
}

func scanNamespace(row Row) (meta.Namespace, error) {
	var ns meta.Namespace
	err := row.Scan(&ns.Name, &ns.Public, &ns.Kind, &ns.CreatedAt)
	return ns, err
}

// Namespace returns namespace name, or ErrNotFound.
func (s *Store) Namespace(ctx context.Context, name string) (meta.Namespace, error) {
	ns, err := scanNamespace(s.db.QueryRow(ctx, qNamespace, name))
	if err != nil {
		return meta.Namespace{}, s.notFound(err, "namespace %s", name)
	}
	return ns, nil
}

// Namespaces lists namespaces by name, a page at a time.
func (s *Store) Namespaces(ctx context.Context, p meta.Page) ([]meta.Namespace, error) {
	nss, err := collect(ctx, s.db, scanNamespace,
		`SELECT name, public, kind, created_at FROM namespaces WHERE name > $1 ORDER BY name LIMIT $2`, p.Last, s.limit(p))
	if err != nil {
		return nil, s.wrap(err, "list namespaces")
	}
	return nss, nil
}

// UpdateNamespace replaces the Public flag of namespace ns.Name.
func (s *Store) UpdateNamespace(ctx context.Context, ns meta.Namespace) error {
	return s.change(ctx, "update namespace "+ns.Name,
		`UPDATE namespaces SET public = $1, kind = COALESCE(NULLIF($3, ''), kind) WHERE name = $2`, ns.Public, ns.Name, ns.Kind)
}

// DeleteNamespace removes namespace name; members and robots go by cascade.
func (s *Store) DeleteNamespace(ctx context.Context, name string) error {
	return s.change(ctx, "delete namespace "+name, `DELETE FROM namespaces WHERE name = $1`, name)
}

// PutMember adds m or changes its role, keeping the time it first joined.
func (s *Store) PutMember(ctx context.Context, m meta.Member) error {
	_, err := s.exec(ctx, `INSERT INTO members (namespace, user_name, role, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (namespace, user_name) DO UPDATE SET role = excluded.role`,
		m.Namespace, m.User, m.Role, orNow(m.CreatedAt))
	if err != nil {
		return fmt.Errorf("put member %s of %s: %w", m.User, m.Namespace, err)
	}
	return nil
}

func scanMember(row Row) (meta.Member, error) {
	var m meta.Member
	err := row.Scan(&m.Namespace, &m.User, &m.Role, &m.CreatedAt)
	return m, err
}

// Member returns the membership of user in namespace, or ErrNotFound.
func (s *Store) Member(ctx context.Context, namespace, user string) (meta.Member, error) {
	m, err := scanMember(s.db.QueryRow(ctx, qMember, namespace, user))
	if err != nil {
		return meta.Member{}, s.notFound(err, "member %s of %s", user, namespace)
	}
	return m, nil
}

// Members lists the members of namespace by user name.
func (s *Store) Members(ctx context.Context, namespace string) ([]meta.Member, error) {
	ms, err := collect(ctx, s.db, scanMember,
		`SELECT `+memberColumns+` FROM members WHERE namespace = $1 ORDER BY user_name`, namespace)
	if err != nil {
		return nil, s.wrap(err, "members of %s", namespace)
	}
	return ms, nil
}

// Memberships lists the memberships of user by namespace.
func (s *Store) Memberships(ctx context.Context, user string) ([]meta.Member, error) {
	ms, err := collect(ctx, s.db, scanMember,
		`SELECT `+memberColumns+` FROM members WHERE user_name = $1 ORDER BY namespace`, user)
	if err != nil {
		return nil, s.wrap(err, "memberships of %s", user)
	}
	return ms, nil
}

// DeleteMember removes user from namespace; ErrNotFound if not a member.
func (s *Store) DeleteMember(ctx context.Context, namespace, user string) error {
	return s.change(ctx, fmt.Sprintf("delete member %s of %s", user, namespace),
		`DELETE FROM members WHERE namespace = $1 AND user_name = $2`, namespace, user)
}

func scanSigningKey(row Row) (meta.SigningKey, error) {
	var k meta.SigningKey
	var retired *time.Time
	err := row.Scan(&k.ID, &k.PrivatePEM, &k.CreatedAt, &retired)
	k.RetiredAt = fromNull(retired)
	return k, err
}

// SigningKeys lists every signing key, retired or not, oldest first.
func (s *Store) SigningKeys(ctx context.Context) ([]meta.SigningKey, error) {
	ks, err := collect(ctx, s.db, scanSigningKey,
		`SELECT id, private_pem, created_at, retired_at FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, s.wrap(err, "signing keys")
	}
	return ks, nil
}

// AddSigningKey records k; ErrConflict if its ID is taken.
func (s *Store) AddSigningKey(ctx context.Context, k meta.SigningKey) error {
	_, err := s.exec(ctx, `INSERT INTO signing_keys (id, private_pem, created_at, retired_at) VALUES ($1, $2, $3, $4)`,
		k.ID, k.PrivatePEM, orNow(k.CreatedAt), nullTime(k.RetiredAt))
	if err != nil {
		return fmt.Errorf("add signing key %s: %w", k.ID, err)
	}
	return nil
}

// RetireSigningKey marks key id retired at at, keeping an earlier retirement.
func (s *Store) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	return s.change(ctx, "retire signing key "+id,
		`UPDATE signing_keys SET retired_at = COALESCE(retired_at, $1) WHERE id = $2`, orNow(at), id)
}
