package events

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NamespaceCreated: a namespace was created, by the management API or by a
// push into a namespace that did not exist (auth.createNamespaces).
type NamespaceCreated struct {
	Public bool   `json:"public"`
	Admin  string `json:"admin,omitempty"`  // the user made its admin, if any
	Push   string `json:"push,omitempty"`   // the repository whose push created it, if one did
	Source string `json:"source,omitempty"` // the identity source whose group mapping created it, if one did
}

func (NamespaceCreated) Kind() Kind { return KindNamespaceCreated }

func (d NamespaceCreated) Audit(e *Event) Audit {
	detail := "public=" + strconv.FormatBool(d.Public)
	if d.Push != "" {
		detail += ", by push to " + d.Push
	}
	if d.Source != "" {
		detail += ", by " + d.Source + " group mapping"
	}
	return Audit{Action: "namespace.create", Target: e.Namespace, Detail: detail}
}

// NamespaceUpdated: a namespace's visibility changed.
type NamespaceUpdated struct {
	Public bool `json:"public"`
}

func (NamespaceUpdated) Kind() Kind { return KindNamespaceUpdated }

func (d NamespaceUpdated) Audit(e *Event) Audit {
	return Audit{Action: "namespace.update", Target: e.Namespace, Detail: "public=" + strconv.FormatBool(d.Public)}
}

// NamespaceDeleted: a namespace was deleted, with its members, robots and
// webhooks (its repositories stay).
type NamespaceDeleted struct{}

func (NamespaceDeleted) Kind() Kind { return KindNamespaceDeleted }

func (NamespaceDeleted) Audit(e *Event) Audit {
	return Audit{Action: "namespace.delete", Target: e.Namespace}
}

// MemberSet: a user was made a member of a namespace, or its role changed.
type MemberSet struct {
	User     string `json:"user"`
	Role     string `json:"role"`
	Previous string `json:"previous,omitempty"` // the role before, if it was a member
	Source   string `json:"source,omitempty"`   // the identity source whose groups map to the role, if they do
}

func (MemberSet) Kind() Kind { return KindMemberSet }

func (d MemberSet) Audit(e *Event) Audit {
	detail := "role=" + d.Role
	if d.Source != "" {
		detail += " (by " + d.Source + " groups)"
	}
	return Audit{Action: "member.put", Target: e.Namespace + ":" + d.User, Detail: detail}
}

// MemberRemoved: a user stopped being a member of a namespace.
type MemberRemoved struct {
	User   string `json:"user"`
	Role   string `json:"role,omitempty"`
	Source string `json:"source,omitempty"` // the identity source whose groups no longer map to the role, if so
}

func (MemberRemoved) Kind() Kind { return KindMemberRemoved }

func (d MemberRemoved) Audit(e *Event) Audit {
	a := Audit{Action: "member.delete", Target: e.Namespace + ":" + d.User}
	if d.Source != "" {
		a.Detail = "by " + d.Source + " groups"
	}
	return a
}

// UserCreated: an account was created: by an administrator, from an
// htpasswd file (Imported), or by the first sign-in of a user of an
// identity source (Source: "ldap", "oidc", ...).
type UserCreated struct {
	User     string `json:"user"`
	Admin    bool   `json:"admin,omitempty"`
	Imported bool   `json:"imported,omitempty"`
	Source   string `json:"source,omitempty"`
}

func (UserCreated) Kind() Kind { return KindUserCreated }

func (d UserCreated) Audit(*Event) Audit {
	if d.Imported {
		return Audit{Action: "user.create", Target: "user:" + d.User, Detail: "imported from htpasswd"}
	}
	if d.Source != "" {
		detail := "by " + d.Source + " sign-in"
		if d.Admin {
			detail += ", admin"
		}
		return Audit{Action: "user.create", Target: "user:" + d.User, Detail: detail}
	}
	return Audit{Action: "user.create", Target: "user:" + d.User, Detail: adminDetail(d.Admin)}
}

// UserUpdated: an account's password, administrator or disabled flag
// changed; Changes says which ("password", "admin=true", "disabled=false").
// Source is the identity source that changed it, if one did: by the
// groups of a sign-in, or, with Reason, by the periodic check that
// suspended the account.
type UserUpdated struct {
	User     string   `json:"user"`
	Changes  []string `json:"changes"`
	Admin    bool     `json:"admin"`
	Disabled bool     `json:"disabled"`
	Imported bool     `json:"imported,omitempty"`
	Source   string   `json:"source,omitempty"`
	Reason   string   `json:"reason,omitempty"`
}

func (UserUpdated) Kind() Kind { return KindUserUpdated }

func (d UserUpdated) Audit(*Event) Audit {
	detail := strings.Join(d.Changes, " ")
	switch {
	case d.Imported:
		detail += " (imported from htpasswd)"
	case d.Source != "" && d.Reason != "":
		detail += " (suspended by the " + d.Source + " check: " + d.Reason + ")"
	case d.Source != "":
		detail += " (by " + d.Source + " groups)"
	}
	return Audit{Action: "user.update", Target: "user:" + d.User, Detail: detail}
}

// UsersImported: an htpasswd file was imported: each user it created or
// updated has its own user.created or user.updated event besides.
type UsersImported struct {
	Created int `json:"created"`
	Updated int `json:"updated"`
	Skipped int `json:"skipped"` // existed, and updating was not asked for
	Refused int `json:"refused"` // entries that could not be imported
}

func (UsersImported) Kind() Kind { return KindUsersImported }

func (d UsersImported) Audit(*Event) Audit {
	return Audit{Action: "user.import", Target: "htpasswd",
		Detail: fmt.Sprintf("%d created, %d updated, %d skipped, %d refused", d.Created, d.Updated, d.Skipped, d.Refused)}
}

// UserDeleted: an account was deleted, with its memberships and tokens.
type UserDeleted struct {
	User string `json:"user"`
}

func (UserDeleted) Kind() Kind { return KindUserDeleted }

func (d UserDeleted) Audit(*Event) Audit {
	return Audit{Action: "user.delete", Target: "user:" + d.User}
}

func adminDetail(admin bool) string {
	if admin {
		return "admin"
	}
	return ""
}

// TokenCreated: a personal access token was created. Its secret is never
// part of an event.
type TokenCreated struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Owner     string    `json:"owner"`
	Scopes    []string  `json:"scopes"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

func (TokenCreated) Kind() Kind { return KindTokenCreated }

func (d TokenCreated) Audit(*Event) Audit {
	return Audit{Action: "token.create", Target: "user:" + d.Owner + "/token:" + d.Name, Detail: strings.Join(d.Scopes, " ")}
}

// TokenRevoked: a personal access token was revoked.
type TokenRevoked struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Owner string `json:"owner"`
}

func (TokenRevoked) Kind() Kind { return KindTokenRevoked }

func (d TokenRevoked) Audit(*Event) Audit {
	return Audit{Action: "token.revoke", Target: "user:" + d.Owner + "/token:" + d.ID}
}

// RobotCreated: a robot account of a namespace was created.
type RobotCreated struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"` // NAMESPACE+NAME, as it logs in
	Scopes    []string  `json:"scopes"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

func (RobotCreated) Kind() Kind { return KindRobotCreated }

func (d RobotCreated) Audit(*Event) Audit {
	return Audit{Action: "robot.create", Target: "robot:" + d.Name, Detail: strings.Join(d.Scopes, " ")}
}

// RobotRevoked: a robot account was revoked.
type RobotRevoked struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

func (RobotRevoked) Kind() Kind { return KindRobotRevoked }

func (d RobotRevoked) Audit(e *Event) Audit {
	return Audit{Action: "robot.revoke", Target: e.Namespace + "/robot:" + d.ID}
}

// LoginSucceeded: credentials were checked and accepted (once per
// credential check, not per request: a bearer token is not a login).
// Source is who vouched: "local" (wharf's own accounts and tokens),
// "ldap", "oidc", "workload".
type LoginSucceeded struct {
	Method string `json:"method,omitempty"` // "password", "token", "refresh token"
	Source string `json:"source,omitempty"`
}

func (LoginSucceeded) Kind() Kind { return KindLoginSucceeded }

func (d LoginSucceeded) Audit(*Event) Audit {
	var parts []string
	if d.Source != "" {
		parts = append(parts, "source="+d.Source)
	}
	if d.Method != "" && d.Method != "password" {
		parts = append(parts, d.Method)
	}
	return Audit{Action: "login", Detail: strings.Join(parts, ", ")}
}

// LoginFailed: credentials were refused; Locked when the login limiter
// refused them without checking.
type LoginFailed struct {
	User   string `json:"user,omitempty"` // the name given, cut to 128 bytes
	Source string `json:"source,omitempty"`
	Reason string `json:"reason"`
	Locked bool   `json:"locked,omitempty"`
}

func (LoginFailed) Kind() Kind { return KindLoginFailed }

func (d LoginFailed) Audit(*Event) Audit {
	a := Audit{Action: "login", Result: "failed", Detail: d.Reason}
	if d.Source != "" && d.Source != "local" {
		a.Detail = "source=" + d.Source + ": " + d.Reason
	}
	if d.Locked {
		a.Result = "denied"
	}
	return a
}

// SessionStarted: a web session began, after a sign-in with Source.
type SessionStarted struct {
	ID     string `json:"id"`
	User   string `json:"user"`
	Source string `json:"source,omitempty"`
}

func (SessionStarted) Kind() Kind { return KindSessionStarted }

func (d SessionStarted) Audit(*Event) Audit {
	return Audit{Action: "session.start", Target: d.ID, Detail: "source=" + d.Source}
}

// SessionEnded: a web session was signed out.
type SessionEnded struct {
	ID   string `json:"id"`
	User string `json:"user"`
}

func (SessionEnded) Kind() Kind { return KindSessionEnded }

func (d SessionEnded) Audit(*Event) Audit { return Audit{Action: "session.end", Target: d.ID} }

// AccessDenied: an authenticated caller was refused an action its role or
// scopes do not allow. Action is what it tried, in the audit log's words
// ("push", "pull", "tag.delete", "member.put", ...).
type AccessDenied struct {
	Action string `json:"action"`
	Target string `json:"target"`
	Reason string `json:"reason,omitempty"`
}

func (AccessDenied) Kind() Kind { return KindAccessDenied }

func (d AccessDenied) Audit(*Event) Audit {
	return Audit{Action: d.Action, Target: d.Target, Result: "denied", Detail: d.Reason}
}

// RequestFailed: a management change was refused for another reason than
// access (bad input, a conflict, something not found).
type RequestFailed struct {
	Action string `json:"action"`
	Target string `json:"target"`
	Code   string `json:"code"`
	Reason string `json:"reason,omitempty"`
}

func (RequestFailed) Kind() Kind { return KindRequestFailed }

func (d RequestFailed) Audit(*Event) Audit {
	return Audit{Action: d.Action, Target: d.Target, Result: "failed", Detail: d.Reason}
}

// KeyRotated: a new token signing key signs from now on.
type KeyRotated struct {
	ID string `json:"id"`
}

func (KeyRotated) Kind() Kind { return KindKeyRotated }

func (d KeyRotated) Audit(*Event) Audit { return Audit{Action: "key.rotate", Target: d.ID} }

// KeyRetired: a token signing key stopped verifying.
type KeyRetired struct {
	ID string `json:"id"`
}

func (KeyRetired) Kind() Kind { return KindKeyRetired }

func (d KeyRetired) Audit(*Event) Audit { return Audit{Action: "key.retire", Target: d.ID} }

// WebhookChanged: a webhook subscription was created, updated, deleted or
// given a new secret ("secret"). Its secret is never part of an event.
type WebhookChanged struct {
	Change       string   `json:"change"`
	ID           int64    `json:"id"`
	Name         string   `json:"name"`
	URL          string   `json:"url,omitempty"`
	Format       string   `json:"format,omitempty"`
	Kinds        []string `json:"kinds,omitempty"`
	Repositories []string `json:"repositories,omitempty"`
	Enabled      bool     `json:"enabled"`
}

func (WebhookChanged) Kind() Kind { return KindWebhookChanged }

func (d WebhookChanged) Audit(e *Event) Audit {
	target := "webhook:" + d.Name
	if e.Namespace != "" {
		target = e.Namespace + "/" + target
	}
	return Audit{Action: "webhook." + strings.TrimSuffix(d.Change, "d"), Target: target, Detail: d.URL}
}

// Ping is the test event a webhook is sent on request; it is never stored.
type Ping struct {
	Webhook int64  `json:"webhook"`
	Name    string `json:"name"`
}

func (Ping) Kind() Kind { return KindPing }

func (d Ping) Audit(*Event) Audit { return Audit{Action: "webhook.ping", Target: "webhook:" + d.Name} }
