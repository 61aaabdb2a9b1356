package ui

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
)

// target is what a /r/ path names: a repository, and maybe one of its tags
// or manifests, and maybe an action on it. Repository names hold slashes
// but no segment "-", so "/-/" ends the name.
type target struct {
	Repo   string
	Tag    string
	Digest digest.Digest
	Action string // "", "delete", "scan" or "promote"
}

// actions are what a page of an image may do.
var actions = []string{"delete", "scan", "promote"}

func parseTarget(p string) (target, error) {
	repo, rest, _ := strings.Cut(p, "/-/")
	t := target{Repo: strings.TrimSuffix(repo, "/")}
	if err := oci.ValidateName(t.Repo); err != nil {
		return t, invalid("%v", err)
	}
	if rest == "" {
		return t, nil
	}
	segs := strings.Split(rest, "/")
	if len(segs) < 2 || len(segs) > 3 || (len(segs) == 3 && !slices.Contains(actions, segs[2])) {
		return t, notFound("there is no page /r/%s", p)
	}
	if len(segs) == 3 {
		t.Action = segs[2]
	}
	switch segs[0] {
	case "tags":
		if err := oci.ValidateTag(segs[1]); err != nil {
			return t, invalid("%v", err)
		}
		t.Tag = segs[1]
	case "manifests":
		d, err := oci.ParseDigest(segs[1])
		if err != nil {
			return t, invalid("%v", err)
		}
		t.Digest = d
	default:
		return t, notFound("there is no page /r/%s", p)
	}
	return t, nil
}

// ref is the reference a target names.
func (t target) ref() oci.Reference { return oci.Reference{Tag: t.Tag, Digest: t.Digest} }

// what names the target in messages: "tag app:v1", "manifest app@sha256:…".
func (t target) what() string {
	if t.Tag != "" {
		return "tag " + t.Repo + ":" + t.Tag
	}
	return "manifest " + t.Repo + "@" + string(t.Digest)
}

func (h *Handler) repoGet(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if v.refusal != nil {
		h.fail(w, r, v, v.refusal)
		return
	}
	t, err := parseTarget(r.PathValue("path"))
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	switch {
	case t.Action == "delete":
		h.confirmDelete(w, r, v, t)
	case t.Action == "promote":
		h.promotePreview(w, r, v, t)
	case t.Action == "scan":
		h.fail(w, r, v, notFound("a scan is requested with the button on the image's page"))
	case t.Tag != "" || t.Digest != "":
		h.image(w, r, v, t)
	default:
		var a answer
		if what := r.URL.Query().Get("deleted"); what != "" {
			a.Notice = "Deleted " + what + "."
		}
		h.repository(w, r, v, t.Repo, a)
	}
}

func (h *Handler) repoPost(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	t, err := parseTarget(r.PathValue("path"))
	if err == nil && t.Action == "" {
		err = notFound("nothing to post to at %s", r.URL.Path)
	}
	if err == nil {
		err = checkCSRF(r, v)
	}
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	switch t.Action {
	case "delete":
		h.delete(w, r, v, t)
	case "scan":
		h.scanNow(w, r, v, t)
	case "promote":
		h.promote(w, r, v, t)
	}
}

// tagRow is a tag as the repository page lists it, its figures written
// out here rather than by template functions: a page may list 1,000 tags,
// and each function a template calls per row costs a reflective call.
type tagRow struct {
	Name       string
	URL        string
	Digest     digest.Digest
	Short      string
	Size       string
	UpdatedAt  time.Time
	Updated    string // RFC 3339
	UpdatedAgo string
	PulledAgo  string
	Pulls      int64 // in the last registry.RecentDays days
}

type repoPage struct {
	Repo      string
	Namespace string
	Tags      []tagRow
	Untagged  []meta.InventoryManifest
	Sort      string
	Page      int
	Pages     int
	CanDelete bool
	Manifests int
	Usage     registry.RepositoryUsage
	Days      int
	// Activity is the latest entries of the repository's feed; Charts its
	// pushes and pulls per day.
	Activity []feedEntry
	Charts   *chartSet
}

// repository lists a repository's tags, newest first (or by name), a
// page of pageTags at a time, and its untagged manifests.
func (h *Handler) repository(w http.ResponseWriter, r *http.Request, v visitor, repo string, a answer) {
	ctx := r.Context()
	dec, err := h.repoAccess(ctx, v, repo, auth.ActionDelete)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	inv, err := h.reg.Inventory(ctx, repo)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	ru, err := h.reg.RepositoryUsage(ctx, repo)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	d := repoPage{Repo: repo, Namespace: oci.Namespace(repo), CanDelete: dec.Allows(auth.ActionDelete) && v.csrf != "",
		Sort: r.URL.Query().Get("sort"), Manifests: len(inv.Manifests), Usage: ru.RepositoryUsage, Days: registry.RecentDays}
	pulls := make(map[string]int64, len(ru.Tags))
	for _, t := range ru.Tags {
		pulls[t.Name] = t.RecentPulls
	}
	byDigest := make(map[digest.Digest]meta.InventoryManifest, len(inv.Manifests))
	tagged := map[digest.Digest]bool{}
	for _, m := range inv.Manifests {
		byDigest[m.Digest] = m
	}
	for _, t := range inv.Tags {
		m := byDigest[t.Digest]
		tagged[t.Digest] = true
		d.Tags = append(d.Tags, tagRow{Name: t.Name, URL: tagURL(repo, t.Name), Digest: t.Digest, Short: shortDigest(t.Digest),
			Size: humanBytes(m.Size), UpdatedAt: t.UpdatedAt, Updated: when(t.UpdatedAt), UpdatedAgo: ago(t.UpdatedAt),
			PulledAgo: ago(m.PulledAt), Pulls: pulls[t.Name]})
	}
	// Children of tagged indexes are reached through them; referrers
	// through their subjects: neither is "untagged" to a person.
	for _, m := range inv.Manifests {
		for _, c := range m.Children {
			tagged[c] = true
		}
	}
	for _, m := range inv.Manifests {
		if !tagged[m.Digest] && m.Subject == "" {
			d.Untagged = append(d.Untagged, m)
		}
	}
	if d.Sort != "name" {
		d.Sort = "recent"
		slices.SortStableFunc(d.Tags, func(a, b tagRow) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	}
	d.Pages = max(1, (len(d.Tags)+pageTags-1)/pageTags)
	d.Page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	d.Page = min(max(d.Page, 1), d.Pages)
	d.Tags = d.Tags[(d.Page-1)*pageTags : min(len(d.Tags), d.Page*pageTags)]
	if d.Activity, err = h.recentActivity(ctx, v, d.Namespace, repo); err != nil {
		h.fail(w, r, v, err)
		return
	}
	if d.Charts, err = h.repositoryCharts(ctx, repo); err != nil {
		h.fail(w, r, v, err)
		return
	}
	a.Page, a.Title, a.Data = "repo.html", repo, d
	h.render(w, r, v, a)
}

type deletePage struct {
	Target    target
	Action    string
	Tags      []string // the tags that go with a manifest
	CancelURL string
}

// confirmDelete asks before deleting: the page works without JavaScript.
func (h *Handler) confirmDelete(w http.ResponseWriter, r *http.Request, v visitor, t target) {
	ctx := r.Context()
	dec, err := h.repoAccess(ctx, v, t.Repo, auth.ActionDelete)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	if !dec.Allows(auth.ActionDelete) || v.csrf == "" {
		h.fail(w, r, v, denied("delete on %s is not allowed", t.Repo))
		return
	}
	m, err := h.reg.Manifest(ctx, t.Repo, t.ref())
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	d := deletePage{Target: t, CancelURL: tagURL(t.Repo, t.Tag)}
	if t.Tag == "" {
		d.CancelURL = digestURL(t.Repo, t.Digest)
		if d.Tags, err = h.reg.ManifestTags(ctx, t.Repo, m.Digest); err != nil {
			h.fail(w, r, v, err)
			return
		}
	}
	d.Action = r.URL.Path
	h.render(w, r, v, answer{Page: "delete.html", Title: "Delete " + t.what(), Data: d})
}

// delete deletes a tag or a manifest, as DELETE /api/v1/repositories/…
// does, and records it in the audit log.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request, v visitor, t target) {
	ctx := r.Context()
	action, what := "tag.delete", t.Repo+":"+t.Tag
	if t.Tag == "" {
		action, what = "manifest.delete", t.Repo+"@"+string(t.Digest)
	}
	err := func() error {
		dec, err := h.repoAccess(ctx, v, t.Repo, auth.ActionDelete)
		if err != nil {
			return err
		}
		if !dec.Allows(auth.ActionDelete) {
			return denied("delete on %s is not allowed", t.Repo)
		}
		if err := h.opts.Network.Refuse(ctx, t.Repo, []auth.Action{auth.ActionDelete}, mw.ClientAddr(ctx)); err != nil {
			return err
		}
		return h.reg.DeleteManifest(ctx, t.Repo, t.ref())
	}()
	if err != nil { // a deletion made wrote its event in its transaction
		h.refused(r, v, action, what, err)
	}
	if err != nil {
		if apierr.Is(err, apierr.ManifestUnknown) {
			err = notFound("%s not found", t.what())
		}
		h.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, repoURL(t.Repo)+"?deleted="+url.QueryEscape(t.what()), http.StatusSeeOther)
}
