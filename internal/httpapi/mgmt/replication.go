package mgmt

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/replication"
)

// Replication rules and their runs (docs/replication.md). System
// administrators only: a rule holds a remote registry's credentials and
// copies across namespaces.
var replicationRoutes = []route{
	{method: http.MethodGet, path: "/api/v1/replication/rules", handler: (*Handler).listReplicationRules},
	{method: http.MethodPost, path: "/api/v1/replication/rules", handler: (*Handler).createReplicationRule},
	{method: http.MethodGet, path: "/api/v1/replication/rules/{id}", handler: (*Handler).getReplicationRule},
	{method: http.MethodPut, path: "/api/v1/replication/rules/{id}", handler: (*Handler).updateReplicationRule},
	{method: http.MethodDelete, path: "/api/v1/replication/rules/{id}", handler: (*Handler).deleteReplicationRule},
	{method: http.MethodPost, path: "/api/v1/replication/rules/{id}/run", handler: (*Handler).runReplicationRule},
	{method: http.MethodGet, path: "/api/v1/replication/runs", handler: (*Handler).listReplicationRuns},
	{method: http.MethodGet, path: "/api/v1/replication/runs/{id}", handler: (*Handler).getReplicationRun},
	{method: http.MethodGet, path: "/api/v1/replication/runs/{id}/log", handler: (*Handler).getReplicationLog},
}

// ReplicationRulePut is the body that creates or replaces a rule. The
// rule as the API shows it is replication.Rule, without the password.
type ReplicationRulePut struct {
	Name string `json:"name"`
	// Enabled defaults to true.
	Enabled   *bool                 `json:"enabled,omitempty"`
	Direction string                `json:"direction"`
	Remote    ReplicationRemotePut  `json:"remote"`
	Repos     []string              `json:"repositories"`
	NotRepos  []string              `json:"excludeRepositories,omitempty"`
	Tags      []string              `json:"tags,omitempty"`
	NotTags   []string              `json:"excludeTags,omitempty"`
	Mappings  []replication.Mapping `json:"mappings,omitempty"`
	Trigger   replication.Trigger   `json:"trigger"`
	Deletes   bool                  `json:"deletes"`
	Conc      int                   `json:"concurrency,omitempty"`
	Bandwidth int64                 `json:"bandwidthLimit,omitempty"`
	Chunk     int64                 `json:"chunkSize,omitempty"`
}

// ReplicationRemotePut is the remote registry of a rule being written.
type ReplicationRemotePut struct {
	URL      string `json:"url"`
	Username string `json:"username,omitempty"`
	// Password is never shown back. Left out when replacing a rule, the
	// stored one is kept (for the same URL and username); "" removes it.
	Password *string `json:"password,omitempty"`
	CACert   string  `json:"caCert,omitempty"`
}

// ReplicationRun is a run as the API shows it.
type ReplicationRun struct {
	ID          int64      `json:"id"`
	Rule        int64      `json:"rule"`
	Trigger     string     `json:"trigger"`
	State       string     `json:"state"`
	RequestedBy string     `json:"requestedBy"`
	CreatedAt   time.Time  `json:"createdAt"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
	FinishedAt  *time.Time `json:"finishedAt,omitempty"`
	Attempts    int        `json:"attempts"`
	Copied      int64      `json:"copied"`
	Skipped     int64      `json:"skipped"`
	Failed      int64      `json:"failed"`
	Deleted     int64      `json:"deleted"`
	Bytes       int64      `json:"bytes"`
	Error       string     `json:"error,omitempty"`
}

// ReplicationLogLine is a line of a run's log: what happened to one
// artifact.
type ReplicationLogLine struct {
	Seq         int64     `json:"seq"`
	Source      string    `json:"source"`
	Destination string    `json:"destination"`
	Digest      string    `json:"digest,omitempty"`
	Result      string    `json:"result"`
	Reason      string    `json:"reason,omitempty"`
	Bytes       int64     `json:"bytes"`
	Seconds     float64   `json:"seconds"`
	At          time.Time `json:"at"`
}

func runOf(r meta.ReplicationRun) ReplicationRun {
	out := ReplicationRun{ID: r.ID, Rule: r.RuleID, Trigger: r.Trigger, State: r.State, RequestedBy: r.RequestedBy,
		CreatedAt: r.CreatedAt, Attempts: r.Attempts, Copied: r.Copied, Skipped: r.Skipped, Failed: r.Failed,
		Deleted: r.Deleted, Bytes: r.Bytes, Error: r.Error}
	if !r.StartedAt.IsZero() {
		out.StartedAt = &r.StartedAt
	}
	if !r.FinishedAt.IsZero() {
		out.FinishedAt = &r.FinishedAt
	}
	return out
}

func (in ReplicationRulePut) rule() replication.Rule {
	r := replication.Rule{Name: in.Name, Enabled: in.Enabled == nil || *in.Enabled, Direction: in.Direction,
		Remote:       replication.Remote{URL: in.Remote.URL, Username: in.Remote.Username, CACert: in.Remote.CACert},
		Repositories: in.Repos, ExcludeRepositories: in.NotRepos, Tags: in.Tags, ExcludeTags: in.NotTags,
		Mappings: in.Mappings, Trigger: in.Trigger, Deletes: in.Deletes, Concurrency: in.Conc,
		BandwidthLimit: in.Bandwidth, ChunkSize: in.Chunk}
	if in.Remote.Password != nil {
		r.Remote.Password = *in.Remote.Password
	}
	return r
}

// replicationAdmin checks that replication is available and c may manage
// it.
func (h *Handler) replicationAdmin(c access.Caller) (*replication.Service, error) {
	if !c.SystemAdmin() {
		return nil, denied("replication is managed by system administrators")
	}
	if h.opts.Replication == nil {
		return nil, invalid("replication is not available on this server")
	}
	return h.opts.Replication, nil
}

// replicationError translates the replication service's errors.
func replicationError(err error, what string) error {
	switch {
	case errors.Is(err, replication.ErrInvalid):
		return invalid("%v", err)
	case errors.Is(err, replication.ErrNotFound):
		return apierr.New(apierr.NotFound, "%s not found", what)
	case errors.Is(err, replication.ErrConflict):
		return apierr.New(apierr.Conflict, "%s exists already", what)
	}
	return storeError(err, what)
}

func (h *Handler) listReplicationRules(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	svc, err := h.replicationAdmin(c)
	if err != nil {
		return err
	}
	rules, err := svc.Rules(r.Context())
	if err != nil {
		return replicationError(err, "replication rules")
	}
	return writeJSON(w, http.StatusOK, List[replication.Rule]{Items: rules})
}

func (h *Handler) createReplicationRule(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	var in ReplicationRulePut
	var rule replication.Rule
	err := func() error {
		svc, err := h.replicationAdmin(c)
		if err != nil {
			return err
		}
		if err := decode(w, r, &in); err != nil {
			return err
		}
		rule, err = svc.CreateRule(r.Context(), in.rule())
		return err
	}()
	h.refused(r, c, "replication.rule.create", in.Name, err) // the rule's event is in its transaction
	if err != nil {
		return replicationError(err, "replication rule "+truncate(in.Name))
	}
	return writeJSON(w, http.StatusCreated, rule)
}

func (h *Handler) getReplicationRule(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	svc, err := h.replicationAdmin(c)
	if err != nil {
		return err
	}
	id, err := parseID(p["id"])
	if err != nil {
		return err
	}
	rule, err := svc.Rule(r.Context(), id)
	if err != nil {
		return replicationError(err, "replication rule "+p["id"])
	}
	return writeJSON(w, http.StatusOK, rule)
}

func (h *Handler) updateReplicationRule(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	var in ReplicationRulePut
	var rule replication.Rule
	err := func() error {
		svc, err := h.replicationAdmin(c)
		if err != nil {
			return err
		}
		id, err := parseID(p["id"])
		if err != nil {
			return err
		}
		if err := decode(w, r, &in); err != nil {
			return err
		}
		want := in.rule()
		want.ID = id
		rule, err = svc.UpdateRule(r.Context(), want, in.Remote.Password == nil)
		return err
	}()
	h.refused(r, c, "replication.rule.update", p["id"], err)
	if err != nil {
		return replicationError(err, "replication rule "+p["id"])
	}
	return writeJSON(w, http.StatusOK, rule)
}

func (h *Handler) deleteReplicationRule(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	err := func() error {
		svc, err := h.replicationAdmin(c)
		if err != nil {
			return err
		}
		id, err := parseID(p["id"])
		if err != nil {
			return err
		}
		return svc.DeleteRule(r.Context(), id)
	}()
	h.refused(r, c, "replication.rule.delete", p["id"], err)
	if err != nil {
		return replicationError(err, "replication rule "+p["id"])
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) runReplicationRule(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	var run meta.ReplicationRun
	err := func() error {
		svc, err := h.replicationAdmin(c)
		if err != nil {
			return err
		}
		id, err := parseID(p["id"])
		if err != nil {
			return err
		}
		run, err = svc.RunNow(r.Context(), id, c.Principal.String())
		return err
	}()
	h.refused(r, c, "replication.run", p["id"], err) // the queued run's event is in its transaction
	if err != nil {
		return replicationError(err, "replication rule "+p["id"])
	}
	return writeJSON(w, http.StatusAccepted, runOf(run))
}

// listReplicationRuns answers GET /replication/runs?rule=&state=&before=&n=,
// newest first; next is the cursor of the next page.
func (h *Handler) listReplicationRuns(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	svc, err := h.replicationAdmin(c)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var rq meta.ReplicationRunQuery
	for name, dst := range map[string]*int64{"rule": &rq.RuleID, "before": &rq.BeforeID} {
		if s := q.Get(name); s != "" {
			if *dst, err = strconv.ParseInt(s, 10, 64); err != nil || *dst <= 0 {
				return invalid("%s %q is not a positive number", name, truncate(s))
			}
		}
	}
	if rq.N, err = pageSize(q.Get("n"), 50, 1000); err != nil {
		return err
	}
	for _, s := range q["state"] {
		switch s {
		case meta.RunQueued, meta.RunRunning, meta.RunSucceeded, meta.RunPartial, meta.RunFailed, meta.RunCancelled:
			rq.States = append(rq.States, s)
		default:
			return invalid("state %q is not queued, running, succeeded, partial, failed or cancelled", truncate(s))
		}
	}
	runs, err := svc.Runs(r.Context(), rq)
	if err != nil {
		return replicationError(err, "replication runs")
	}
	out := List[ReplicationRun]{Items: []ReplicationRun{}}
	for _, run := range runs {
		out.Items = append(out.Items, runOf(run))
	}
	if len(runs) == rq.N {
		out.Next = strconv.FormatInt(runs[len(runs)-1].ID, 10)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) getReplicationRun(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	svc, err := h.replicationAdmin(c)
	if err != nil {
		return err
	}
	id, err := parseID(p["id"])
	if err != nil {
		return err
	}
	run, err := svc.Run(r.Context(), id)
	if err != nil {
		return replicationError(err, "replication run "+p["id"])
	}
	return writeJSON(w, http.StatusOK, runOf(run))
}

// getReplicationLog answers GET /replication/runs/{id}/log?after=&n=, in
// order; next is the cursor (the last seq) of the next page.
func (h *Handler) getReplicationLog(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	svc, err := h.replicationAdmin(c)
	if err != nil {
		return err
	}
	id, err := parseID(p["id"])
	if err != nil {
		return err
	}
	var after int64
	if s := r.URL.Query().Get("after"); s != "" {
		if after, err = strconv.ParseInt(s, 10, 64); err != nil || after < 0 {
			return invalid("after %q is not a number", truncate(s))
		}
	}
	n, err := pageSize(r.URL.Query().Get("n"), 500, 5000)
	if err != nil {
		return err
	}
	items, err := svc.RunLog(r.Context(), id, after, n)
	if err != nil {
		return replicationError(err, "replication run "+p["id"])
	}
	out := List[ReplicationLogLine]{Items: []ReplicationLogLine{}}
	for _, it := range items {
		out.Items = append(out.Items, ReplicationLogLine{Seq: it.Seq, Source: it.Source, Destination: it.Destination,
			Digest: it.Digest.String(), Result: it.Result, Reason: it.Reason, Bytes: it.Bytes, Seconds: it.Duration.Seconds(), At: it.At})
	}
	if len(items) == n {
		out.Next = strconv.FormatInt(items[len(items)-1].Seq, 10)
	}
	return writeJSON(w, http.StatusOK, out)
}

// pageSize parses a page size n: def when empty, 1 to max otherwise.
func pageSize(s string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, invalid("n %q is not between 1 and %d", truncate(s), max)
	}
	return n, nil
}

// ReplicationRule is a rule as the API shows it: without its password.
type ReplicationRule = replication.Rule

// ReplicationMapping renames repositories on the way.
type ReplicationMapping = replication.Mapping
