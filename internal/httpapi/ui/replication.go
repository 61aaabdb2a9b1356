package ui

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/replication"
)

// Replication rules and their runs, for system administrators, as on the
// management API (package mgmt, replication.go): a rule holds a remote
// registry's credentials and copies across namespaces. The password is
// write-only: a rule read back says whether it has one, never what it is;
// editing a rule keeps it unless a new one is typed or it is removed.

type replicationPage struct {
	Rules []replication.Rule
	Runs  []meta.ReplicationRun
	Form  ruleForm
}

type rulePage struct {
	Rule replication.Rule
	Runs []meta.ReplicationRun
	Form ruleForm
}

type runPage struct {
	Run   meta.ReplicationRun
	Rule  string // its rule's name, "" if the rule is gone
	Items []meta.ReplicationItem
	Next  int64 // the cursor of the log's next page, 0 at its end
}

// ruleForm is the form of a rule, kept to show it again after a refusal.
type ruleForm struct {
	Action                                         string // where the form posts
	Name, Direction, URL, Username, CACert         string
	Repositories, Exclude, Tags, ExcludeTags       string
	Mappings, Schedule, Concurrency, Bandwidth     string
	Chunk                                          string
	Enabled, OnEvent, Deletes, HasPassword, Create bool
}

// pageRunLog is how many lines of a run's log a page shows.
const pageRunLog = 500

// replicationAdmin checks v may manage replication, and that the server
// replicates.
func (h *Handler) replicationAdmin(v visitor) error {
	switch {
	case v.refusal != nil:
		return v.refusal
	case !v.admin() || v.csrf == "":
		return denied("replication is managed by system administrators")
	case h.opts.Replication == nil:
		return notFound("replication is not available on this server")
	}
	return nil
}

func formOfRule(r replication.Rule) ruleForm {
	f := ruleForm{Action: "/-/replication/rules/" + strconv.FormatInt(r.ID, 10), Name: r.Name, Direction: r.Direction, URL: r.Remote.URL,
		Username: r.Remote.Username, CACert: r.Remote.CACert, HasPassword: r.Remote.HasPassword,
		Repositories: strings.Join(r.Repositories, " "), Exclude: strings.Join(r.ExcludeRepositories, " "),
		Tags: strings.Join(r.Tags, " "), ExcludeTags: strings.Join(r.ExcludeTags, " "),
		Enabled: r.Enabled, OnEvent: r.Trigger.OnEvent, Deletes: r.Deletes}
	var ms []string
	for _, m := range r.Mappings {
		ms = append(ms, m.From+" => "+m.To)
	}
	f.Mappings = strings.Join(ms, "\n")
	if r.Trigger.Schedule > 0 {
		f.Schedule = r.Trigger.Schedule.String()
	}
	if r.Concurrency > 0 {
		f.Concurrency = strconv.Itoa(r.Concurrency)
	}
	if r.BandwidthLimit > 0 {
		f.Bandwidth = humanBytes(r.BandwidthLimit)
	}
	if r.ChunkSize > 0 {
		f.Chunk = humanBytes(r.ChunkSize)
	}
	return f
}

// ruleFrom reads the rule form: the rule, the password typed (nil when
// none was: keep the stored one), and the form to show again.
func ruleFrom(r *http.Request) (replication.Rule, *string, ruleForm, error) {
	get := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	f := ruleForm{Name: get("name"), Direction: get("direction"), URL: get("url"), Username: get("username"), CACert: get("ca_cert"),
		Repositories: get("repositories"), Exclude: get("exclude_repositories"), Tags: get("tags"), ExcludeTags: get("exclude_tags"),
		Mappings: get("mappings"), Schedule: get("schedule"), Concurrency: get("concurrency"), Bandwidth: get("bandwidth"), Chunk: get("chunk_size"),
		Enabled: checked(r, "enabled"), OnEvent: checked(r, "on_event"), Deletes: checked(r, "deletes")}
	f.URL = redactedURL(f.URL)
	rule := replication.Rule{Name: f.Name, Enabled: f.Enabled, Direction: f.Direction,
		Remote:       replication.Remote{URL: get("url"), Username: f.Username, CACert: f.CACert},
		Repositories: fields(f.Repositories), ExcludeRepositories: fields(f.Exclude), Tags: fields(f.Tags), ExcludeTags: fields(f.ExcludeTags),
		Trigger: replication.Trigger{OnEvent: f.OnEvent}, Deletes: f.Deletes}
	var password *string
	if p := r.PostFormValue("password"); p != "" {
		password = &p
	} else if checked(r, "clear_password") {
		password = new(string)
	}
	if password != nil {
		rule.Remote.Password = *password
	}
	for i, line := range strings.Split(f.Mappings, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		from, to, ok := strings.Cut(line, "=>")
		if !ok {
			return rule, password, f, invalid("mapping on line %d: write FROM => TO (FROM empty maps every repository)", i+1)
		}
		rule.Mappings = append(rule.Mappings, replication.Mapping{From: strings.TrimSpace(from), To: strings.TrimSpace(to)})
	}
	if f.Schedule != "" {
		d, err := policy.ParseDuration(f.Schedule)
		if err != nil {
			return rule, password, f, invalid("schedule: %v", err)
		}
		rule.Trigger.Schedule = d
	}
	if f.Concurrency != "" {
		n, err := strconv.Atoi(f.Concurrency)
		if err != nil {
			return rule, password, f, invalid("concurrency: a number, got %q", f.Concurrency)
		}
		rule.Concurrency = n
	}
	for _, s := range []struct {
		text, name string
		into       *int64
	}{{f.Bandwidth, "bandwidth limit (bytes per second)", &rule.BandwidthLimit}, {f.Chunk, "chunk size", &rule.ChunkSize}} {
		if s.text == "" {
			continue
		}
		n, err := parseSize(s.text)
		if err != nil {
			_, msg := classify(err)
			return rule, password, f, invalid("%s: %s", s.name, msg)
		}
		*s.into = n
	}
	return rule, password, f, nil
}

func (h *Handler) replicationGet(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if !h.signInFirst(w, r, v) {
		h.replicationWith(w, r, v, answer{})
	}
}

func (h *Handler) replicationWith(w http.ResponseWriter, r *http.Request, v visitor, a answer) {
	if err := h.replicationAdmin(v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	ctx := r.Context()
	d := replicationPage{Form: ruleForm{Action: "/-/replication/rules", Direction: replication.Push, Enabled: true, Create: true, Repositories: "**"}}
	if f, ok := a.Data.(ruleForm); ok {
		d.Form = f
	}
	var err error
	if d.Rules, err = h.opts.Replication.Rules(ctx); err != nil {
		h.fail(w, r, v, err)
		return
	}
	if d.Runs, err = h.opts.Replication.Runs(ctx, meta.ReplicationRunQuery{N: 50}); err != nil {
		h.fail(w, r, v, err)
		return
	}
	a.Page, a.Title, a.Data = "replication.html", "Replication", d
	h.render(w, r, v, a)
}

// createRule creates a rule from the form, as POST
// /api/v1/replication/rules does.
func (h *Handler) createRule(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := mayPost(r, v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	rule, _, f, err := ruleFrom(r)
	f.Action, f.Create = "/-/replication/rules", true
	if aerr := h.replicationAdmin(v); aerr != nil {
		err = aerr
	} else if err == nil {
		rule, err = h.opts.Replication.CreateRule(r.Context(), rule)
		err = serviceError(err, "replication rule "+f.Name)
	}
	h.record(r, v, "replication.rule.create", f.Name, err) // a rule created wrote its event in its transaction
	if err != nil {
		status, msg := classify(err)
		if status == http.StatusForbidden || status == http.StatusNotFound {
			h.fail(w, r, v, err)
			return
		}
		h.replicationWith(w, r, v, answer{Status: status, Problem: msg, Data: f})
		return
	}
	h.ruleWith(w, r, v, rule, answer{Status: http.StatusCreated, Notice: "Replication rule " + rule.Name + " created."})
}

// rule reads rule {id}.
func (h *Handler) rule(ctx context.Context, r *http.Request) (replication.Rule, error) {
	id, ok := formID(r, "id")
	if !ok {
		return replication.Rule{}, notFound("no replication rule %q", r.PathValue("id"))
	}
	rule, err := h.opts.Replication.Rule(ctx, id)
	return rule, serviceError(err, "replication rule "+r.PathValue("id"))
}

func (h *Handler) ruleGet(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if h.signInFirst(w, r, v) {
		return
	}
	err := h.replicationAdmin(v)
	var rule replication.Rule
	if err == nil {
		rule, err = h.rule(r.Context(), r)
	}
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	h.ruleWith(w, r, v, rule, answer{})
}

func (h *Handler) ruleWith(w http.ResponseWriter, r *http.Request, v visitor, rule replication.Rule, a answer) {
	d := rulePage{Rule: rule, Form: formOfRule(rule)}
	if f, ok := a.Data.(ruleForm); ok {
		d.Form = f
	}
	runs, err := h.opts.Replication.Runs(r.Context(), meta.ReplicationRunQuery{RuleID: rule.ID, N: 50})
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	d.Runs = runs
	a.Page, a.Title, a.Data = "rule.html", "Replication rule "+rule.Name, d
	h.render(w, r, v, a)
}

// ruleOp changes rule {id}: update (from the form), delete or run (now).
func (h *Handler) ruleOp(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := mayPost(r, v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	ctx := r.Context()
	op, id := r.PathValue("op"), r.PathValue("id")
	action := map[string]string{"update": "replication.rule.update", "delete": "replication.rule.delete", "run": "replication.run"}[op]
	if action == "" {
		h.fail(w, r, v, notFound("no such action %q", op))
		return
	}
	err := h.replicationAdmin(v)
	var rule replication.Rule
	if err == nil {
		rule, err = h.rule(ctx, r)
	}
	if err != nil {
		h.record(r, v, action, id, err)
		h.fail(w, r, v, err)
		return
	}
	switch op {
	case "update":
		want, password, f, err := ruleFrom(r)
		f.Action, f.HasPassword = formOfRule(rule).Action, rule.Remote.HasPassword
		if err == nil {
			want.ID = rule.ID
			var updated replication.Rule
			updated, err = h.opts.Replication.UpdateRule(ctx, want, password == nil)
			if err = serviceError(err, "replication rule "+f.Name); err == nil {
				rule = updated
			}
		}
		h.record(r, v, action, id, err)
		a := answer{Notice: "Replication rule " + rule.Name + " saved."}
		if err != nil {
			a.Status, a.Problem = classify(err)
			a.Notice, a.Data = "", f
		}
		h.ruleWith(w, r, v, rule, a)
	case "delete":
		err := serviceError(h.opts.Replication.DeleteRule(ctx, rule.ID), "replication rule "+id)
		h.record(r, v, action, id, err)
		if err != nil {
			h.fail(w, r, v, err)
			return
		}
		h.replicationWith(w, r, v, answer{Notice: "Replication rule " + rule.Name + " deleted, with its runs."})
	case "run":
		run, err := h.opts.Replication.RunNow(ctx, rule.ID, v.caller.Principal.String())
		err = serviceError(err, "replication rule "+id)
		h.record(r, v, action, id, err) // as did a run queued
		a := answer{Notice: "Run " + strconv.FormatInt(run.ID, 10) + " of " + rule.Name + " is queued."}
		if err != nil {
			a.Status, a.Problem = classify(err)
			a.Notice = ""
		}
		h.ruleWith(w, r, v, rule, a)
	}
}

// runGet shows a run and its log: per artifact copied, skipped, failed
// or deleted, and why, with bytes and duration; paged by ?after=.
func (h *Handler) runGet(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if h.signInFirst(w, r, v) {
		return
	}
	if err := h.replicationAdmin(v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	ctx := r.Context()
	id, ok := formID(r, "id")
	if !ok {
		h.fail(w, r, v, notFound("no replication run %q", r.PathValue("id")))
		return
	}
	run, err := h.opts.Replication.Run(ctx, id)
	if err != nil {
		h.fail(w, r, v, serviceError(err, "replication run "+r.PathValue("id")))
		return
	}
	var after int64
	if s := r.URL.Query().Get("after"); s != "" {
		if after, err = strconv.ParseInt(s, 10, 64); err != nil || after < 0 {
			h.fail(w, r, v, invalid("after %q is not a number", s))
			return
		}
	}
	d := runPage{Run: run}
	if rule, err := h.opts.Replication.Rule(ctx, run.RuleID); err == nil {
		d.Rule = rule.Name
	}
	if d.Items, err = h.opts.Replication.RunLog(ctx, id, after, pageRunLog); err != nil {
		h.fail(w, r, v, serviceError(err, "replication run "+r.PathValue("id")))
		return
	}
	if len(d.Items) == pageRunLog {
		d.Next = d.Items[len(d.Items)-1].Seq
	}
	h.render(w, r, v, answer{Page: "run.html", Title: "Replication run " + strconv.FormatInt(id, 10), Data: d})
}
