package meta

import (
	"context"
	"time"
)

// User is a local account.
type User struct {
	Name         string
	PasswordHash string // bcrypt; empty for an account that cannot log in with a password
	Admin        bool   // a system administrator: may do everything everywhere
	Disabled     bool   // may not log in; its tokens stop working
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Namespace is the first path component of repository names ("team-a" of
// "team-a/app"), the unit of membership and visibility.
type Namespace struct {
	Name   string
	Public bool // anyone, anonymous included, may pull
	// Kind is what the namespace is for: NamespaceGeneral or
	// NamespaceProxy, kept as text the store does not interpret; ""
	// creates a general namespace.
	Kind      string
	CreatedAt time.Time
}

// Member gives a user a role in a namespace. Role is an auth role name
// ("admin", "maintainer", "developer", "ci", "readonly"); the store keeps it
// as text and does not interpret it.
type Member struct {
	Namespace string
	User      string
	Role      string
	CreatedAt time.Time
}

// The kinds of [Token].
const (
	TokenPersonal = "personal" // a personal access token, acting for user Owner
	TokenRobot    = "robot"    // a robot account of namespace Owner
	TokenRefresh  = "refresh"  // an OAuth2 refresh token of user Owner
)

// Token is an opaque credential: a personal access token, a robot account or
// a refresh token. Only the hash of its secret is stored.
type Token struct {
	ID     string // public identifier, unique, shown in listings
	Kind   string // TokenPersonal, TokenRobot or TokenRefresh
	Name   string // chosen by the owner; unique per (Kind, Owner)
	Owner  string // user name, or namespace name for a robot
	Hash   string // hex SHA-256 of the secret (auth.HashSecret); unique
	Scopes []byte // JSON of the token's scopes, as the caller encoded them; the store does not interpret it
	// ExpiresAt, LastUsedAt and RevokedAt are zero when unset.
	ExpiresAt  time.Time
	LastUsedAt time.Time
	RevokedAt  time.Time
	CreatedAt  time.Time
}

// SigningKey is a private key the token service signs with. The newest key
// that is not retired signs; every key not retired verifies.
type SigningKey struct {
	ID         string // key id ("kid")
	PrivatePEM []byte
	CreatedAt  time.Time
	RetiredAt  time.Time // zero while the key is in use
}

// AuditEvent is an event as the audit log shows it: who did what, to
// what, from where, and how it went ([Event]'s audit columns).
type AuditEvent struct {
	ID     int64     // the event's Seq
	At     time.Time // when it happened
	Actor  string    // e.g. "user:alice", "robot:ci+builder", "anonymous"
	Client string    // client address
	Action string    // e.g. "login", "push", "pull", "delete", "token.create", "member.put"
	Target string    // e.g. "team-a/app:v1", "team-a/app@sha256:...", "user:bob"
	Result string    // "ok", "denied" or "failed"
	Detail string    // free text: an error, a role, a scope
}

// AuditQuery selects audit events, newest first. Zero fields do not filter.
type AuditQuery struct {
	Actor        string
	Action       string
	TargetPrefix string // events whose Target starts with it
	Result       string
	Since, Until time.Time // At >= Since and At < Until
	BeforeID     int64     // only events with ID < BeforeID: the cursor of the next page
	N            int       // at most N events; 0 means 100
}

// Access is the part of the metadata store that records who may do what:
// users, namespaces and members, tokens, signing keys and the audit log.
// Each method is its own transaction, but UpdateAccess, which runs several
// in one. Backends implement it beside [Store]
// and must pass metatest.RunAccess. An Update function must not call these
// methods: the SQLite backend has one writer, which the Update holds.
//
// Zero times are stored as "unset" (ExpiresAt, LastUsedAt, RevokedAt,
// RetiredAt) or as now (CreatedAt, UpdatedAt, At, and the times passed to
// RevokeToken, TouchToken and RetireSigningKey). Deleting a user deletes its
// memberships and its personal and refresh tokens; deleting a namespace its
// members and robots: the schema cascades, so no caller can forget.
//
// Errors: ErrNotFound for a missing user, namespace, member or token;
// ErrConflict for a create whose name (or token hash) is taken; ErrUnavailable
// as for [Store].
type Access interface {
	CreateUser(ctx context.Context, u User) error
	User(ctx context.Context, name string) (User, error)
	Users(ctx context.Context, p Page) ([]User, error) // sorted by name
	// UpdateUser replaces the password hash, admin and disabled flags of the
	// user u.Name and sets its UpdatedAt.
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser removes the user, its memberships and its tokens.
	DeleteUser(ctx context.Context, name string) error
	CountUsers(ctx context.Context) (int, error)

	CreateNamespace(ctx context.Context, ns Namespace) error
	Namespace(ctx context.Context, name string) (Namespace, error)
	Namespaces(ctx context.Context, p Page) ([]Namespace, error) // sorted by name
	UpdateNamespace(ctx context.Context, ns Namespace) error     // replaces Public, and Kind unless ""
	// DeleteNamespace removes the namespace, its members and its robots; the
	// repositories in it are the caller's business.
	DeleteNamespace(ctx context.Context, name string) error

	// PutMember adds a member or changes its role; ErrNotFound if the user or
	// namespace does not exist.
	PutMember(ctx context.Context, m Member) error
	Member(ctx context.Context, namespace, user string) (Member, error)
	Members(ctx context.Context, namespace string) ([]Member, error) // sorted by user
	Memberships(ctx context.Context, user string) ([]Member, error)  // sorted by namespace
	DeleteMember(ctx context.Context, namespace, user string) error

	// CreateToken records t; ErrConflict if its ID, its hash or its name
	// (per kind and owner) is taken, ErrNotFound if its owner (a user, or a
	// namespace for a robot) does not exist.
	CreateToken(ctx context.Context, t Token) error
	Token(ctx context.Context, id string) (Token, error)
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// Tokens lists the tokens of kind owned by owner, sorted by name.
	Tokens(ctx context.Context, kind, owner string) ([]Token, error)
	// RevokeToken marks token id revoked at at; a token revoked already
	// keeps its first revocation time.
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// TouchToken records that token id was used at at; an at older than the
	// recorded time changes nothing, so late writes never move it back.
	// Callers may coalesce or drop touches under load; a failed touch must
	// not fail the request that used the token.
	TouchToken(ctx context.Context, id string, at time.Time) error
	DeleteToken(ctx context.Context, id string) error
	// PruneTokens deletes the tokens that expired, or were revoked, before
	// before, and returns how many. Refresh tokens pile up with every
	// docker login; a periodic job calls this with a grace period so that
	// listings still show recently dead tokens.
	PruneTokens(ctx context.Context, before time.Time) (int, error)

	SigningKeys(ctx context.Context) ([]SigningKey, error) // oldest first
	AddSigningKey(ctx context.Context, k SigningKey) error // ErrConflict if k.ID is taken
	// RetireSigningKey marks key id retired at at, keeping an earlier
	// retirement.
	RetireSigningKey(ctx context.Context, id string, at time.Time) error

	// Audit returns the audit log's view of the event stream, the events
	// q selects, newest (highest ID) first. TargetPrefix is a plain
	// prefix: % and _ are not patterns.
	Audit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)

	// UpdateAccess runs fn in one write transaction over the access tables
	// (an account operation and its event), committed if fn returns nil
	// and rolled back otherwise. As with [Store.Update], fn may run more
	// than once, so it must have no effect outside the transaction, and it
	// must not call UpdateAccess, Update or the other methods of Access;
	// after a method of the AccessTx returns an error other than
	// ErrNotFound or ErrConflict the transaction may be unusable.
	UpdateAccess(ctx context.Context, fn func(AccessTx) error) error
}
