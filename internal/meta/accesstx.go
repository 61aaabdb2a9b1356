package meta

import (
	"context"
	"time"
)

// AccessTx is one write transaction over the access tables: each account
// operation of the access service (create a user, a namespace with its
// admin, a token; change a role; ...) reads and writes through one, so it
// is all or nothing, and the event of the change commits with it. Its
// methods behave as [Access]'s of the same name.
type AccessTx interface {
	User(ctx context.Context, name string) (User, error)
	CreateUser(ctx context.Context, u User) error
	UpdateUser(ctx context.Context, u User) error
	DeleteUser(ctx context.Context, name string) error
	// EnabledAdmins returns the names of the system administrators that are
	// not disabled, sorted, and keeps them from changing until the
	// transaction ends: two transactions that each demote a different one
	// of the last two administrators cannot both see two.
	EnabledAdmins(ctx context.Context) ([]string, error)

	Namespace(ctx context.Context, name string) (Namespace, error)
	CreateNamespace(ctx context.Context, ns Namespace) error
	UpdateNamespace(ctx context.Context, ns Namespace) error
	DeleteNamespace(ctx context.Context, name string) error

	Member(ctx context.Context, namespace, user string) (Member, error)
	PutMember(ctx context.Context, m Member) error
	DeleteMember(ctx context.Context, namespace, user string) error

	Token(ctx context.Context, id string) (Token, error)
	CreateToken(ctx context.Context, t Token) error
	RevokeToken(ctx context.Context, id string, at time.Time) error

	AddSigningKey(ctx context.Context, k SigningKey) error
	RetireSigningKey(ctx context.Context, id string, at time.Time) error

	// AppendEvents records the events of the change, as
	// [EventWriter.AppendEvents].
	AppendEvents(ctx context.Context, events ...Event) error
}
