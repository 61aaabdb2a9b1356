package ui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// tokenRow is a personal access token or robot as the UI lists it.
type tokenRow struct {
	ID, Name   string
	Scopes     string
	ExpiresAt  time.Time
	LastUsedAt time.Time
	CreatedAt  time.Time
	Revoked    bool
	Expired    bool
}

func tokenRows(ts []meta.Token) []tokenRow {
	now := time.Now()
	out := make([]tokenRow, 0, len(ts))
	for _, t := range ts {
		var scopes []string
		_ = json.Unmarshal(t.Scopes, &scopes) // the access service wrote it
		out = append(out, tokenRow{ID: t.ID, Name: t.Name, Scopes: strings.Join(scopes, " "), ExpiresAt: t.ExpiresAt,
			LastUsedAt: t.LastUsedAt, CreatedAt: t.CreatedAt, Revoked: !t.RevokedAt.IsZero(),
			Expired: !t.ExpiresAt.IsZero() && now.After(t.ExpiresAt)})
	}
	return out
}

// createdSecret is a token or robot just created: its secret is shown
// this once.
type createdSecret struct {
	Name, Login, Secret string
}

type accountPage struct {
	User        string
	Memberships []meta.Member
	Tokens      []tokenRow
	Secret      *createdSecret
}

// account shows the visitor's memberships and personal access tokens.
func (h *Handler) account(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	h.accountWith(w, r, v, answer{})
}

func (h *Handler) accountWith(w http.ResponseWriter, r *http.Request, v visitor, a answer) {
	if !h.signedInUser(w, r, v) {
		return
	}
	ctx := r.Context()
	user := v.caller.Account()
	d := accountPage{User: user}
	if s, ok := a.Data.(*createdSecret); ok {
		d.Secret = s
	}
	var err error
	if d.Memberships, err = h.acc.Memberships(ctx, v.caller); err != nil {
		h.fail(w, r, v, err)
		return
	}
	ts, err := h.acc.PersonalTokens(ctx, v.caller, user, meta.TokenPersonal)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	d.Tokens = tokenRows(ts)
	a.Page, a.Title, a.Data = "account.html", "Your account", d
	h.render(w, r, v, a)
}

// signedInUser sends a visitor who is not a signed-in user to sign in (or
// says accounts need access control) and reports whether one is.
func (h *Handler) signedInUser(w http.ResponseWriter, r *http.Request, v visitor) bool {
	switch {
	case v.refusal != nil:
		h.fail(w, r, v, v.refusal)
	case !h.opts.Accounts:
		h.fail(w, r, v, denied("users, tokens and robots need access control: turn auth.enabled on (WHARF_AUTH_ENABLED=true) to manage them"))
	case v.caller.Account() == "" || v.caller.Principal.Kind != auth.KindUser:
		http.Redirect(w, r, "/-/login?return_to="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	default:
		return true
	}
	return false
}

// tokenCreate reads the token form: a name, scopes separated by spaces or
// lines, and an expiry in days (empty: never).
func tokenCreate(r *http.Request) (access.TokenCreate, error) {
	in := access.TokenCreate{Name: strings.TrimSpace(r.PostFormValue("name")), Scopes: strings.Fields(r.PostFormValue("scopes"))}
	if days := strings.TrimSpace(r.PostFormValue("expires_days")); days != "" {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 3650 {
			return in, invalid("expiry must be a number of days from 1 to 3650, got %q", days)
		}
		in.ExpiresIn = time.Duration(n) * 24 * time.Hour
	}
	return in, nil
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if !h.signedInUser(w, r, v) {
		return
	}
	if err := checkCSRF(r, v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	in, err := tokenCreate(r)
	if err == nil {
		var t meta.Token
		var secret string
		if t, secret, err = h.acc.CreatePersonalToken(r.Context(), v.caller, v.caller.Account(), in); err == nil {
			h.accountWith(w, r, v, answer{Status: http.StatusCreated, Data: &createdSecret{Name: t.Name, Login: v.caller.Account(), Secret: secret},
				Notice: "Token " + t.Name + " created. Copy its secret now: it is not shown again."})
			return
		}
	}
	status, msg := classify(err)
	h.accountWith(w, r, v, answer{Status: status, Problem: msg})
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if !h.signedInUser(w, r, v) {
		return
	}
	err := checkCSRF(r, v)
	if err == nil {
		err = h.acc.RevokePersonalToken(r.Context(), v.caller, v.caller.Account(), r.PathValue("id"))
	}
	if err != nil {
		status, msg := classify(err)
		h.accountWith(w, r, v, answer{Status: status, Problem: msg})
		return
	}
	http.Redirect(w, r, "/-/account", http.StatusSeeOther)
}

type usersPage struct {
	Users []meta.User
	Next  string
}

// users lists the users, for system administrators, with a form to add
// one.
func (h *Handler) users(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	h.usersWith(w, r, v, answer{})
}

func (h *Handler) usersWith(w http.ResponseWriter, r *http.Request, v visitor, a answer) {
	if !h.signedInUser(w, r, v) {
		return
	}
	us, err := h.acc.Users(r.Context(), v.caller, meta.Page{Last: r.URL.Query().Get("after"), N: 200})
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	d := usersPage{Users: us}
	if len(us) == 200 {
		d.Next = us[len(us)-1].Name
	}
	a.Page, a.Title, a.Data = "users.html", "Users", d
	h.render(w, r, v, a)
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if !h.signedInUser(w, r, v) {
		return
	}
	err := checkCSRF(r, v)
	var u meta.User
	if err == nil {
		u, err = h.acc.CreateUser(r.Context(), v.caller, access.UserCreate{
			Name: strings.TrimSpace(r.PostFormValue("name")), Password: r.PostFormValue("password"), Admin: r.PostFormValue("admin") == "on",
		})
	}
	if err != nil {
		status, msg := classify(err)
		h.usersWith(w, r, v, answer{Status: status, Problem: msg})
		return
	}
	h.usersWith(w, r, v, answer{Status: http.StatusCreated, Notice: "User " + u.Name + " created."})
}

// putMember adds a member to a namespace or changes their role.
func (h *Handler) putMember(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	ns := r.PathValue("ns")
	err := checkCSRF(r, v)
	var m meta.Member
	if err == nil {
		m, err = h.acc.PutMember(r.Context(), v.caller, ns, strings.TrimSpace(r.PostFormValue("user")), auth.Role(r.PostFormValue("role")))
	}
	h.afterNamespaceChange(w, r, v, ns, err, "Member "+m.User+" is "+m.Role+".", nil)
}

func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	ns, user := r.PathValue("ns"), r.PathValue("user")
	err := checkCSRF(r, v)
	if err == nil {
		err = h.acc.DeleteMember(r.Context(), v.caller, ns, user)
	}
	h.afterNamespaceChange(w, r, v, ns, err, user+" is no longer a member.", nil)
}

func (h *Handler) createRobot(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	ns := r.PathValue("ns")
	err := checkCSRF(r, v)
	var t meta.Token
	var secret string
	if err == nil {
		var in access.TokenCreate
		if in, err = tokenCreate(r); err == nil {
			t, secret, err = h.acc.CreateRobot(r.Context(), v.caller, ns, in)
		}
	}
	sec := &createdSecret{Name: t.Name, Login: access.RobotName(ns, t.Name), Secret: secret}
	h.afterNamespaceChange(w, r, v, ns, err, "Robot "+sec.Login+" created. Copy its secret now: it is not shown again.", sec)
}

func (h *Handler) revokeRobot(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	ns := r.PathValue("ns")
	err := checkCSRF(r, v)
	if err == nil {
		err = h.acc.RevokeRobot(r.Context(), v.caller, ns, r.PathValue("id"))
	}
	h.afterNamespaceChange(w, r, v, ns, err, "Robot revoked.", nil)
}

// afterNamespaceChange shows the namespace page with the change's outcome.
func (h *Handler) afterNamespaceChange(w http.ResponseWriter, r *http.Request, v visitor, ns string, err error, notice string, sec *createdSecret) {
	if err != nil {
		status, msg := classify(err)
		if status == http.StatusNotFound || !v.signedIn {
			h.fail(w, r, v, err)
			return
		}
		h.namespaceWith(w, r, v, ns, answer{Status: status, Problem: msg})
		return
	}
	a := answer{Notice: notice}
	if sec != nil {
		a.Status, a.Data = http.StatusCreated, sec
	}
	h.namespaceWith(w, r, v, ns, a)
}

type auditPage struct {
	Query  meta.AuditQuery
	Events []meta.AuditEvent
	Next   int64
}

// auditLog shows the audit log, newest first, filtered by actor, action,
// target and result: for system administrators.
func (h *Handler) auditLog(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if v.refusal != nil {
		h.fail(w, r, v, v.refusal)
		return
	}
	if !v.signedIn && h.opts.Accounts {
		http.Redirect(w, r, "/-/login?return_to="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	qv := r.URL.Query()
	q := meta.AuditQuery{Actor: qv.Get("actor"), Action: qv.Get("action"), TargetPrefix: qv.Get("target"), Result: qv.Get("result"), N: 100}
	if b := qv.Get("before"); b != "" {
		id, err := strconv.ParseInt(b, 10, 64)
		if err != nil {
			h.fail(w, r, v, invalid("before must be an event id, got %q", b))
			return
		}
		q.BeforeID = id
	}
	es, err := h.acc.AuditEvents(r.Context(), v.caller, q)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	d := auditPage{Query: q, Events: es}
	if len(es) == q.N {
		d.Next = es[len(es)-1].ID
	}
	h.render(w, r, v, answer{Page: "audit.html", Title: "Audit log", Data: d})
}

// changeUser disables or enables a user, makes or unmakes a system
// administrator, or deletes the account: system administrators, through
// the access service's own rules (one may not lock oneself out).
func (h *Handler) changeUser(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if !h.signedInUser(w, r, v) {
		return
	}
	name, op := r.PathValue("user"), r.PathValue("op")
	err := checkCSRF(r, v)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	yes, no := true, false
	notice := ""
	switch op {
	case "disable":
		_, err = h.acc.UpdateUser(r.Context(), v.caller, name, access.UserUpdate{Disabled: &yes})
		notice = name + " is disabled: their sessions and tokens stop working."
	case "enable":
		_, err = h.acc.UpdateUser(r.Context(), v.caller, name, access.UserUpdate{Disabled: &no})
		notice = name + " is enabled."
	case "admin":
		_, err = h.acc.UpdateUser(r.Context(), v.caller, name, access.UserUpdate{Admin: &yes})
		notice = name + " is a system administrator."
	case "unadmin":
		_, err = h.acc.UpdateUser(r.Context(), v.caller, name, access.UserUpdate{Admin: &no})
		notice = name + " is no longer a system administrator."
	case "delete":
		err = h.acc.DeleteUser(r.Context(), v.caller, name)
		notice = name + " is deleted."
	default:
		err = notFound("no such change %q", op)
	}
	if err != nil {
		status, msg := classify(err)
		h.usersWith(w, r, v, answer{Status: status, Problem: msg})
		return
	}
	h.usersWith(w, r, v, answer{Notice: notice})
}
