package access

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// Company sign-in. An LDAP directory or an OIDC provider (a *source*)
// vouches for a user; the first time it does, the service provisions the
// user: an account without a password, linked to the source's subject, so
// that a second source, or a later user of the same name, can never take it
// over. At every sign-in (and every periodic check, see [Service.CheckIdentities])
// the source's groups are mapped again: the administrator flag and the
// memberships the mappings grant follow the groups, and what a mapping
// granted before and no longer grants is taken back. Memberships given by
// hand are left alone.

// The sources of a sign-in, as the audit log names them.
const (
	SourceLocal    = "local"
	SourceLDAP     = meta.SourceLDAP
	SourceOIDC     = meta.SourceOIDC
	SourceWorkload = "workload"
)

// Identity is who a source says signed in.
type Identity struct {
	Source  string // SourceLDAP or SourceOIDC
	Subject string // the entry's DN, or the provider's issuer, a space, and "sub"
	// Name is the user name the identity signs in as; a user provisioned
	// earlier keeps its name, found by Subject.
	Name   string
	Email  string
	Groups []string
	// RefreshToken is the provider's refresh token, sealed by the source,
	// for its periodic check; nil keeps the one stored.
	RefreshToken []byte
}

// GroupRole maps the members of a group to a role in a namespace.
type GroupRole struct {
	Group     string
	Namespace string
	Role      auth.Role
}

// Mapping turns a source's groups into wharf's rights.
type Mapping struct {
	// AdminGroups make their members system administrators. When set, the
	// source decides: a user in none of them is not one (even if made one
	// by hand). When empty, the administrator flag is left to the
	// administrators of wharf.
	AdminGroups []string
	// Roles give the members of groups roles in namespaces; a namespace a
	// mapping names is created (private) if it does not exist. A user in
	// several groups mapped to one namespace gets the most powerful role.
	Roles []GroupRole
	// FoldCase compares group names without regard to case, as LDAP does.
	FoldCase bool
}

// roles returns the role each namespace gets from groups, and whether
// groups make an administrator.
func (m Mapping) evaluate(groups []string) (admin bool, roles map[string]auth.Role) {
	in := func(g string) bool {
		return slices.ContainsFunc(groups, func(x string) bool {
			if m.FoldCase {
				return strings.EqualFold(x, g)
			}
			return x == g
		})
	}
	for _, g := range m.AdminGroups {
		admin = admin || in(g)
	}
	roles = map[string]auth.Role{}
	for _, gr := range m.Roles {
		if !in(gr.Group) {
			continue
		}
		if cur, ok := roles[gr.Namespace]; !ok || roleRank(gr.Role) < roleRank(cur) {
			roles[gr.Namespace] = gr.Role
		}
	}
	return admin, roles
}

// roleRank is r's place in auth.Roles, most powerful first.
func roleRank(r auth.Role) int { return slices.Index(auth.Roles(), r) }

// IdentitySource is a directory or provider that vouches for users: the
// LDAP authenticator (internal/access/ldap) or the OIDC provider
// (internal/access/oidc).
type IdentitySource interface {
	// Source is SourceLDAP or SourceOIDC.
	Source() string
	// Mapping turns the source's groups into rights.
	Mapping() Mapping
	// Check asks the source again about a user it vouched for: its
	// identity now, ErrIdentityGone if the source removed or disabled it,
	// or a *SourceUnavailableError.
	Check(ctx context.Context, id meta.ExternalIdentity) (Identity, error)
}

// PasswordSource is an IdentitySource that checks passwords: LDAP.
type PasswordSource interface {
	IdentitySource
	// Authenticate returns the identity user signs in as with password: a
	// *SourceRefusal when the source refuses them, or a
	// *SourceUnavailableError. It never binds without a password.
	Authenticate(ctx context.Context, user, password string) (Identity, error)
}

// ErrIdentityGone: the source no longer knows the user, or disabled it.
var ErrIdentityGone = errors.New("the identity source removed or disabled the user")

// ErrNotChecked: the source cannot say anything of the user now (an OIDC
// user without a refresh token, within auth.oidc.maxAge); the user keeps
// what it has.
var ErrNotChecked = errors.New("the identity source cannot be asked about the user")

// SourceRefusal is a source's refusal of credentials, with why for the
// audit log and the metrics; errors.Is(err, ErrUnauthenticated) holds.
type SourceRefusal struct {
	Reason AuthFailure
	Detail string
}

func (e *SourceRefusal) Error() string { return e.Detail }

// Unwrap makes a refusal an ErrUnauthenticated.
func (e *SourceRefusal) Unwrap() error { return ErrUnauthenticated }

// SourceUnavailableError says that an identity source could not be asked:
// the edges answer 503, so that a client retries rather than takes its
// credentials for wrong.
type SourceUnavailableError struct {
	Source string // "LDAP directory", "OIDC provider"
	Err    error
}

func (e *SourceUnavailableError) Error() string {
	return fmt.Sprintf("the %s is unavailable: %v", e.Source, e.Err)
}

func (e *SourceUnavailableError) Unwrap() error { return e.Err }

// grantedRole is one membership a mapping granted, as
// meta.ExternalIdentity.Granted keeps them.
type grantedRole struct {
	Namespace string    `json:"namespace"`
	Role      auth.Role `json:"role"`
}

// SignIn provisions or updates the user a source vouches for, as it signs
// in from client, and returns its principal. The account, its memberships
// and its identity change in one transaction. It refuses (an *Error, kind
// ErrDenied or ErrConflict, recorded as a failed sign-in) a user disabled
// by an administrator, and a name held by a local account or by another
// subject.
func (s *Service) SignIn(ctx context.Context, src IdentitySource, id Identity, client string) (auth.Principal, error) {
	p, err := s.provision(ctx, src, id, false)
	if err != nil {
		var refusal *Error
		if errors.As(err, &refusal) {
			s.signInFailed(ctx, id.Source, id.Name, client, FailDisabled, refusal.Message)
		}
		return auth.Principal{}, err
	}
	s.signedIn(ctx, id.Source, "", p, client)
	return p, nil
}

// provision applies id to the store: creates the user if the source's
// subject is new, links it, maps its groups. check is set for a periodic
// check, which never creates a user.
func (s *Service) provision(ctx context.Context, src IdentitySource, id Identity, check bool) (auth.Principal, error) {
	if s.ids == nil {
		return auth.Principal{}, errors.New("the metadata store keeps no external identities")
	}
	now := s.now().UTC()
	name := id.Name
	prev, err := s.ids.ExternalIdentityBySubject(ctx, id.Source, id.Subject)
	switch {
	case err == nil:
		name = prev.User // the subject signs in as the user it was provisioned as
	case errors.Is(err, meta.ErrNotFound):
		if check {
			return auth.Principal{}, fmt.Errorf("%s identity %q: %w", id.Source, id.Subject, ErrIdentityGone)
		}
		if err := ValidateUserName(name); err != nil {
			return auth.Principal{}, denied("the %s user name %q cannot be a wharf user name: %v", id.Source, truncate(name), err)
		}
		prev = meta.ExternalIdentity{User: name, Source: id.Source, Subject: id.Subject, CreatedAt: now}
	default:
		return auth.Principal{}, fmt.Errorf("look up %s identity: %w", id.Source, err)
	}
	admin, roles := src.Mapping().evaluate(id.Groups)
	decidesAdmin := len(src.Mapping().AdminGroups) > 0
	var u meta.User
	err = s.update(ctx, func(tx meta.AccessTx) error {
		var err error
		if u, err = s.provisionUser(ctx, tx, prev, id, name, admin, decidesAdmin, now); err != nil {
			return err
		}
		granted, err := s.mapMemberships(ctx, tx, prev, name, id.Source, roles, now)
		if err != nil {
			return err
		}
		next := prev
		next.Email, next.Groups, next.Granted, next.Suspended, next.CheckedAt = id.Email, id.Groups, granted, false, now
		if id.RefreshToken != nil {
			next.RefreshToken = id.RefreshToken
		}
		if itx, ok := tx.(meta.IdentityTx); ok {
			return itx.PutExternalIdentity(ctx, next)
		}
		return s.ids.PutExternalIdentity(ctx, next)
	})
	if err != nil {
		return auth.Principal{}, err
	}
	return auth.Principal{Kind: auth.KindUser, Name: u.Name, SystemAdmin: u.Admin, At: now}, nil
}

// provisionUser creates or updates the account of a signing-in identity.
func (s *Service) provisionUser(ctx context.Context, tx meta.AccessTx, prev meta.ExternalIdentity, id Identity, name string, admin, decidesAdmin bool, now time.Time) (meta.User, error) {
	by := Caller{Principal: auth.Principal{Kind: auth.KindUser, Name: name}}
	u, err := tx.User(ctx, name)
	if errors.Is(err, meta.ErrNotFound) {
		if !prev.CheckedAt.IsZero() {
			// The identity was provisioned, and its user deleted since: an
			// administrator removed it, the cascade took the identity; the
			// row read before the transaction is stale.
			return u, conflict("user %s was deleted while signing in; sign in again", name)
		}
		u = meta.User{Name: name, Admin: decidesAdmin && admin, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateUser(ctx, u); err != nil {
			return u, storeError(err, "user "+name)
		}
		return u, s.change(by, "user.create", "user:"+name).record(ctx, tx, &events.UserCreated{User: name, Admin: u.Admin, Source: id.Source})
	}
	if err != nil {
		return u, storeError(err, "user "+name)
	}
	if prev.CheckedAt.IsZero() {
		// A user of this name exists, and this subject was never linked to
		// it: a local account, or another source's user.
		return u, conflict("user name %s is taken by an account that %s did not provision; an administrator must rename or delete it first", name, id.Source)
	}
	if u.Disabled && !prev.Suspended {
		return u, denied("account %s is disabled", name)
	}
	var changes []string
	if u.Disabled {
		u.Disabled = false
		changes = append(changes, "disabled=false")
	}
	if decidesAdmin && u.Admin != admin {
		u.Admin = admin
		changes = append(changes, fmt.Sprintf("admin=%t", admin))
	}
	if len(changes) == 0 {
		return u, nil
	}
	u.UpdatedAt = now
	if err := tx.UpdateUser(ctx, u); err != nil {
		return u, storeError(err, "user "+name)
	}
	return u, s.change(by, "user.update", "user:"+name).record(ctx, tx,
		&events.UserUpdated{User: name, Changes: changes, Admin: u.Admin, Disabled: u.Disabled, Source: id.Source})
}

// mapMemberships gives user the roles its groups map to, and takes back
// the memberships prev.Granted records that they no longer map to. It
// returns the new Granted.
func (s *Service) mapMemberships(ctx context.Context, tx meta.AccessTx, prev meta.ExternalIdentity, user, source string, roles map[string]auth.Role, now time.Time) ([]byte, error) {
	by := Caller{Principal: auth.Principal{Kind: auth.KindUser, Name: user}}
	var before []grantedRole
	if len(prev.Granted) > 0 {
		if err := jsonUnmarshal(prev.Granted, &before); err != nil {
			return nil, fmt.Errorf("memberships granted to %s: %w", user, err)
		}
	}
	for _, g := range before {
		if _, ok := roles[g.Namespace]; ok {
			continue
		}
		m, err := tx.Member(ctx, g.Namespace, user)
		if errors.Is(err, meta.ErrNotFound) || (err == nil && auth.Role(m.Role) != g.Role) {
			continue // gone, or changed by hand since: no longer the mapping's
		}
		if err != nil {
			return nil, storeError(err, "member "+user+" of "+g.Namespace)
		}
		if err := tx.DeleteMember(ctx, g.Namespace, user); err != nil {
			return nil, storeError(err, "member "+user+" of "+g.Namespace)
		}
		if err := s.change(by, "member.delete", g.Namespace+":"+user).inNamespace(g.Namespace).record(ctx, tx,
			&events.MemberRemoved{User: user, Role: string(g.Role), Source: source}); err != nil {
			return nil, err
		}
	}
	var after []grantedRole
	for _, ns := range sortedKeys(roles) {
		role := roles[ns]
		after = append(after, grantedRole{Namespace: ns, Role: role})
		if _, err := tx.Namespace(ctx, ns); errors.Is(err, meta.ErrNotFound) {
			if err := tx.CreateNamespace(ctx, meta.Namespace{Name: ns, CreatedAt: now}); err != nil && !errors.Is(err, meta.ErrConflict) {
				return nil, storeError(err, "namespace "+ns)
			}
			if err := s.change(by, "namespace.create", ns).inNamespace(ns).record(ctx, tx, &events.NamespaceCreated{Source: source}); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, storeError(err, "namespace "+ns)
		}
		m, err := tx.Member(ctx, ns, user)
		if err == nil && auth.Role(m.Role) == role {
			continue
		}
		if err != nil && !errors.Is(err, meta.ErrNotFound) {
			return nil, storeError(err, "member "+user+" of "+ns)
		}
		if err := tx.PutMember(ctx, meta.Member{Namespace: ns, User: user, Role: string(role), CreatedAt: now}); err != nil {
			return nil, storeError(err, "member "+user+" of "+ns)
		}
		previous := ""
		if err == nil {
			previous = m.Role
		}
		if err := s.change(by, "member.put", ns+":"+user).inNamespace(ns).record(ctx, tx,
			&events.MemberSet{User: user, Role: string(role), Previous: previous, Source: source}); err != nil {
			return nil, err
		}
	}
	if after == nil {
		after = []grantedRole{}
	}
	return jsonMarshal(after)
}

// RecordSignInFailure records a sign-in that failed before the service
// was asked (a provider's refusal seen by the browser's callback), with
// its source and why, and counts it.
func (s *Service) RecordSignInFailure(ctx context.Context, source, user string, client netip.Addr, why string) {
	s.signInFailed(ctx, source, user, clientString(client), FailTokenInvalid, why)
}

// signedIn records a successful sign-in, its source and method (for a
// local login: "password" or "token").
func (s *Service) signedIn(ctx context.Context, source, method string, p auth.Principal, client string) {
	s.record(ctx, p.String(), client, &events.LoginSucceeded{Method: method, Source: source})
}

// signInFailed records a refused sign-in, its source and why, and counts it.
func (s *Service) signInFailed(ctx context.Context, source, user, client string, reason AuthFailure, why string) {
	actor := "anonymous"
	if user != "" {
		actor = "user:" + shortName(user)
	}
	s.record(ctx, actor, client, &events.LoginFailed{User: shortName(user), Source: source, Reason: why})
	s.failed(reason)
}
