package meta

import (
	"context"
	"time"
)

// The sources of an [ExternalIdentity].
const (
	SourceLDAP = "ldap"
	SourceOIDC = "oidc"
)

// ExternalIdentity links a user to the LDAP directory or OIDC provider that
// vouches for it. A user without one is a local account.
type ExternalIdentity struct {
	User    string
	Source  string // SourceLDAP or SourceOIDC
	Subject string // the entry's DN, or the provider's issuer, a space, and "sub"; unique per source
	Email   string
	Groups  []string // as the source gave them at the last check
	// Granted is the JSON of the memberships the group mappings granted at
	// the last check, so the next check can take back what it no longer
	// grants without touching memberships given by hand. The store does not
	// interpret it.
	Granted []byte
	// Suspended is set when a check found the user removed or disabled at
	// the source: the user was disabled for it, and is enabled again when
	// the source vouches for it anew. A user disabled by an administrator
	// is not suspended, and stays disabled.
	Suspended bool
	// RefreshToken is the provider's refresh token, sealed by the caller;
	// nil if none.
	RefreshToken []byte
	CheckedAt    time.Time // when the source last vouched for the user
	CreatedAt    time.Time
}

// WebSession is a browser's signed-in session. Only the hash of the
// cookie's secret is kept.
type WebSession struct {
	Hash       string // hex SHA-256 of the cookie's secret
	ID         string // public identifier
	User       string
	Source     string // how the user signed in: "local", "ldap", "oidc"
	CSRF       string // the session's token for forms
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// LoginState is a login in progress at an identity provider: a browser
// sent there, or a device waiting for its user. Data is the caller's.
type LoginState struct {
	Hash      string // hex SHA-256 of the state parameter or device handle
	Data      []byte
	ExpiresAt time.Time
}

// Identities is the part of the metadata store that keeps company sign-in:
// external identities, web sessions and logins in progress. Each method is
// its own transaction; backends implement it beside [Access].
//
// Errors: ErrNotFound for a missing row; ErrConflict for a subject another
// user holds or a taken session; ErrUnavailable as for [Store].
type Identities interface {
	// ExternalIdentity returns the identity of user.
	ExternalIdentity(ctx context.Context, user string) (ExternalIdentity, error)
	// ExternalIdentityBySubject returns the identity source and subject name.
	ExternalIdentityBySubject(ctx context.Context, source, subject string) (ExternalIdentity, error)
	// ExternalIdentities lists the identities of source, sorted by user,
	// after p.Last.
	ExternalIdentities(ctx context.Context, source string, p Page) ([]ExternalIdentity, error)
	// PutExternalIdentity creates or replaces the identity of id.User
	// (which must exist: ErrNotFound otherwise).
	PutExternalIdentity(ctx context.Context, id ExternalIdentity) error

	CreateWebSession(ctx context.Context, s WebSession) error
	WebSession(ctx context.Context, hash string) (WebSession, error)
	// TouchWebSession moves the session's LastSeenAt forward to at.
	TouchWebSession(ctx context.Context, hash string, at time.Time) error
	DeleteWebSession(ctx context.Context, hash string) error
	// DeleteUserWebSessions ends every session of user, and returns how
	// many there were.
	DeleteUserWebSessions(ctx context.Context, user string) (int, error)
	// PruneWebSessions deletes the sessions that expired before before or
	// were last seen before idleBefore, and returns how many.
	PruneWebSessions(ctx context.Context, before, idleBefore time.Time) (int, error)

	PutLoginState(ctx context.Context, s LoginState) error
	LoginState(ctx context.Context, hash string) (LoginState, error)
	// TakeLoginState returns the state and deletes it, so that it is used
	// once: ErrNotFound if it is gone (used, or never made).
	TakeLoginState(ctx context.Context, hash string) (LoginState, error)
	// PruneLoginStates deletes the states that expired before before.
	PruneLoginStates(ctx context.Context, before time.Time) (int, error)
}

// IdentityTx is the part of an [AccessTx] that writes external
// identities, so that provisioning a user (the account, its memberships,
// its identity and the record of it) is one transaction. An AccessTx that
// lacks it is written statement by statement.
type IdentityTx interface {
	ExternalIdentity(ctx context.Context, user string) (ExternalIdentity, error)
	PutExternalIdentity(ctx context.Context, id ExternalIdentity) error
}
