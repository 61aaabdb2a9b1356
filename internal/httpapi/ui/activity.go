package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/oci"
)

// The activity feed: who did what to which image, when, read from the
// event stream through access.Service.Activity, which leaves out what the
// visitor may not read. The registry's feed (/-/activity) is for system
// administrators; a namespace's (/ns/NS/-/activity) for those who may see
// the namespace; the namespace and repository pages show the latest
// entries.

// feedEntry is an event as the feed shows it, written out here.
type feedEntry struct {
	At     time.Time
	Actor  string
	Verb   string
	Repo   string // the repository, linked; "" for events about no repository
	Ref    string // ":tag" or "@sha256:…" after the repository
	URL    string // the image's page, or the repository's when the image is gone
	Detail string
	Kind   string
}

type activityPage struct {
	Namespace  string // "" for the registry's feed
	Repository string
	Kind       string
	Kinds      []string
	Entries    []feedEntry
	NextURL    string
	Charts     *chartSet
}

// feedSize is the entries of a page of the feed; the namespace and
// repository pages show feedRecent.
const (
	feedSize   = 50
	feedRecent = 10
)

// registryActivity is the whole registry's feed, with its charts.
func (h *Handler) registryActivity(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if v.refusal != nil {
		h.fail(w, r, v, v.refusal)
		return
	}
	if !v.signedIn && h.opts.Accounts {
		http.Redirect(w, r, "/-/login?return_to="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	h.activity(w, r, v, "")
}

// namespaceActivity is a namespace's feed.
func (h *Handler) namespaceActivity(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if v.refusal != nil {
		h.fail(w, r, v, v.refusal)
		return
	}
	if !v.signedIn && h.opts.Accounts {
		http.Redirect(w, r, "/-/login?return_to="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	ns := r.PathValue("ns")
	if err := oci.ValidateNamespace(ns); err != nil {
		h.fail(w, r, v, invalid("%v", err))
		return
	}
	h.activity(w, r, v, ns)
}

func (h *Handler) activity(w http.ResponseWriter, r *http.Request, v visitor, ns string) {
	ctx := r.Context()
	qs := r.URL.Query()
	d := activityPage{Namespace: ns, Repository: strings.TrimSpace(qs.Get("repository")), Kind: qs.Get("kind")}
	q := access.ActivityQuery{Namespace: ns, Repository: d.Repository, N: feedSize}
	if d.Kind != "" {
		q.Kinds = []events.Kind{events.Kind(d.Kind)}
	}
	if b := qs.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			h.fail(w, r, v, invalid("before must be an event's number, got %q", b))
			return
		}
		q.Before = n
	}
	if ns != "" {
		if err := h.opts.Network.Refuse(ctx, ns+"/*", []auth.Action{auth.ActionPull}, mw.ClientAddr(ctx)); err != nil {
			h.fail(w, r, v, err)
			return
		}
	}
	a, err := h.acc.Activity(ctx, v.caller, q)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	if d.Entries, err = h.feedEntries(ctx, a.Entries, ns == ""); err != nil {
		h.fail(w, r, v, err)
		return
	}
	for _, k := range a.Kinds {
		d.Kinds = append(d.Kinds, string(k))
	}
	if a.Next > 0 {
		next := url.Values{"before": {strconv.FormatInt(a.Next, 10)}}
		if d.Kind != "" {
			next.Set("kind", d.Kind)
		}
		if d.Repository != "" {
			next.Set("repository", d.Repository)
		}
		d.NextURL = r.URL.Path + "?" + next.Encode()
	}
	title := "Activity"
	if ns != "" {
		title = "Activity of " + ns
	} else if q.Before == 0 {
		// The registry's charts head its feed's first page.
		if d.Charts, err = h.registryCharts(ctx); err != nil {
			h.fail(w, r, v, err)
			return
		}
	}
	h.render(w, r, v, answer{Page: "activity.html", Title: title, Data: d})
}

// recentActivity is the latest entries of a namespace's or repository's
// feed for its page: none for anonymous visitors, who may not read the
// feed, or where the feed refuses.
func (h *Handler) recentActivity(ctx context.Context, v visitor, ns, repo string) ([]feedEntry, error) {
	if v.caller.Principal.Anonymous() {
		return nil, nil
	}
	if err := h.opts.Network.Refuse(ctx, ns+"/*", []auth.Action{auth.ActionPull}, mw.ClientAddr(ctx)); err != nil {
		if status, _ := classify(err); status < 500 {
			return nil, nil
		}
		return nil, err
	}
	a, err := h.acc.Activity(ctx, v.caller, access.ActivityQuery{Namespace: ns, Repository: repo, N: feedRecent})
	if err != nil {
		if status, _ := classify(err); status < 500 {
			return nil, nil
		}
		return nil, err
	}
	return h.feedEntries(ctx, a.Entries, false)
}

// feedEntries writes out entries. The registry's feed (network) also
// leaves out the namespaces whose network rules refuse the visitor's
// address pulls, as their pages would.
func (h *Handler) feedEntries(ctx context.Context, es []access.ActivityEntry, network bool) ([]feedEntry, error) {
	refused := map[string]bool{}
	out := make([]feedEntry, 0, len(es))
	for _, e := range es {
		if network && e.Namespace != "" {
			no, seen := refused[e.Namespace]
			if !seen {
				err := h.opts.Network.Refuse(ctx, e.Namespace+"/*", []auth.Action{auth.ActionPull}, mw.ClientAddr(ctx))
				if status, _ := classify(err); err != nil && status >= 500 {
					return nil, err
				}
				no = err != nil
				refused[e.Namespace] = no
			}
			if no {
				continue
			}
		}
		out = append(out, entryOf(e.Event))
	}
	return out, nil
}

// actorName is how the feed names an actor: a user by name, others by
// kind and name ("robot team+ci", "system gc").
func actorName(a string) string {
	if name, ok := strings.CutPrefix(a, "user:"); ok {
		return name
	}
	return strings.Replace(a, ":", " ", 1)
}

// entryOf writes out one event.
func entryOf(e events.Event) feedEntry {
	f := feedEntry{At: e.At, Actor: actorName(e.Actor.Name), Repo: e.Repository, Kind: string(e.Kind())}
	image := func(tag string, d digest.Digest) {
		switch {
		case tag != "":
			f.Ref, f.URL = ":"+tag, tagURL(e.Repository, tag)
		case d != "":
			f.Ref, f.URL = "@"+shortDigest(d), digestURL(e.Repository, d)
		}
	}
	gone := func(tag string, d digest.Digest) {
		switch {
		case tag != "":
			f.Ref = ":" + tag
		case d != "":
			f.Ref = "@" + shortDigest(d)
		}
		f.URL = repoURL(e.Repository)
	}
	switch d := e.Data.(type) {
	case *events.ArtifactPushed:
		f.Verb = "pushed"
		image(first(d.Tags), d.Digest)
		switch {
		case d.Subject != "":
			f.Detail = "a referrer of " + shortDigest(d.Subject)
		case len(d.Platforms) > 0:
			f.Detail = plural(len(d.Platforms), "platform")
		}
		if d.Size > 0 {
			f.Detail = strings.TrimPrefix(f.Detail+", "+humanBytes(d.Size), ", ")
		}
	case *events.ArtifactPulled:
		f.Verb = "pulled"
		image(d.Tag, d.Digest)
		if d.Count != 1 {
			f.Detail = fmt.Sprintf("%d times", d.Count)
		}
	case *events.ArtifactDeleted:
		f.Verb = "deleted"
		gone("", d.Digest)
		f.Detail = joinDetail(tagList(d.Tags), d.Reason)
	case *events.TagMoved:
		f.Verb = "pointed tag"
		image(d.Tag, "")
		f.Detail = "at " + shortDigest(d.Digest)
		if d.Previous != "" {
			f.Detail += ", was " + shortDigest(d.Previous)
		}
	case *events.TagDeleted:
		f.Verb = "deleted tag"
		gone(d.Tag, "")
		f.Detail = d.Reason
	case *events.RepositoryCreated:
		f.Verb, f.URL = "created repository", repoURL(e.Repository)
	case *events.RepositoryDeleted:
		f.Verb, f.URL = "emptied repository", repoURL(e.Repository)
	case *events.ArtifactPromoted:
		f.Verb = "promoted"
		image(first(d.Tags), d.Digest)
		from := d.From
		if d.FromTag != "" {
			from += ":" + d.FromTag
		}
		f.Detail = "from " + from
		if d.Remote != "" {
			f.Detail += " to " + d.Remote
		}
	case *events.ScanCompleted:
		f.Verb = "scanned"
		image(d.Tag, d.Digest)
		f.Detail = scanDetail(d)
	case *events.SignatureVerified:
		f.Verb = "checked the signature of"
		image(d.Tag, d.Digest)
		if d.Verified {
			f.Detail = "verified"
			if d.Signer != "" {
				f.Detail += ", signed by " + d.Signer
			}
		} else {
			f.Detail = joinDetail("not verified", d.Reason)
		}
	case *events.QuotaWarning:
		f.Verb = "pushed past the quota warning of"
		f.Repo, f.URL = e.Namespace, "/ns/"+url.PathEscape(e.Namespace)
		f.Detail = fmt.Sprintf("%d%% of %s used", d.Percent, humanBytes(d.LimitBytes))
	default:
		// The namespace's own events (members, robots, policies): as the
		// audit log words them.
		line := e.Data.Audit(&e)
		f.Verb, f.Detail, f.Repo = line.Action, joinDetail(line.Target, line.Detail), ""
	}
	return f
}

func first(s []string) string {
	if len(s) > 0 {
		return s[0]
	}
	return ""
}

func tagList(tags []string) string {
	if len(tags) == 0 {
		return ""
	}
	return "with tags " + strings.Join(tags, ", ")
}

func joinDetail(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// scanDetail is a scan's outcome in words: "2 critical, 1 high".
func scanDetail(d *events.ScanCompleted) string {
	if d.Status != "scanned" {
		return joinDetail(d.Status, d.Error)
	}
	var parts []string
	for _, sev := range []string{"critical", "high", "medium", "low", "unknown"} {
		if n := d.Vulnerabilities[sev]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, sev))
		}
	}
	if len(parts) == 0 {
		return "no known vulnerabilities"
	}
	return strings.Join(parts, ", ")
}

// namespaceExtras are the feed's latest entries and the charts of
// namespace ns's page. The charts count every repository of ns, so they
// are for visitors who may pull every one of them.
func (h *Handler) namespaceExtras(ctx context.Context, v visitor, ns string) ([]feedEntry, *chartSet, error) {
	feed, err := h.recentActivity(ctx, v, ns, "")
	if err != nil {
		return nil, nil, err
	}
	if !v.admin() {
		d, err := h.acc.Decide(ctx, v.caller.Principal, ns+"/*", []auth.Action{auth.ActionPull})
		if err != nil {
			return nil, nil, err
		}
		if !d.Allows(auth.ActionPull) {
			return feed, nil, nil
		}
	}
	charts, err := h.namespaceCharts(ctx, ns)
	return feed, charts, err
}
