package mgmt

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// User is a user as the API shows it: never its password hash.
type User struct {
	Name        string    `json:"name"`
	Admin       bool      `json:"admin"`
	Disabled    bool      `json:"disabled"`
	HasPassword bool      `json:"hasPassword"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

func userOf(u meta.User) User {
	return User{Name: u.Name, Admin: u.Admin, Disabled: u.Disabled, HasPassword: u.PasswordHash != "",
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// List is a page of a listing; Next, when set, is the `last` of the next
// page.
type List[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// userNameRE is what a user name may be: it goes in Basic credentials (no
// colon), robots are NAMESPACE+NAME (no plus sign), and it appears in
// paths and audit records.
var userNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

func validUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return invalid("user name %q is invalid: 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", truncate(name))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// page reads the n and last query parameters: at most 1000, 100 by default.
func page(r *http.Request) (meta.Page, error) {
	p := meta.Page{N: 100, Last: r.URL.Query().Get("last")}
	if s := r.URL.Query().Get("n"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return p, apierr.New(apierr.PaginationInvalid, "n must be an integer from 1 to 1000, got %q", truncate(s))
		}
		p.N = n
	}
	return p, nil
}

// next is the cursor after items, when the page was full.
func next[T any](items []T, p meta.Page, key func(T) string) string {
	if len(items) < p.N || len(items) == 0 {
		return ""
	}
	return key(items[len(items)-1])
}

// Me describes the caller.
type Me struct {
	Kind        string   `json:"kind"`
	Name        string   `json:"name"`
	Owner       string   `json:"owner,omitempty"`
	Account     string   `json:"account,omitempty"`
	SystemAdmin bool     `json:"systemAdmin"`
	Memberships []Member `json:"memberships"`
}

func (h *Handler) me(w http.ResponseWriter, r *http.Request, c caller, _ params) error {
	m := Me{Kind: string(c.Kind), Name: c.Name, Owner: c.Owner, Account: c.account(), SystemAdmin: c.systemAdmin(), Memberships: []Member{}}
	if acct := c.account(); acct != "" {
		ms, err := h.opts.Access.Memberships(r.Context(), acct)
		if err != nil {
			return storeError(err, "memberships")
		}
		for _, x := range ms {
			m.Memberships = append(m.Memberships, memberOf(x))
		}
	}
	return writeJSON(w, http.StatusOK, m)
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, c caller, _ params) error {
	if !c.systemAdmin() {
		return denied("listing users needs a system administrator")
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	us, err := h.opts.Access.Users(r.Context(), p)
	if err != nil {
		return storeError(err, "users")
	}
	out := List[User]{Items: []User{}, Next: next(us, p, func(u meta.User) string { return u.Name })}
	for _, u := range us {
		out.Items = append(out.Items, userOf(u))
	}
	return writeJSON(w, http.StatusOK, out)
}

// UserCreate is the body of POST /users.
type UserCreate struct {
	Name     string `json:"name"`
	Password string `json:"password,omitempty"` // empty: the account logs in with tokens only
	Admin    bool   `json:"admin,omitempty"`
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, c caller, _ params) error {
	var in UserCreate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	err := h.doCreateUser(r, c, in)
	h.audit(r, c, "user.create", "user:"+in.Name, adminDetail(in.Admin), err)
	if err != nil {
		return err
	}
	u, err := h.opts.Access.User(r.Context(), in.Name)
	if err != nil {
		return storeError(err, "user "+in.Name)
	}
	return writeJSON(w, http.StatusCreated, userOf(u))
}

func adminDetail(admin bool) string {
	if admin {
		return "admin"
	}
	return ""
}

func (h *Handler) doCreateUser(r *http.Request, c caller, in UserCreate) error {
	if !c.systemAdmin() {
		return denied("creating users needs a system administrator")
	}
	if err := validUserName(in.Name); err != nil {
		return err
	}
	hash, err := h.hashPassword(in.Name, in.Password)
	if err != nil {
		return err
	}
	now := h.now().UTC()
	err = h.opts.Access.CreateUser(r.Context(), meta.User{Name: in.Name, PasswordHash: hash, Admin: in.Admin, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return storeError(err, "user "+in.Name)
	}
	return nil
}

// hashPassword checks a new password of user against the password rules
// and hashes it; the empty password is no password (the account logs in
// with access tokens only).
func (h *Handler) hashPassword(user, pw string) (string, error) {
	if pw == "" {
		return "", nil
	}
	rules := auth.PasswordPolicy{MinLength: h.opts.MinPasswordLength, BcryptCost: h.opts.BcryptCost}
	hash, err := rules.Hash(user, pw)
	if errors.Is(err, auth.ErrPasswordInvalid) {
		return "", invalid("%v", err)
	}
	if err != nil {
		return "", err
	}
	return hash, nil
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	name := p["user"]
	if !c.systemAdmin() && !c.self(name) {
		return denied("reading user %s needs a system administrator or the user", name)
	}
	u, err := h.opts.Access.User(r.Context(), name)
	if err != nil {
		return storeError(err, "user "+name)
	}
	return writeJSON(w, http.StatusOK, userOf(u))
}

// listMemberships answers which namespaces a user belongs to, and as what:
// for the user, or a system administrator checking what someone may do.
func (h *Handler) listMemberships(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	name := p["user"]
	if !c.systemAdmin() && !c.self(name) {
		return denied("reading the memberships of %s needs a system administrator or the user", name)
	}
	if _, err := h.opts.Access.User(r.Context(), name); err != nil {
		return storeError(err, "user "+name)
	}
	ms, err := h.opts.Access.Memberships(r.Context(), name)
	if err != nil {
		return storeError(err, "memberships of "+name)
	}
	out := List[Member]{Items: []Member{}}
	for _, m := range ms {
		out.Items = append(out.Items, memberOf(m))
	}
	return writeJSON(w, http.StatusOK, out)
}

// UserUpdate is the body of PATCH /users/{user}; absent fields keep their
// value.
type UserUpdate struct {
	Password *string `json:"password,omitempty"`
	Admin    *bool   `json:"admin,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

func (h *Handler) updateUser(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	var in UserUpdate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	name := p["user"]
	u, detail, err := h.doUpdateUser(r, c, name, in)
	h.audit(r, c, "user.update", "user:"+name, detail, err)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userOf(u))
}

func (h *Handler) doUpdateUser(r *http.Request, c caller, name string, in UserUpdate) (meta.User, string, error) {
	var detail string
	switch {
	case c.systemAdmin():
		if c.account() == name && ((in.Admin != nil && !*in.Admin) || (in.Disabled != nil && *in.Disabled)) {
			return meta.User{}, "", invalid("administrators may not demote or disable themselves; another administrator must")
		}
	case c.self(name):
		if in.Admin != nil || in.Disabled != nil {
			return meta.User{}, "", denied("changing admin or disabled needs a system administrator")
		}
	default:
		return meta.User{}, "", denied("changing user %s needs a system administrator or the user", name)
	}
	u, err := h.opts.Access.User(r.Context(), name)
	if err != nil {
		return meta.User{}, "", storeError(err, "user "+name)
	}
	if in.Password != nil {
		if u.PasswordHash, err = h.hashPassword(name, *in.Password); err != nil {
			return meta.User{}, "", err
		}
		detail += "password "
	}
	if in.Admin != nil {
		u.Admin = *in.Admin
		detail += "admin=" + strconv.FormatBool(u.Admin) + " "
	}
	if in.Disabled != nil {
		u.Disabled = *in.Disabled
		detail += "disabled=" + strconv.FormatBool(u.Disabled) + " "
	}
	u.UpdatedAt = h.now().UTC()
	if err := h.opts.Access.UpdateUser(r.Context(), u); err != nil {
		return meta.User{}, "", storeError(err, "user "+name)
	}
	return u, detail, nil
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	name := p["user"]
	err := func() error {
		if !c.systemAdmin() {
			return denied("deleting users needs a system administrator")
		}
		if c.account() == name {
			return invalid("administrators may not delete themselves; another administrator must")
		}
		return storeError(h.opts.Access.DeleteUser(r.Context(), name), "user "+name)
	}()
	h.audit(r, c, "user.delete", "user:"+name, "", err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ImportResult says what an htpasswd import did.
type ImportResult struct {
	Created []string `json:"created"`
	Updated []string `json:"updated"`
	Skipped []string `json:"skipped"` // existed, and update was not asked for
	Errors  []string `json:"errors"`  // lines that could not be imported
}

// importUsers creates a user for each bcrypt entry of an htpasswd file in
// the body. Users that exist keep their password unless ?update=true.
// The hashes are taken as they are: the length of the password behind one
// cannot be known, so auth.minPasswordLength applies when the user next
// sets a password. An entry whose password is its user name is refused,
// found with one bcrypt comparison per entry at the entry's own cost.
func (h *Handler) importUsers(w http.ResponseWriter, r *http.Request, c caller, _ params) error {
	res := ImportResult{Created: []string{}, Updated: []string{}, Skipped: []string{}, Errors: []string{}}
	err := func() error {
		if !c.systemAdmin() {
			return denied("importing users needs a system administrator")
		}
		update := r.URL.Query().Get("update") == "true"
		entries, perr := auth.ParseHtpasswd(http.MaxBytesReader(w, r.Body, maxBody))
		var tooLarge *http.MaxBytesError
		if errors.As(perr, &tooLarge) {
			return apierr.New(apierr.TooLarge, "htpasswd file larger than %d bytes", maxBody)
		}
		if perr != nil {
			for _, e := range unjoin(perr) {
				res.Errors = append(res.Errors, e.Error())
			}
		}
		for _, e := range entries {
			if err := validUserName(e.User); err != nil {
				res.Errors = append(res.Errors, apierr.From(err).Message)
				continue
			}
			if err := (auth.PasswordPolicy{}).CheckHash(e.User, e.Hash); err != nil {
				res.Errors = append(res.Errors, fmt.Sprintf("user %q: %v", e.User, err))
				continue
			}
			if err := h.importUser(r, e, update, &res); err != nil {
				return err
			}
		}
		return nil
	}()
	detail := ""
	if err == nil {
		detail = strconv.Itoa(len(res.Created)) + " created, " + strconv.Itoa(len(res.Updated)) + " updated, " +
			strconv.Itoa(len(res.Skipped)) + " skipped, " + strconv.Itoa(len(res.Errors)) + " refused"
	}
	h.audit(r, c, "user.import", "htpasswd", detail, err)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func (h *Handler) importUser(r *http.Request, e auth.HtpasswdEntry, update bool, res *ImportResult) error {
	ctx := r.Context()
	now := h.now().UTC()
	err := h.opts.Access.CreateUser(ctx, meta.User{Name: e.User, PasswordHash: e.Hash, CreatedAt: now, UpdatedAt: now})
	if err == nil {
		res.Created = append(res.Created, e.User)
		return nil
	}
	if !errors.Is(err, meta.ErrConflict) {
		return storeError(err, "user "+e.User)
	}
	if !update {
		res.Skipped = append(res.Skipped, e.User)
		return nil
	}
	u, err := h.opts.Access.User(ctx, e.User)
	if err != nil {
		return storeError(err, "user "+e.User)
	}
	u.PasswordHash, u.UpdatedAt = e.Hash, now
	if err := h.opts.Access.UpdateUser(ctx, u); err != nil {
		return storeError(err, "user "+e.User)
	}
	res.Updated = append(res.Updated, e.User)
	return nil
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
