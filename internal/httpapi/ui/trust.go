package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/promotion"
	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scanner"
)

// What the image page shows of scanning and promotion, through the
// scanner's and the promotion service's own calls, with the visitor as
// the caller.

// vulnSection is the image page's vulnerability section.
type vulnSection struct {
	Manifests []scanner.ManifestScan
	Summary   scan.Summary // of every platform image, before filtering
	Bars      []severityBar
	// Filters: a severity and worse, fixable only.
	Severity string
	Fixable  bool
	Shown    int
	CanScan  bool
}

// severityBar is one bar of the findings-by-severity chart.
type severityBar struct {
	Severity string
	Count    int
	Width    int // of 100
	Y        int
}

// severities are the scale, worst first.
var severities = []scan.Severity{scan.Critical, scan.High, scan.Medium, scan.Low, scan.Unknown}

func severityRank(s scan.Severity) int {
	if i := slices.Index(severities, s); i >= 0 {
		return i
	}
	return len(severities)
}

// vulnerabilities reads the scan of the image t names, filtered by the
// page's query (?severity=high&fixable=1); nil without a scanner.
func (h *Handler) vulnerabilities(r *http.Request, v visitor, t target, dec auth.Decision) (*vulnSection, error) {
	if h.opts.Scanner == nil {
		return nil, nil
	}
	is, err := h.opts.Scanner.Image(r.Context(), t.Repo, t.ref())
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	vs := &vulnSection{Severity: q.Get("severity"), Fixable: q.Get("fixable") != "", CanScan: dec.Allows(auth.ActionPush) && v.csrf != ""}
	worst := len(severities)
	if vs.Severity != "" {
		worst = severityRank(scan.Severity(vs.Severity))
	}
	for _, m := range is.Manifests {
		vs.Summary = addSummary(vs.Summary, m.Summary)
		kept := m.Findings[:0]
		for _, f := range m.Findings {
			if severityRank(f.Severity) <= worst && (!vs.Fixable || f.Fixable()) {
				kept = append(kept, f)
			}
		}
		slices.SortStableFunc(kept, func(a, b scanner.Finding) int { return severityRank(a.Severity) - severityRank(b.Severity) })
		m.Findings = kept
		vs.Shown += len(kept)
		vs.Manifests = append(vs.Manifests, m)
	}
	vs.Bars = severityBars(vs.Summary)
	return vs, nil
}

func addSummary(a, b scan.Summary) scan.Summary {
	return scan.Summary{Critical: a.Critical + b.Critical, High: a.High + b.High, Medium: a.Medium + b.Medium,
		Low: a.Low + b.Low, Unknown: a.Unknown + b.Unknown, Fixable: a.Fixable + b.Fixable}
}

// severityBars lays out the chart: one bar per severity, widths relative
// to the largest.
func severityBars(s scan.Summary) []severityBar {
	counts := []int{s.Critical, s.High, s.Medium, s.Low, s.Unknown}
	top := max(1, slices.Max(counts))
	out := make([]severityBar, len(counts))
	for i, n := range counts {
		out[i] = severityBar{Severity: string(severities[i]), Count: n, Width: n * 100 / top, Y: i * 22}
	}
	return out
}

// scanNow queues the image for a scan, for those who may push to it, as
// POST /api/v1/…/scan does.
func (h *Handler) scanNow(w http.ResponseWriter, r *http.Request, v visitor, t target) {
	ctx := r.Context()
	err := func() error {
		if h.opts.Scanner == nil {
			return notFound("scanning is not enabled on this registry (scanning.enabled)")
		}
		dec, err := h.repoAccess(ctx, v, t.Repo, auth.ActionPush)
		if err != nil {
			return err
		}
		if !dec.Allows(auth.ActionPush) {
			return denied("scanning %s needs push", t.Repo)
		}
		if err := h.opts.Network.Refuse(ctx, t.Repo, []auth.Action{auth.ActionPush}, mw.ClientAddr(ctx)); err != nil {
			return err
		}
		_, err = h.opts.Scanner.Request(ctx, t.Repo, t.ref())
		return err
	}()
	h.record(r, v, "scan.request", t.Repo+":"+t.ref().String(), err) // a scan queued wrote its event in its transaction
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, imageURL(t)+"?scan=queued#vulnerabilities", http.StatusSeeOther)
}

// record records an action the visitor tried that err refused or that
// failed; an action made is recorded by the service that made it, in its
// transaction.
func (h *Handler) record(r *http.Request, v visitor, action, target string, err error) {
	if err != nil {
		h.refused(r, v, action, target, err)
	}
}

// refused records an action the visitor tried that err refused
// (access.denied) or that failed (request.failed).
func (h *Handler) refused(r *http.Request, v visitor, action, target string, err error) {
	status, msg := classify(err)
	var data events.Data = &events.RequestFailed{Action: action, Target: target, Code: apierr.From(err).Code.Name, Reason: msg}
	if status == http.StatusForbidden {
		data = &events.AccessDenied{Action: action, Target: target, Reason: msg}
	}
	h.acc.Record(r.Context(), v.caller, "", data)
}

func imageURL(t target) string {
	if t.Tag != "" {
		return tagURL(t.Repo, t.Tag)
	}
	return digestURL(t.Repo, t.Digest)
}

// promotionSection is the image page's record of where the image came
// from and went, and the form to promote it.
type promotionSection struct {
	Records []promotionRow
	Remotes []string
	Source  string // what the form promotes: repo@digest
}

type promotionRow struct {
	promotion.Record
	Gates []promotion.GateResult
}

func promotionRows(recs []promotion.Record) []promotionRow {
	out := make([]promotionRow, 0, len(recs))
	for _, rec := range recs {
		row := promotionRow{Record: rec}
		_ = json.Unmarshal(rec.Gates, &row.Gates) // the promotion service wrote it
		out = append(out, row)
	}
	return out
}

// promotions reads the records of the image's digest the visitor may see.
func (h *Handler) promotions(r *http.Request, v visitor, repo string, m *meta.Manifest) (*promotionSection, error) {
	if h.opts.Promotion == nil {
		return nil, nil
	}
	recs, err := h.opts.Promotion.Records(r.Context(), v.caller, meta.PromotionQuery{Digest: m.Digest, N: 20})
	if err != nil {
		return nil, err
	}
	return &promotionSection{Records: promotionRows(recs), Remotes: h.opts.Promotion.Remotes(), Source: repo + "@" + string(m.Digest)}, nil
}

type promotePage struct {
	Target  target
	Request promotion.Request
	Preview promotion.Preview
	Passed  bool
	Action  string
}

// promoteRequest reads the promotion form.
func promoteRequest(r *http.Request, t target) promotion.Request {
	get := r.URL.Query().Get
	if r.Method == http.MethodPost {
		get = r.PostFormValue
	}
	return promotion.Request{Source: t.Repo + "@" + string(t.Digest), Target: strings.TrimSpace(get("target")), Remote: get("remote")}
}

// promotePreview shows the gates a promotion would meet, and a button to
// promote when they pass.
func (h *Handler) promotePreview(w http.ResponseWriter, r *http.Request, v visitor, t target) {
	if h.opts.Promotion == nil || v.csrf == "" {
		h.fail(w, r, v, notFound("promotion is not available here"))
		return
	}
	if t.Digest == "" {
		h.fail(w, r, v, invalid("promote an image by its digest"))
		return
	}
	req := promoteRequest(r, t)
	p, err := h.opts.Promotion.Preview(r.Context(), v.caller, req)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	d := promotePage{Target: t, Request: req, Preview: p, Passed: true, Action: r.URL.Path}
	for _, g := range p.Gates {
		d.Passed = d.Passed && g.Passed
	}
	h.render(w, r, v, answer{Page: "promote.html", Title: "Promote " + t.Repo, Data: d})
}

// promote runs the promotion, as POST /api/v1/promotions does; a refusal
// shows every gate with why.
func (h *Handler) promote(w http.ResponseWriter, r *http.Request, v visitor, t target) {
	if h.opts.Promotion == nil {
		h.fail(w, r, v, notFound("promotion is not available here"))
		return
	}
	req := promoteRequest(r, t)
	res, err := h.opts.Promotion.Promote(r.Context(), v.caller, req)
	var refused *promotion.Refused
	if errors.As(err, &refused) {
		d := promotePage{Target: t, Request: req, Preview: promotion.Preview{Digest: t.Digest, Gates: refused.Result.Gates}, Action: r.URL.Path}
		h.render(w, r, v, answer{Status: http.StatusForbidden, Page: "promote.html", Title: "Promotion refused", Data: d, Problem: refused.Error()})
		return
	}
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	repo, tag := promotedTo(req.Target)
	notice := "Promoted to " + req.Target + "."
	if res.State == promotion.StatePending {
		notice = "The promotion waits for approvals (request " + formatID(res.Pending) + ")."
	}
	to := digestURL(repo, t.Digest)
	if tag != "" {
		to = tagURL(repo, tag)
	}
	if req.Remote != "" || res.State == promotion.StatePending {
		to = imageURL(t)
	}
	http.Redirect(w, r, to+"?promoted="+url.QueryEscape(notice), http.StatusSeeOther)
}

func promotedTo(s string) (string, string) {
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func formatID(p *promotion.Pending) string {
	if p == nil {
		return "?"
	}
	return strconv.FormatInt(p.ID, 10)
}

type promotionsPage struct {
	Pending []promotion.Pending
	Records []promotionRow
}

// promotionsList shows the promotions waiting for approvals and the recent
// records, those the visitor may see, with an approve button on each
// request.
func (h *Handler) promotionsList(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	h.promotionsWith(w, r, v, answer{})
}

func (h *Handler) promotionsWith(w http.ResponseWriter, r *http.Request, v visitor, a answer) {
	if v.refusal != nil {
		h.fail(w, r, v, v.refusal)
		return
	}
	if h.opts.Promotion == nil {
		h.fail(w, r, v, notFound("promotion is not available here"))
		return
	}
	ctx := r.Context()
	var d promotionsPage
	var err error
	if d.Pending, err = h.opts.Promotion.Requests(ctx, v.caller, meta.RequestPending, 100); err != nil {
		h.fail(w, r, v, err)
		return
	}
	recs, err := h.opts.Promotion.Records(ctx, v.caller, meta.PromotionQuery{N: 50})
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	d.Records = promotionRows(recs)
	a.Page, a.Title, a.Data = "promotions.html", "Promotions", d
	h.render(w, r, v, a)
}

// approve approves a pending promotion, as POST
// /api/v1/promotion-requests/{id}/approve does.
func (h *Handler) approve(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if err := checkCSRF(r, v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	if h.opts.Promotion == nil {
		h.fail(w, r, v, notFound("promotion is not available here"))
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.fail(w, r, v, notFound("no promotion request %q", r.PathValue("id")))
		return
	}
	res, err := h.opts.Promotion.Approve(r.Context(), v.caller, id, strings.TrimSpace(r.PostFormValue("comment")))
	var refused *promotion.Refused
	switch {
	case errors.As(err, &refused):
		h.promotionsWith(w, r, v, answer{Status: http.StatusForbidden, Problem: refused.Error()})
	case err != nil:
		status, msg := classify(err)
		h.promotionsWith(w, r, v, answer{Status: status, Problem: msg})
	case res.State == promotion.StatePending:
		h.promotionsWith(w, r, v, answer{Notice: "Approved; the promotion waits for more approvals."})
	default:
		h.promotionsWith(w, r, v, answer{Notice: "Approved and promoted."})
	}
}
