package ui

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
)

// A namespace's settings: immutability rules, its quota and its retention
// policies with their dry-run preview, under the rules of the management
// API (package mgmt, lifecycle.go): a namespace's admins manage its rules
// and policies, system administrators its quota, and each change is
// written to the audit log under the API's action names.

type settingsPage struct {
	Name      string
	Rules     []policy.ImmutabilityRule
	Quota     int64 // -1 without one
	Used      int64
	Policies  []policy.RetentionPolicy
	QuotaForm bool // a system administrator: may set the quota
	Form      retentionForm
	Preview   *registry.RetentionReport
}

// retentionForm is the form of a new retention policy, kept to show it
// again after a preview or a refusal.
type retentionForm struct {
	Scope, KeepLastPattern, KeepLastCount, Keep, KeepWithin, UntaggedAfter string
}

// manages checks that v may manage namespace ns: its admins and system
// administrators (without access control, namespaces need no record).
func (h *Handler) manages(ctx context.Context, v visitor, ns string) error {
	if err := oci.ValidateNamespace(ns); err != nil {
		return invalid("%v", err)
	}
	if v.csrf == "" {
		return denied("managing namespace %s needs you to sign in", ns)
	}
	if v.admin() {
		return nil
	}
	_, err := h.acc.ManagedNamespace(ctx, v.caller, ns)
	return err
}

func (h *Handler) settings(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	h.settingsWith(w, r, v, r.PathValue("ns"), answer{})
}

func (h *Handler) settingsWith(w http.ResponseWriter, r *http.Request, v visitor, ns string, a answer) {
	ctx := r.Context()
	if v.refusal != nil {
		h.fail(w, r, v, v.refusal)
		return
	}
	if err := h.manages(ctx, v, ns); err != nil {
		h.fail(w, r, v, err)
		return
	}
	d := settingsPage{Name: ns, Quota: -1, QuotaForm: v.admin(), Form: retentionForm{Scope: ns}}
	if pd, ok := a.Data.(settingsPage); ok {
		d.Form, d.Preview = pd.Form, pd.Preview
	}
	var err error
	if d.Rules, err = h.reg.ImmutabilityRules(ctx, ns); err != nil {
		h.fail(w, r, v, err)
		return
	}
	qs, err := h.reg.Quotas(ctx)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	for _, q := range qs {
		if q.Namespace == ns {
			d.Quota, d.Used = q.LimitBytes, q.UsedBytes
		}
	}
	ps, err := h.reg.RetentionPolicies(ctx)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	for _, p := range ps {
		if oci.Namespace(p.Scope) == ns {
			d.Policies = append(d.Policies, p)
		}
	}
	a.Page, a.Title, a.Data = "settings.html", ns+" settings", d
	h.render(w, r, v, a)
}

// settingsChange runs change for a namespace's settings form, records it
// under action, and shows the settings page with its outcome.
func (h *Handler) settingsChange(w http.ResponseWriter, r *http.Request, action string, change func(ctx context.Context, v visitor, ns string) (string, error)) {
	v := h.visitorOf(w, r)
	ns := r.PathValue("ns")
	err := checkCSRF(r, v)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	notice := ""
	if err = h.manages(r.Context(), v, ns); err == nil {
		notice, err = change(r.Context(), v, ns)
	}
	h.record(r, v, action, ns, err)
	if err != nil {
		status, msg := classify(err)
		if status == http.StatusNotFound || status == http.StatusForbidden && !v.signedIn {
			h.fail(w, r, v, err)
			return
		}
		h.settingsWith(w, r, v, ns, answer{Status: status, Problem: msg})
		return
	}
	h.settingsWith(w, r, v, ns, answer{Notice: notice})
}

func (h *Handler) addImmutability(w http.ResponseWriter, r *http.Request) {
	h.settingsChange(w, r, "immutability.add", func(ctx context.Context, _ visitor, ns string) (string, error) {
		rule, err := h.reg.AddImmutabilityRule(ctx, policy.ImmutabilityRule{Namespace: ns, Pattern: strings.TrimSpace(r.PostFormValue("pattern"))})
		return "Tags matching " + rule.Pattern + " are immutable now.", err
	})
}

func (h *Handler) deleteImmutability(w http.ResponseWriter, r *http.Request) {
	h.settingsChange(w, r, "immutability.delete", func(ctx context.Context, _ visitor, ns string) (string, error) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			return "", notFound("no immutability rule %q", r.PathValue("id"))
		}
		rules, err := h.reg.ImmutabilityRules(ctx, ns)
		if err != nil {
			return "", err
		}
		for _, rule := range rules {
			if rule.ID == id {
				return "Rule " + rule.Pattern + " removed.", h.reg.DeleteImmutabilityRule(ctx, id)
			}
		}
		return "", notFound("namespace %s has no immutability rule %d", ns, id)
	})
}

// parseSize reads "500MiB", "10 GiB", "2GB" or a number of bytes.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, " ", ""))
	units := []struct {
		suffix string
		n      int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(s), strings.ToUpper(u.suffix)) {
			s, mult = s[:len(s)-len(u.suffix)], u.n
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, invalid("a size is a number of bytes, or a number with KiB, MiB, GiB or TiB: got %q", s)
	}
	return int64(f * float64(mult)), nil
}

func (h *Handler) setQuota(w http.ResponseWriter, r *http.Request) {
	h.settingsChange(w, r, "quota.set", func(ctx context.Context, v visitor, ns string) (string, error) {
		if !v.admin() {
			return "", denied("quotas are set by system administrators")
		}
		limit, err := parseSize(r.PostFormValue("limit"))
		if err != nil {
			return "", err
		}
		return "The quota of " + ns + " is " + humanBytes(limit) + ".", h.reg.SetQuota(ctx, ns, limit)
	})
}

func (h *Handler) deleteQuota(w http.ResponseWriter, r *http.Request) {
	h.settingsChange(w, r, "quota.delete", func(ctx context.Context, v visitor, ns string) (string, error) {
		if !v.admin() {
			return "", denied("quotas are set by system administrators")
		}
		return "The quota of " + ns + " is removed.", h.reg.DeleteQuota(ctx, ns)
	})
}

// retentionFrom reads the retention form into a policy of namespace ns.
func retentionFrom(r *http.Request, ns string) (policy.RetentionPolicy, retentionForm, error) {
	f := retentionForm{Scope: strings.TrimSpace(r.PostFormValue("scope")), KeepLastPattern: strings.TrimSpace(r.PostFormValue("keep_last_pattern")),
		KeepLastCount: strings.TrimSpace(r.PostFormValue("keep_last_count")), Keep: r.PostFormValue("keep"),
		KeepWithin: strings.TrimSpace(r.PostFormValue("keep_within")), UntaggedAfter: strings.TrimSpace(r.PostFormValue("untagged_after"))}
	p := policy.RetentionPolicy{Scope: f.Scope, Keep: strings.Fields(f.Keep)}
	if oci.Namespace(p.Scope) != ns {
		return p, f, invalid("the scope %q is not in namespace %s", f.Scope, ns)
	}
	if f.KeepLastCount != "" || f.KeepLastPattern != "" {
		n, err := strconv.Atoi(f.KeepLastCount)
		if err != nil || n < 0 {
			return p, f, invalid("keep the last: a number of tags, got %q", f.KeepLastCount)
		}
		pattern := f.KeepLastPattern
		if pattern == "" {
			pattern = "*"
		}
		p.KeepLast = []policy.KeepLast{{Pattern: pattern, Count: n}}
	}
	for _, d := range []struct {
		text string
		into *policy.Duration
		name string
	}{{f.KeepWithin, &p.KeepWithin, "keep tags pushed or pulled within"}, {f.UntaggedAfter, &p.UntaggedAfter, "remove untagged manifests after"}} {
		if d.text == "" {
			continue
		}
		v, err := policy.ParseDuration(d.text)
		if err != nil {
			return p, f, invalid("%s: %v", d.name, err)
		}
		*d.into = v
	}
	return p, f, p.Validate()
}

// retention previews the policy in the form (action=preview), or creates
// it.
func (h *Handler) retention(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	ns := r.PathValue("ns")
	if err := checkCSRF(r, v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	p, form, err := retentionFrom(r, ns)
	if err == nil {
		err = h.manages(r.Context(), v, ns)
	}
	if r.PostFormValue("action") == "preview" {
		a := answer{}
		if err == nil {
			var rep registry.RetentionReport
			rep, err = h.reg.Retention(r.Context(), registry.RetentionOptions{DryRun: true, Only: &p})
			a.Data = settingsPage{Form: form, Preview: &rep}
		}
		if err != nil {
			a.Status, a.Problem = classify(err)
			a.Data = settingsPage{Form: form}
		}
		h.settingsWith(w, r, v, ns, a)
		return
	}
	if err == nil {
		p, err = h.reg.AddRetentionPolicy(r.Context(), p)
	}
	h.record(r, v, "retention.create", p.Scope, err)
	if err != nil {
		status, msg := classify(err)
		h.settingsWith(w, r, v, ns, answer{Status: status, Problem: msg, Data: settingsPage{Form: form}})
		return
	}
	h.settingsWith(w, r, v, ns, answer{Notice: "Retention policy " + strconv.FormatInt(p.ID, 10) + " created for " + p.Scope + "."})
}

// storedRetention runs a stored policy's preview or deletes it.
func (h *Handler) storedRetention(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	ns, op := r.PathValue("ns"), r.PathValue("op")
	err := checkCSRF(r, v)
	var p policy.RetentionPolicy
	if err == nil {
		err = h.manages(r.Context(), v, ns)
	}
	if err == nil {
		id, perr := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if p, err = h.reg.RetentionPolicy(r.Context(), id); perr != nil || (err == nil && oci.Namespace(p.Scope) != ns) {
			err = notFound("namespace %s has no retention policy %q", ns, r.PathValue("id"))
		}
	}
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	switch op {
	case "preview":
		rep, err := h.reg.Retention(r.Context(), registry.RetentionOptions{DryRun: true, Only: &p})
		if err != nil {
			h.fail(w, r, v, err)
			return
		}
		h.settingsWith(w, r, v, ns, answer{Data: settingsPage{Form: retentionForm{Scope: ns}, Preview: &rep}})
	case "delete":
		err := h.reg.DeleteRetentionPolicy(r.Context(), p.ID)
		h.record(r, v, "retention.delete", strconv.FormatInt(p.ID, 10), err)
		if err != nil {
			h.fail(w, r, v, err)
			return
		}
		h.settingsWith(w, r, v, ns, answer{Notice: "Retention policy " + strconv.FormatInt(p.ID, 10) + " deleted."})
	default:
		h.fail(w, r, v, notFound("no such action %q", op))
	}
}
