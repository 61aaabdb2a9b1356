package ui

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
)

// pages are the parsed page templates by file name ("repo.html"); each
// defines "content" inside the shared "layout".
type pages map[string]*template.Template

// parsePages parses the embedded templates; they are part of the binary,
// so a template that does not parse is a bug the package's tests catch.
func parsePages() pages {
	// Files named _*.html hold parts several pages share.
	base := template.Must(template.New("").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/_*.html"))
	names, _ := fs.Glob(assets, "templates/*.html") // the pattern is valid
	out := pages{}
	for _, n := range names {
		if path.Base(n) != "layout.html" && !strings.HasPrefix(path.Base(n), "_") {
			out[path.Base(n)] = template.Must(template.Must(base.Clone()).ParseFS(assets, n))
		}
	}
	return out
}

// pageData is what every page template gets.
type pageData struct {
	Title string
	V     viewer
	// Path is the page's own path and query, for a sign-in's return.
	Path string
	// Notice is a line of good news ("tag deleted"), Problem one of bad.
	Notice, Problem string
	D               any
}

// viewer is the visitor as templates see it.
type viewer struct {
	Name     string
	SignedIn bool
	Admin    bool
	Local    bool // the local administrator of a registry without access control
	Accounts bool
	OIDC     bool
	CSRF     string
	// Host is how the browser reached the registry: the host of pull
	// commands.
	Host string
}

func (h *Handler) viewerOf(r *http.Request, v visitor) viewer {
	return viewer{
		Name: v.name(), SignedIn: v.signedIn, Admin: v.admin(), Local: v.caller.Principal.Kind == "local",
		Accounts: h.opts.Accounts, OIDC: h.opts.OIDC, CSRF: v.csrf, Host: r.Host,
	}
}

// answer is a page to render.
type answer struct {
	Status          int // 200 if 0
	Page, Title     string
	Data            any
	Notice, Problem string
}

// render writes a page. It is rendered into a buffer first, so a template
// failure is a clean 500, not half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, v visitor, a answer) {
	t, ok := h.pages[a.Page]
	if !ok {
		h.log.ErrorContext(r.Context(), "ui: no such page", "page", a.Page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pd := pageData{Title: a.Title, V: h.viewerOf(r, v), Path: r.URL.RequestURI(), Notice: a.Notice, Problem: a.Problem, D: a.Data}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", pd); err != nil {
		h.log.ErrorContext(r.Context(), "ui: render page", "page", a.Page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if a.Status == 0 {
		a.Status = http.StatusOK
	}
	w.WriteHeader(a.Status)
	_, _ = w.Write(buf.Bytes())
}

// problemPage is the page of a refusal or a failure.
type problemPage struct {
	Status  int
	Message string
	// SignIn offers to sign in: the refusal may go away for someone who
	// has.
	SignIn bool
}

// fail answers err as a page: the services' refusals keep their words and
// their status (403, 404, 409, 400), a store outage is 503, anything else
// a logged 500.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, v visitor, err error) {
	status, msg := classify(err)
	if status >= 500 {
		h.log.ErrorContext(r.Context(), "ui: request failed", "path", r.URL.Path, "err", err)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	p := problemPage{Status: status, Message: msg, SignIn: h.opts.Accounts && !v.signedIn && (status == http.StatusNotFound || status == http.StatusForbidden)}
	h.render(w, r, v, answer{Status: status, Page: "problem.html", Title: http.StatusText(status), Data: p, Problem: msg})
}

// classify turns an error of the access service, the registry or the
// store into a status and words fit to show.
func classify(err error) (int, string) {
	var refusal *access.Error
	var locked *access.LockedError
	switch {
	case errors.As(err, &refusal):
		switch {
		case errors.Is(refusal.Kind, access.ErrNotFound):
			return http.StatusNotFound, refusal.Message
		case errors.Is(refusal.Kind, access.ErrInvalid):
			return http.StatusBadRequest, refusal.Message
		case errors.Is(refusal.Kind, access.ErrConflict):
			return http.StatusConflict, refusal.Message
		}
		return http.StatusForbidden, refusal.Message
	case errors.As(err, &locked):
		return http.StatusTooManyRequests, locked.Error()
	case errors.Is(err, meta.ErrUnavailable):
		return http.StatusServiceUnavailable, "the metadata store is unavailable; try again"
	case errors.Is(err, meta.ErrNotFound):
		return http.StatusNotFound, "not found"
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		msg := ae.Message
		if msg == "" {
			msg = ae.Code.Message
		}
		switch ae.Code {
		case apierr.NameUnknown, apierr.ManifestUnknown, apierr.BlobUnknown, apierr.NotFound:
			return http.StatusNotFound, msg
		case apierr.Unknown:
			return http.StatusInternalServerError, "internal error"
		}
		return ae.Code.Status, msg
	}
	return http.StatusInternalServerError, "internal error"
}

// notFound is the refusal of what does not exist or may not be seen.
func notFound(format string, args ...any) error {
	return &access.Error{Kind: access.ErrNotFound, Message: fmt.Sprintf(format, args...)}
}

// denied is the refusal of what may be seen but not done.
func denied(format string, args ...any) error {
	return &access.Error{Kind: access.ErrDenied, Message: fmt.Sprintf(format, args...)}
}

// invalid is the refusal of bad input.
func invalid(format string, args ...any) error {
	return &access.Error{Kind: access.ErrInvalid, Message: fmt.Sprintf(format, args...)}
}

// funcs are the template functions.
var funcs = template.FuncMap{
	"bytes":     humanBytes,
	"ago":       ago,
	"when":      when,
	"short":     shortDigest,
	"repoURL":   repoURL,
	"tagURL":    tagURL,
	"digestURL": digestURL,
	"nsURL":     func(ns string) string { return "/ns/" + url.PathEscape(ns) },
	"percent":   percent,
	"join":      strings.Join,
	"add":       func(a, b int) int { return a + b },
	"list":      func(s ...string) []string { return s },
	"userOp": func(csrf, user, op, label, confirm string) map[string]string {
		return map[string]string{"CSRF": csrf, "User": user, "Op": op, "Label": label, "Confirm": confirm}
	},
	"pathOnly": func(p string) string { path, _, _ := strings.Cut(p, "?"); return path },
}

// humanBytes writes n in binary units: "1.5 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// ago writes how long before now t was: "3 minutes ago"; "never" for the
// zero time.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	}
	return plural(int(d/(24*time.Hour)), "day") + " ago"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// when writes t as an RFC 3339 time in UTC, for datetime attributes and
// titles.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// shortDigest is a digest's algorithm and first 12 hex digits.
func shortDigest(d digest.Digest) string {
	s := string(d)
	if i := strings.IndexByte(s, ':'); i >= 0 && len(s) > i+13 {
		return s[:i+13]
	}
	return s
}

func repoURL(repo string) string { return "/r/" + escapePath(repo) }

func tagURL(repo, tag string) string { return repoURL(repo) + "/-/tags/" + url.PathEscape(tag) }

func digestURL(repo string, d digest.Digest) string {
	return repoURL(repo) + "/-/manifests/" + url.PathEscape(string(d))
}

// escapePath escapes each segment of a repository name.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// percent is used of limit, from 0 to 100.
func percent(used, limit int64) int64 {
	if limit <= 0 {
		return 0
	}
	return min(100, used*100/limit)
}
