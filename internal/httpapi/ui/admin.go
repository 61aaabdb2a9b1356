package ui

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/proxy"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/replication"
)

// The administration page: system health, garbage collection with its
// report, what each namespace stores, and replication rules with their
// runs. System administrators only (the local administrator without access
// control), as on the management API.

// GCReport is what a garbage collection run did, or with DryRun would do.
type GCReport struct {
	DryRun           bool
	Reviewed         int
	BlobsDeleted     int
	ManifestsDeleted int
	BytesFreed       int64
	Kept             int
	Deferred         int
	Errors           int
	Seconds          float64
}

type adminPage struct {
	StoresErr   string
	VulnData    string
	VulnAge     time.Time
	Scanning    bool
	LastGC      *meta.AuditEvent
	GC          *GCReport
	Storage     *storageChart
	Proxy       bool
	Upstreams   []proxy.Status
	Replication bool
	Rules       []replication.Rule
	Runs        []meta.ReplicationRun
	Jobs        []JobStatus
	ScheduledGC time.Time // the gc job's last success on this replica
	Webhooks    bool
}

// storageChart is the bar chart of what each namespace stores.
type storageChart struct {
	Total, Blobs int64
	Bars         []storageBar
	Height       int
}

type storageBar struct {
	Namespace string
	Bytes     int64
	Width     int // of 300
	Y         int
}

func (h *Handler) adminOnly(w http.ResponseWriter, r *http.Request, v visitor) bool {
	switch {
	case v.refusal != nil:
		h.fail(w, r, v, v.refusal)
	case !v.signedIn && h.opts.Accounts:
		http.Redirect(w, r, "/-/login?return_to="+r.URL.Path, http.StatusSeeOther)
	case !v.admin() || v.csrf == "":
		h.fail(w, r, v, denied("the administration page is for system administrators"))
	default:
		return true
	}
	return false
}

func (h *Handler) admin(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	h.adminWith(w, r, v, answer{})
}

func (h *Handler) adminWith(w http.ResponseWriter, r *http.Request, v visitor, a answer) {
	if !h.adminOnly(w, r, v) {
		return
	}
	ctx := r.Context()
	d := adminPage{Scanning: h.opts.Scanner != nil, Replication: h.opts.Replication != nil, Proxy: h.opts.Proxy != nil, Webhooks: h.opts.Webhooks != nil}
	d.Jobs, d.ScheduledGC = h.jobsHealth()
	if prev, ok := a.Data.(adminPage); ok {
		d.GC, d.Storage = prev.GC, prev.Storage
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if err := h.reg.Ping(pctx); err != nil {
		d.StoresErr = err.Error()
	}
	cancel()
	if h.opts.Scanner != nil {
		if ref, ok := h.opts.Scanner.Data(); ok {
			d.VulnData, d.VulnAge = ref.Digest, ref.Imported
		}
	}
	es, err := h.acc.AuditEvents(ctx, v.caller, meta.AuditQuery{Action: "gc.run", N: 1})
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	if len(es) > 0 {
		d.LastGC = &es[0]
	}
	if h.opts.Proxy != nil {
		if d.Upstreams, err = h.opts.Proxy.Upstreams(ctx); err != nil {
			h.fail(w, r, v, err)
			return
		}
	}
	if h.opts.Replication != nil {
		if d.Rules, err = h.opts.Replication.Rules(ctx); err != nil {
			h.fail(w, r, v, err)
			return
		}
		if d.Runs, err = h.opts.Replication.Runs(ctx, meta.ReplicationRunQuery{N: 20}); err != nil {
			h.fail(w, r, v, err)
			return
		}
	}
	a.Page, a.Title, a.Data = "admin.html", "Administration", d
	h.render(w, r, v, a)
}

// collectGarbage runs garbage collection now, or a dry run, and shows its
// report.
func (h *Handler) collectGarbage(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if !h.adminOnly(w, r, v) {
		return
	}
	if err := checkCSRF(r, v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	if h.opts.CollectGarbage == nil {
		h.fail(w, r, v, notFound("garbage collection is not available on this server"))
		return
	}
	dry := r.PostFormValue("dry_run") != ""
	rep, err := h.opts.CollectGarbage(r.Context(), dry)
	if !dry {
		h.record(r, v, "gc.run", "gc", err)
	}
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	h.adminWith(w, r, v, answer{Data: adminPage{GC: &rep}})
}

// countStorage adds up what every namespace stores: it reads every link
// and manifest, so it runs when asked, not with each page.
func (h *Handler) countStorage(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if !h.adminOnly(w, r, v) {
		return
	}
	if err := checkCSRF(r, v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	u, err := h.reg.StorageUsage(r.Context())
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	h.adminWith(w, r, v, answer{Data: adminPage{Storage: storageBars(u)}})
}

func storageBars(u registry.StorageUsage) *storageChart {
	c := &storageChart{Total: u.Bytes, Blobs: u.Blobs}
	nss := slices.Clone(u.Namespaces)
	slices.SortFunc(nss, func(a, b meta.NamespaceBytes) int { return int(b.Bytes - a.Bytes) })
	if len(nss) > 20 {
		nss = nss[:20]
	}
	var top int64 = 1
	for _, n := range nss {
		top = max(top, n.Bytes)
	}
	for i, n := range nss {
		c.Bars = append(c.Bars, storageBar{Namespace: n.Namespace, Bytes: n.Bytes, Width: int(n.Bytes * 300 / top), Y: i * 22})
	}
	c.Height = len(c.Bars)*22 + 4
	return c
}

// runReplication starts a run of a replication rule now.
func (h *Handler) runReplication(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if !h.adminOnly(w, r, v) {
		return
	}
	if err := checkCSRF(r, v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	if h.opts.Replication == nil {
		h.fail(w, r, v, notFound("replication is not available on this server"))
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var run meta.ReplicationRun
	if err == nil {
		run, err = h.opts.Replication.RunNow(r.Context(), id, v.caller.Principal.String())
		if errors.Is(err, replication.ErrNotFound) {
			err = notFound("no replication rule %d", id)
		}
	} else {
		err = notFound("no replication rule %q", r.PathValue("id"))
	}
	h.record(r, v, "replication.run", r.PathValue("id"), err) // a queued run's event is in its transaction
	if err != nil {
		status, msg := classify(err)
		h.adminWith(w, r, v, answer{Status: status, Problem: msg})
		return
	}
	h.adminWith(w, r, v, answer{Notice: "Replication run " + strconv.FormatInt(run.ID, 10) + " is queued."})
}
