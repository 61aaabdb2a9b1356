package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// UserCreate is a new user.
type UserCreate struct {
	Name string
	// Password is checked against the password rules and stored hashed;
	// empty makes an account that logs in with access tokens only.
	Password string
	Admin    bool
}

// UserUpdate changes a user; nil fields keep their value.
type UserUpdate struct {
	Password *string // "" removes the password
	Admin    *bool
	Disabled *bool
}

// Users lists users, sorted by name. System administrators only.
func (s *Service) Users(ctx context.Context, c Caller, p meta.Page) ([]meta.User, error) {
	if err := s.accounts(); err != nil {
		return nil, err
	}
	if !c.SystemAdmin() {
		return nil, denied("listing users needs a system administrator")
	}
	us, err := s.store.Users(ctx, p)
	return us, storeError(err, "users")
}

// User reads user name: for a system administrator or the user.
func (s *Service) User(ctx context.Context, c Caller, name string) (meta.User, error) {
	if err := s.accounts(); err != nil {
		return meta.User{}, err
	}
	if !c.SystemAdmin() && !c.self(name) {
		return meta.User{}, denied("reading user %s needs a system administrator or the user", name)
	}
	u, err := s.store.User(ctx, name)
	return u, storeError(err, "user "+name)
}

// Memberships lists the namespaces c's own account belongs to, and as what;
// none for a robot.
func (s *Service) Memberships(ctx context.Context, c Caller) ([]meta.Member, error) {
	acct := c.Account()
	if acct == "" {
		return nil, nil
	}
	ms, err := s.store.Memberships(ctx, acct)
	return ms, storeError(err, "memberships")
}

// UserMemberships lists the namespaces user name belongs to, and as what:
// for the user, or a system administrator checking what someone may do.
func (s *Service) UserMemberships(ctx context.Context, c Caller, name string) ([]meta.Member, error) {
	if err := s.accounts(); err != nil {
		return nil, err
	}
	if !c.SystemAdmin() && !c.self(name) {
		return nil, denied("reading the memberships of %s needs a system administrator or the user", name)
	}
	if _, err := s.store.User(ctx, name); err != nil {
		return nil, storeError(err, "user "+name)
	}
	ms, err := s.store.Memberships(ctx, name)
	return ms, storeError(err, "memberships of "+name)
}

// CreateUser creates a user. System administrators only; the name and the
// password must follow their rules.
func (s *Service) CreateUser(ctx context.Context, c Caller, in UserCreate) (u meta.User, err error) {
	ch := s.change(c, "user.create", "user:"+in.Name)
	defer func() { ch.refused(ctx, err) }()
	if err = s.accounts(); err != nil {
		return u, err
	}
	if !c.SystemAdmin() {
		return u, denied("creating users needs a system administrator")
	}
	if err := ValidateUserName(in.Name); err != nil {
		return u, err
	}
	hash, err := s.hashPassword(in.Name, in.Password)
	if err != nil {
		return u, err
	}
	now := s.now().UTC()
	u = meta.User{Name: in.Name, PasswordHash: hash, Admin: in.Admin, CreatedAt: now, UpdatedAt: now}
	err = s.update(ctx, func(tx meta.AccessTx) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return storeError(err, "user "+in.Name)
		}
		return ch.record(ctx, tx, &events.UserCreated{User: in.Name, Admin: in.Admin})
	})
	return u, err
}

// hashPassword checks a new password of user against the password rules
// and hashes it; the empty password is no password (the account logs in
// with access tokens only).
func (s *Service) hashPassword(user, password string) (string, error) {
	if password == "" {
		return "", nil
	}
	hash, err := s.passwordRules().Hash(user, password)
	if errors.Is(err, auth.ErrPasswordInvalid) {
		return "", invalid("%v", err)
	}
	return hash, err
}

func (s *Service) passwordRules() auth.PasswordPolicy {
	return auth.PasswordPolicy{MinLength: s.opts.MinPasswordLength, BcryptCost: s.opts.BcryptCost}
}

// UpdateUser changes user name. A system administrator may change anything
// but may not demote or disable themselves, and the last enabled system
// administrator stays one; a user may change only their own password.
func (s *Service) UpdateUser(ctx context.Context, c Caller, name string, in UserUpdate) (u meta.User, err error) {
	ch := s.change(c, "user.update", "user:"+name)
	defer func() { ch.refused(ctx, err) }()
	if err = s.accounts(); err != nil {
		return u, err
	}
	switch {
	case c.SystemAdmin():
		if c.Account() == name && ((in.Admin != nil && !*in.Admin) || (in.Disabled != nil && *in.Disabled)) {
			return u, invalid("administrators may not demote or disable themselves; another administrator must")
		}
	case c.self(name):
		if in.Admin != nil || in.Disabled != nil {
			return u, denied("changing admin or disabled needs a system administrator")
		}
	default:
		return u, denied("changing user %s needs a system administrator or the user", name)
	}
	// The user is read before the password is hashed, so that a change to
	// nobody is not found rather than refused for its password.
	if _, err := s.store.User(ctx, name); err != nil {
		return u, storeError(err, "user "+name)
	}
	var hash string
	var changes []string
	if in.Password != nil {
		if hash, err = s.hashPassword(name, *in.Password); err != nil {
			return u, err
		}
		changes = append(changes, "password")
	}
	if in.Admin != nil {
		changes = append(changes, "admin="+strconv.FormatBool(*in.Admin))
	}
	if in.Disabled != nil {
		changes = append(changes, "disabled="+strconv.FormatBool(*in.Disabled))
	}
	err = s.update(ctx, func(tx meta.AccessTx) error {
		var err error
		if u, err = tx.User(ctx, name); err != nil {
			return storeError(err, "user "+name)
		}
		if in.Password != nil {
			u.PasswordHash = hash
		}
		if (in.Admin != nil && !*in.Admin) || (in.Disabled != nil && *in.Disabled) {
			if err := keepAnAdmin(ctx, tx, u); err != nil {
				return err
			}
		}
		if in.Admin != nil {
			u.Admin = *in.Admin
		}
		if in.Disabled != nil {
			u.Disabled = *in.Disabled
		}
		u.UpdatedAt = s.now().UTC()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return storeError(err, "user "+name)
		}
		return ch.record(ctx, tx, &events.UserUpdated{User: name, Changes: changes, Admin: u.Admin, Disabled: u.Disabled})
	})
	return u, err
}

// keepAnAdmin refuses to demote, disable or delete u when u is the last
// enabled system administrator: nobody could then manage the registry.
func keepAnAdmin(ctx context.Context, tx meta.AccessTx, u meta.User) error {
	if !u.Admin || u.Disabled {
		return nil
	}
	admins, err := tx.EnabledAdmins(ctx)
	if err != nil {
		return fmt.Errorf("read the system administrators: %w", err)
	}
	if len(admins) == 1 && admins[0] == u.Name {
		return conflict("user %s is the last enabled system administrator; make another one first", u.Name)
	}
	return nil
}

// DeleteUser deletes user name, its memberships and its tokens. System
// administrators only, and not themselves.
func (s *Service) DeleteUser(ctx context.Context, c Caller, name string) (err error) {
	ch := s.change(c, "user.delete", "user:"+name)
	defer func() { ch.refused(ctx, err) }()
	if err = s.accounts(); err != nil {
		return err
	}
	if !c.SystemAdmin() {
		return denied("deleting users needs a system administrator")
	}
	if c.Account() == name {
		return invalid("administrators may not delete themselves; another administrator must")
	}
	return s.update(ctx, func(tx meta.AccessTx) error {
		u, err := tx.User(ctx, name)
		if err != nil {
			return storeError(err, "user "+name)
		}
		if err := keepAnAdmin(ctx, tx, u); err != nil {
			return err
		}
		if err := tx.DeleteUser(ctx, name); err != nil {
			return storeError(err, "user "+name)
		}
		return ch.record(ctx, tx, &events.UserDeleted{User: name})
	})
}

// UserImport is an htpasswd file to import.
type UserImport struct {
	Entries []auth.HtpasswdEntry
	// Refused are the lines the file's parser refused already; they are
	// reported with the import's own refusals.
	Refused []string
	// Update sets the password of users that exist; otherwise they are
	// skipped.
	Update bool
}

// ImportResult says what an htpasswd import did.
type ImportResult struct {
	Created []string
	Updated []string
	Skipped []string // existed, and update was not asked for
	Errors  []string // entries that could not be imported
}

// ImportUsers creates a user for each bcrypt entry of an htpasswd file, in
// one transaction. System administrators only. The hashes are taken as
// they are: the length of the password behind one cannot be known, so the
// length rule applies when the user next sets a password. An entry whose
// password is its user name is refused, found with one bcrypt comparison
// per entry at the entry's own cost, before the transaction.
func (s *Service) ImportUsers(ctx context.Context, c Caller, in UserImport) (res ImportResult, err error) {
	ch := s.change(c, "user.import", "htpasswd")
	defer func() { ch.refused(ctx, err) }()
	if err = s.accounts(); err != nil {
		return res, err
	}
	if !c.SystemAdmin() {
		return res, denied("importing users needs a system administrator")
	}
	refused := slices.Clone(in.Refused)
	var entries []auth.HtpasswdEntry
	for _, e := range in.Entries {
		if err := ValidateUserName(e.User); err != nil {
			refused = append(refused, err.Error())
			continue
		}
		if err := (auth.PasswordPolicy{}).CheckHash(e.User, e.Hash); err != nil {
			refused = append(refused, fmt.Sprintf("user %q: %v", e.User, err))
			continue
		}
		entries = append(entries, e)
	}
	err = s.update(ctx, func(tx meta.AccessTx) error {
		res = ImportResult{Created: []string{}, Updated: []string{}, Skipped: []string{}, Errors: refused}
		now := s.now().UTC()
		var evs []events.Data
		for _, e := range entries {
			u, err := tx.User(ctx, e.User)
			switch {
			case errors.Is(err, meta.ErrNotFound):
				if err := tx.CreateUser(ctx, meta.User{Name: e.User, PasswordHash: e.Hash, CreatedAt: now, UpdatedAt: now}); err != nil {
					return storeError(err, "user "+e.User)
				}
				res.Created = append(res.Created, e.User)
				evs = append(evs, &events.UserCreated{User: e.User, Imported: true})
			case err != nil:
				return storeError(err, "user "+e.User)
			case !in.Update:
				res.Skipped = append(res.Skipped, e.User)
			default:
				u.PasswordHash, u.UpdatedAt = e.Hash, now
				if err := tx.UpdateUser(ctx, u); err != nil {
					return storeError(err, "user "+e.User)
				}
				res.Updated = append(res.Updated, e.User)
				evs = append(evs, &events.UserUpdated{User: e.User, Changes: []string{"password"}, Admin: u.Admin, Disabled: u.Disabled, Imported: true})
			}
		}
		evs = append(evs, &events.UsersImported{Created: len(res.Created), Updated: len(res.Updated), Skipped: len(res.Skipped), Refused: len(res.Errors)})
		return ch.record(ctx, tx, evs...)
	})
	if res.Errors == nil {
		res.Errors = []string{}
	}
	return res, err
}
