package ui

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
)

func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("GET /{$}", h.home)
	m.HandleFunc("GET /-/login", h.loginPage)
	m.HandleFunc("POST /-/login", h.login)
	m.HandleFunc("POST /-/logout", h.logout)
	m.HandleFunc("GET /-/search", h.search)
	m.HandleFunc("GET /-/account", h.account)
	m.HandleFunc("POST /-/account/tokens", h.createToken)
	m.HandleFunc("POST /-/account/tokens/{id}/revoke", h.revokeToken)
	m.HandleFunc("GET /-/users", h.users)
	m.HandleFunc("POST /-/users", h.createUser)
	m.HandleFunc("POST /-/users/{user}/{op}", h.changeUser)
	m.HandleFunc("GET /-/audit", h.auditLog)
	m.HandleFunc("GET /-/activity", h.registryActivity)
	m.HandleFunc("GET /-/promotions", h.promotionsList)
	m.HandleFunc("POST /-/promotions/{id}/approve", h.approve)
	m.HandleFunc("GET /-/admin", h.admin)
	m.HandleFunc("POST /-/admin/gc", h.collectGarbage)
	m.HandleFunc("POST /-/admin/storage", h.countStorage)
	m.HandleFunc("POST /-/admin/replication/{id}/run", h.runReplication)
	m.HandleFunc("GET /ns/{ns}", h.namespace)
	m.HandleFunc("GET /ns/{ns}/-/activity", h.namespaceActivity)
	m.HandleFunc("POST /ns/{ns}/-/members", h.putMember)
	m.HandleFunc("POST /ns/{ns}/-/members/{user}/remove", h.removeMember)
	m.HandleFunc("POST /ns/{ns}/-/robots", h.createRobot)
	m.HandleFunc("POST /ns/{ns}/-/robots/{id}/revoke", h.revokeRobot)
	m.HandleFunc("GET /ns/{ns}/-/settings", h.settings)
	m.HandleFunc("POST /ns/{ns}/-/immutability", h.addImmutability)
	m.HandleFunc("POST /ns/{ns}/-/immutability/{id}/delete", h.deleteImmutability)
	m.HandleFunc("POST /ns/{ns}/-/quota", h.setQuota)
	m.HandleFunc("POST /ns/{ns}/-/quota/delete", h.deleteQuota)
	m.HandleFunc("POST /ns/{ns}/-/retention", h.retention)
	m.HandleFunc("POST /ns/{ns}/-/retention/{id}/{op}", h.storedRetention)
	h.opsRoutes()
	m.HandleFunc("GET /r/{path...}", h.repoGet)
	m.HandleFunc("POST /r/{path...}", h.repoPost)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, h.visitorOf(w, r), notFound("there is no page %s", r.URL.Path))
	})
}

// namespaceRow is a namespace as the home page lists it.
type namespaceRow struct {
	Name      string
	Kind      string
	Public    bool
	Recorded  bool // has a namespace record (always, with access control)
	Quota     int64
	Used      int64
	HasQuota  bool
	CreatedAt time.Time
}

type homePage struct {
	Namespaces []namespaceRow
	Repos      []string
	NextRepos  string
	Refusal    string
}

// home lists the namespaces and repositories the visitor may see.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if v.refusal != nil {
		h.fail(w, r, v, v.refusal)
		return
	}
	ctx := r.Context()
	var d homePage
	nss, err := h.acc.Namespaces(ctx, v.caller, nsPage(""))
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	quotas, err := h.reg.Quotas(ctx)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	byNS := map[string]meta.Quota{}
	for _, q := range quotas {
		byNS[q.Namespace] = q
	}
	seen := map[string]bool{}
	for _, ns := range nss {
		q, ok := byNS[ns.Name]
		d.Namespaces = append(d.Namespaces, namespaceRow{Name: ns.Name, Kind: ns.Kind, Public: ns.Public, Recorded: true,
			Quota: q.LimitBytes, Used: q.UsedBytes, HasQuota: ok, CreatedAt: ns.CreatedAt})
		seen[ns.Name] = true
	}
	d.Repos, d.NextRepos, err = h.visibleRepos(ctx, v, r.URL.Query().Get("after"), pageNamespaces, "")
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	// Without access control, pushes create no namespace records: the
	// namespaces are those of the repositories.
	for _, repo := range d.Repos {
		if ns := oci.Namespace(repo); !seen[ns] && v.admin() {
			q, ok := byNS[ns]
			d.Namespaces = append(d.Namespaces, namespaceRow{Name: ns, Public: !h.opts.Accounts, Quota: q.LimitBytes, Used: q.UsedBytes, HasQuota: ok})
			seen[ns] = true
		}
	}
	slices.SortFunc(d.Namespaces, func(a, b namespaceRow) int { return strings.Compare(a.Name, b.Name) })
	h.render(w, r, v, answer{Page: "home.html", Title: "Registry", Data: d})
}

// visibleRepos lists up to n repositories after last that v may pull and
// whose name contains match, and the cursor of the next page ("" at the
// end). A page of the catalog is read at a time and filtered.
func (h *Handler) visibleRepos(ctx context.Context, v visitor, last string, n int, match string) ([]string, string, error) {
	var out []string
	may := h.pullFilter(v)
	for cursor := last; ; {
		names, err := h.reg.Catalog(ctx, meta.Page{Last: cursor, N: n})
		if err != nil {
			return nil, "", err
		}
		for _, name := range names {
			if match != "" && !strings.Contains(name, match) {
				continue
			}
			ok, err := may(ctx, name)
			if err != nil {
				return nil, "", err
			}
			if ok {
				out = append(out, name)
				if len(out) == n {
					return out, name, nil
				}
			}
		}
		if len(names) < n {
			return out, "", nil
		}
		cursor = names[len(names)-1]
	}
}

// pullFilter returns whether v may pull a repository; decisions are per
// namespace for whole accounts, so each namespace is decided once.
func (h *Handler) pullFilter(v visitor) func(context.Context, string) (bool, error) {
	if v.admin() {
		return func(context.Context, string) (bool, error) { return true, nil }
	}
	byNS := map[string]bool{}
	return func(ctx context.Context, repo string) (bool, error) {
		ns := oci.Namespace(repo)
		if ok, seen := byNS[ns]; seen && v.caller.WholeAccount() {
			return ok, nil
		}
		d, err := h.acc.Decide(ctx, v.caller.Principal, repo, []auth.Action{auth.ActionPull})
		if err != nil {
			return false, err
		}
		byNS[ns] = d.Allows(auth.ActionPull)
		return byNS[ns], nil
	}
}

// repoAccess returns the actions of want v holds on repo. A visitor who
// may not pull is told the repository is not found, as on /api/v1, so a
// private repository's existence is not revealed.
func (h *Handler) repoAccess(ctx context.Context, v visitor, repo string, want ...auth.Action) (auth.Decision, error) {
	if err := oci.ValidateName(repo); err != nil {
		return auth.Decision{}, invalid("%v", err)
	}
	d, err := h.acc.Decide(ctx, v.caller.Principal, repo, append([]auth.Action{auth.ActionPull}, want...))
	if err != nil {
		return d, err
	}
	if !d.Allows(auth.ActionPull) {
		return d, notFound("repository %s not found", repo)
	}
	// The pages of a repository show what a pull reads: they obey the
	// namespace's pull lists, as /v2 does.
	if err := h.opts.Network.Refuse(ctx, repo, []auth.Action{auth.ActionPull}, mw.ClientAddr(ctx)); err != nil {
		return d, err
	}
	return d, nil
}

type namespacePage struct {
	Name     string
	Kind     string
	Public   bool
	Recorded bool
	Usage    registry.NamespaceUsage
	Days     int
	Manage   bool
	Members  []meta.Member
	Robots   []tokenRow
	Roles    []auth.Role
	Secret   *createdSecret
	Settings bool // may open the namespace's settings
	// Activity is the latest entries of the namespace's feed, as the
	// visitor may read it; Charts its charts, for visitors who may pull
	// every repository of it.
	Activity []feedEntry
	Charts   *chartSet
}

// namespace shows a namespace: its repositories with their usage, its
// quota, and, to those who manage it, its members and robots.
func (h *Handler) namespace(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	h.namespaceWith(w, r, v, r.PathValue("ns"), answer{})
}

// namespaceWith renders namespace name's page with a's status, notice and
// problem (after a change).
func (h *Handler) namespaceWith(w http.ResponseWriter, r *http.Request, v visitor, name string, a answer) {
	if v.refusal != nil {
		h.fail(w, r, v, v.refusal)
		return
	}
	ctx := r.Context()
	d := namespacePage{Name: name, Roles: auth.Roles(), Days: registry.RecentDays}
	if sec, ok := a.Data.(*createdSecret); ok {
		d.Secret = sec
	}
	ns, err := h.acc.Namespace(ctx, v.caller, name)
	switch {
	case err == nil:
		d.Public, d.Recorded, d.Kind = ns.Public, true, ns.Kind
	case errors.Is(err, access.ErrNotFound) && v.admin() && oci.ValidateNamespace(name) == nil:
		// Without access control, a namespace is its repositories.
	default:
		h.fail(w, r, v, err)
		return
	}
	if d.Usage, err = h.reg.Usage(ctx, name); err != nil {
		h.fail(w, r, v, err)
		return
	}
	if !d.Recorded && len(d.Usage.Repositories) == 0 {
		h.fail(w, r, v, notFound("namespace %s not found", name))
		return
	}
	may := h.pullFilter(v)
	repos := d.Usage.Repositories[:0]
	for _, ru := range d.Usage.Repositories {
		ok, err := may(ctx, ru.Repository)
		if err != nil {
			h.fail(w, r, v, err)
			return
		}
		if ok {
			repos = append(repos, ru)
		}
	}
	d.Usage.Repositories = repos
	if d.Recorded && h.opts.Accounts && v.csrf != "" {
		if d.Manage, err = h.acc.MayManage(ctx, v.caller, name); err != nil {
			h.fail(w, r, v, err)
			return
		}
	}
	d.Settings = v.csrf != "" && (v.admin() || d.Manage)
	if d.Manage {
		if d.Members, err = h.acc.Members(ctx, v.caller, name); err != nil {
			h.fail(w, r, v, err)
			return
		}
		robots, err := h.acc.Robots(ctx, v.caller, name)
		if err != nil {
			h.fail(w, r, v, err)
			return
		}
		d.Robots = tokenRows(robots)
	}
	if d.Activity, d.Charts, err = h.namespaceExtras(ctx, v, name); err != nil {
		h.fail(w, r, v, err)
		return
	}
	a.Page, a.Title, a.Data = "namespace.html", name, d
	h.render(w, r, v, a)
}

type searchPage struct {
	Query   string
	Repos   []string
	Tags    []tagHit
	More    bool
	Scanned int
}

type tagHit struct {
	Repo, Tag string
	Digest    digest.Digest
}

// searchLimit bounds the repositories whose tags a search reads.
const searchLimit = 500

// search finds repositories whose names, and tags whose names, contain the
// query, among those the visitor may pull.
func (h *Handler) search(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if v.refusal != nil {
		h.fail(w, r, v, v.refusal)
		return
	}
	ctx := r.Context()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := searchPage{Query: q}
	if q == "" {
		h.render(w, r, v, answer{Page: "search.html", Title: "Search", Data: d})
		return
	}
	needle := strings.ToLower(q)
	repos, next, err := h.visibleRepos(ctx, v, "", searchLimit, "")
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	d.More, d.Scanned = next != "", len(repos)
	for _, repo := range repos {
		if strings.Contains(repo, needle) {
			d.Repos = append(d.Repos, repo)
		}
		inv, err := h.reg.Inventory(ctx, repo)
		if err != nil {
			h.fail(w, r, v, err)
			return
		}
		for _, t := range inv.Tags {
			if strings.Contains(strings.ToLower(t.Name), needle) && len(d.Tags) < 200 {
				d.Tags = append(d.Tags, tagHit{Repo: repo, Tag: t.Name, Digest: t.Digest})
			}
		}
	}
	h.render(w, r, v, answer{Page: "search.html", Title: "Search: " + q, Data: d})
}
