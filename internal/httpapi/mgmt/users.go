package mgmt

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
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

func (h *Handler) me(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	m := Me{Kind: string(c.Principal.Kind), Name: c.Principal.Name, Owner: c.Principal.Owner, Account: c.Account(),
		SystemAdmin: c.SystemAdmin(), Memberships: []Member{}}
	ms, err := h.acc.Memberships(r.Context(), c)
	if err != nil {
		return accessError(err)
	}
	for _, x := range ms {
		m.Memberships = append(m.Memberships, memberOf(x))
	}
	return writeJSON(w, http.StatusOK, m)
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	p, err := page(r)
	if err != nil && c.SystemAdmin() {
		return err // a caller who may not list users is told that first
	}
	us, err := h.acc.Users(r.Context(), c, p)
	if err != nil {
		return accessError(err)
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

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	var in UserCreate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	u, err := h.acc.CreateUser(r.Context(), c, access.UserCreate(in))
	if err != nil {
		return accessError(err)
	}
	return writeJSON(w, http.StatusCreated, userOf(u))
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	u, err := h.acc.User(r.Context(), c, p["user"])
	if err != nil {
		return accessError(err)
	}
	return writeJSON(w, http.StatusOK, userOf(u))
}

// listMemberships answers which namespaces a user belongs to, and as what:
// for the user, or a system administrator checking what someone may do.
func (h *Handler) listMemberships(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ms, err := h.acc.UserMemberships(r.Context(), c, p["user"])
	if err != nil {
		return accessError(err)
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

func (h *Handler) updateUser(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	var in UserUpdate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	u, err := h.acc.UpdateUser(r.Context(), c, p["user"], access.UserUpdate(in))
	if err != nil {
		return accessError(err)
	}
	return writeJSON(w, http.StatusOK, userOf(u))
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	if err := h.acc.DeleteUser(r.Context(), c, p["user"]); err != nil {
		return accessError(err)
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
// the body (see [access.Service.ImportUsers]). Users that exist keep their
// password unless ?update=true.
func (h *Handler) importUsers(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	in := access.UserImport{Update: r.URL.Query().Get("update") == "true"}
	if c.SystemAdmin() {
		entries, perr := auth.ParseHtpasswd(http.MaxBytesReader(w, r.Body, maxBody))
		var tooLarge *http.MaxBytesError
		if errors.As(perr, &tooLarge) {
			err := apierr.New(apierr.TooLarge, "htpasswd file larger than %d bytes", maxBody)
			h.refused(r, c, "user.import", "htpasswd", err)
			return err
		}
		if perr != nil {
			for _, e := range unjoin(perr) {
				in.Refused = append(in.Refused, e.Error())
			}
		}
		in.Entries = entries
	}
	res, err := h.acc.ImportUsers(r.Context(), c, in)
	if err != nil {
		return accessError(err)
	}
	return writeJSON(w, http.StatusOK, ImportResult(res))
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
