package ui

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// Webhooks with their delivery log, under the management API's rules
// (package mgmt, webhooks.go): system administrators manage the
// system-wide webhooks, a namespace's admins the namespace's; a webhook
// one may not manage is not found. Changes go through events.Webhooks,
// which checks the target URL and writes each change's event in its
// transaction. The secret is shown in the answer that creates it or
// rotates it, never again.

type webhooksPage struct {
	Namespace string // "" for the system-wide webhooks
	Hooks     []meta.Webhook
	// Others are the namespaces' webhooks, listed to system
	// administrators on the system-wide page.
	Others  []meta.Webhook
	Form    webhookForm
	Formats []string
	Kinds   []string
}

// webhookForm is the form of a webhook's settings, kept to show it again
// after a refusal.
type webhookForm struct {
	Name, URL, Format, Repositories string
	Kinds                           []string
	Enabled                         bool
}

func (f webhookForm) Has(kind string) bool { return slices.Contains(f.Kinds, kind) }

type webhookPage struct {
	Hook       meta.Webhook
	Back       string // the list the webhook is in
	Secret     string // just created or rotated: shown once
	Deliveries []meta.Delivery
	State      string // the log's filter
	Next       int64  // the cursor of the log's next page, 0 at its end
	Form       webhookForm
	Formats    []string
	Kinds      []string
}

type deliveryPage struct {
	Hook     meta.Webhook
	Delivery meta.Delivery
	Attempts []meta.DeliveryAttempt
}

// pageDeliveries is how many deliveries a page of the log shows.
const pageDeliveries = 50

func webhookFormats() []string {
	out := make([]string, len(events.Formats))
	for i, f := range events.Formats {
		out[i] = string(f)
	}
	return out
}

func eventKinds() []string {
	ks := events.Kinds()
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	slices.Sort(out)
	return out
}

func webhooksURL(ns string) string {
	if ns == "" {
		return "/-/webhooks"
	}
	return "/ns/" + url.PathEscape(ns) + "/-/webhooks"
}

func webhookURL(id int64) string { return "/-/webhooks/" + strconv.FormatInt(id, 10) }

// signInFirst sends a visitor who has not signed in to the sign-in page
// and reports whether it did.
func (h *Handler) signInFirst(w http.ResponseWriter, r *http.Request, v visitor) bool {
	if !v.signedIn && h.opts.Accounts && v.refusal == nil {
		http.Redirect(w, r, "/-/login?return_to="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return true
	}
	return false
}

// mayManageWebhooks checks v may manage the webhooks of namespace ns (""
// for the system-wide ones), as the management API does.
func (h *Handler) mayManageWebhooks(ctx context.Context, v visitor, ns string) error {
	switch {
	case v.refusal != nil:
		return v.refusal
	case h.opts.Webhooks == nil || h.opts.WebhookStore == nil:
		return notFound("webhooks are not available on this server")
	case ns == "" && !v.admin():
		return denied("system-wide webhooks need a system administrator; a namespace's admins manage its webhooks on the namespace's page")
	case ns == "":
		return nil
	}
	_, err := h.acc.ManagedNamespace(ctx, v.caller, ns)
	return err
}

// webhook reads webhook {id} for v, who must be allowed to manage it: a
// webhook v may not manage is not found.
func (h *Handler) webhook(ctx context.Context, r *http.Request, v visitor) (meta.Webhook, error) {
	if h.opts.Webhooks == nil || h.opts.WebhookStore == nil {
		return meta.Webhook{}, notFound("webhooks are not available on this server")
	}
	id, ok := formID(r, "id")
	if !ok {
		return meta.Webhook{}, notFound("no webhook %q", r.PathValue("id"))
	}
	hook, err := h.opts.WebhookStore.Webhook(ctx, id)
	if err != nil {
		return meta.Webhook{}, serviceError(err, "webhook "+r.PathValue("id"))
	}
	if err := h.mayManageWebhooks(ctx, v, hook.Namespace); err != nil {
		if hook.Namespace == "" {
			return meta.Webhook{}, notFound("webhook %d not found", id)
		}
		return meta.Webhook{}, err
	}
	hook.Secret = ""
	return hook, nil
}

func (h *Handler) systemWebhooks(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if !h.signInFirst(w, r, v) {
		h.webhooksWith(w, r, v, "", answer{})
	}
}

func (h *Handler) namespaceWebhooks(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if !h.signInFirst(w, r, v) {
		h.webhooksWith(w, r, v, r.PathValue("ns"), answer{})
	}
}

// webhooksWith renders the webhooks of namespace ns ("" for the
// system-wide ones) with a's outcome.
func (h *Handler) webhooksWith(w http.ResponseWriter, r *http.Request, v visitor, ns string, a answer) {
	ctx := r.Context()
	if err := h.mayManageWebhooks(ctx, v, ns); err != nil {
		h.fail(w, r, v, err)
		return
	}
	d := webhooksPage{Namespace: ns, Formats: webhookFormats(), Kinds: eventKinds(), Form: webhookForm{Enabled: true, Format: string(events.FormatCloudEvents)}}
	if f, ok := a.Data.(webhookForm); ok {
		d.Form = f
	}
	var err error
	if d.Hooks, err = h.opts.WebhookStore.ListWebhooks(ctx, ns, false); err != nil {
		h.fail(w, r, v, err)
		return
	}
	if ns == "" {
		all, err := h.opts.WebhookStore.ListWebhooks(ctx, "", true)
		if err != nil {
			h.fail(w, r, v, err)
			return
		}
		for _, x := range all {
			if x.Namespace != "" {
				d.Others = append(d.Others, x)
			}
		}
	}
	title := "Webhooks"
	if ns != "" {
		title = ns + " webhooks"
	}
	a.Page, a.Title, a.Data = "webhooks.html", title, d
	h.render(w, r, v, a)
}

// webhookFrom reads the webhook form.
func webhookFrom(r *http.Request) webhookForm {
	f := webhookForm{Name: strings.TrimSpace(r.PostFormValue("name")), URL: strings.TrimSpace(r.PostFormValue("url")),
		Format: r.PostFormValue("format"), Repositories: r.PostFormValue("repositories"), Enabled: checked(r, "enabled")}
	_ = r.ParseForm() // read by PostFormValue already
	f.Kinds = r.PostForm["kinds"]
	return f
}

// createWebhook creates a webhook from the form, as POST
// /api/v1/webhooks (or /namespaces/{ns}/webhooks) does, and shows it with
// its secret, once.
func (h *Handler) createWebhook(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	ns := r.PathValue("ns")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := mayPost(r, v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	f := webhookFrom(r)
	var created meta.Webhook
	err := h.mayManageWebhooks(r.Context(), v, ns)
	if err == nil {
		created, err = h.opts.Webhooks.Create(r.Context(), meta.Webhook{Name: f.Name, Namespace: ns, URL: f.URL, Format: f.Format,
			Kinds: f.Kinds, Repositories: fields(f.Repositories), Enabled: f.Enabled})
		err = serviceError(err, "webhook "+f.Name)
	}
	h.record(r, v, "webhook.create", webhookTarget(ns, f.Name), err)
	if err != nil {
		status, msg := classify(err)
		if status == http.StatusNotFound || status == http.StatusForbidden {
			h.fail(w, r, v, err)
			return
		}
		h.webhooksWith(w, r, v, ns, answer{Status: status, Problem: msg, Data: f})
		return
	}
	secret := created.Secret
	created.Secret = ""
	h.webhookWith(w, r, v, created, answer{Status: http.StatusCreated, Notice: "Webhook " + created.Name + " created.",
		Data: webhookPage{Secret: secret}})
}

func webhookTarget(ns, name string) string {
	if ns == "" {
		return "webhook:" + name
	}
	return ns + "/webhook:" + name
}

// webhookGet shows a webhook: its settings, and its delivery log,
// newest first, filtered by ?state= and paged by ?before=.
func (h *Handler) webhookGet(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if h.signInFirst(w, r, v) {
		return
	}
	hook, err := h.webhook(r.Context(), r, v)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	h.webhookWith(w, r, v, hook, answer{})
}

func (h *Handler) webhookWith(w http.ResponseWriter, r *http.Request, v visitor, hook meta.Webhook, a answer) {
	d := webhookPage{Hook: hook, Back: webhooksURL(hook.Namespace), Formats: webhookFormats(), Kinds: eventKinds(),
		Form: webhookForm{Name: hook.Name, URL: hook.URL, Format: hook.Format, Kinds: hook.Kinds,
			Repositories: strings.Join(hook.Repositories, " "), Enabled: hook.Enabled}}
	if pd, ok := a.Data.(webhookPage); ok {
		d.Secret = pd.Secret
		if pd.Form.Name != "" {
			d.Form = pd.Form
		}
	}
	q := meta.DeliveryQuery{Webhook: hook.ID, N: pageDeliveries}
	if r.Method == http.MethodGet {
		query := r.URL.Query()
		switch d.State = query.Get("state"); d.State {
		case "", meta.DeliveryPending, meta.DeliveryDelivered, meta.DeliveryDead:
		default:
			h.fail(w, r, v, invalid("state %q is not pending, delivered or dead", d.State))
			return
		}
		q.State = d.State
		if s := query.Get("before"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 1 {
				h.fail(w, r, v, invalid("before %q is not a delivery id", s))
				return
			}
			q.BeforeID = n
		}
	}
	ds, err := h.opts.WebhookStore.Deliveries(r.Context(), q)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	d.Deliveries = ds
	if len(ds) == pageDeliveries {
		d.Next = ds[len(ds)-1].ID
	}
	a.Page, a.Title, a.Data = "webhook.html", "Webhook "+hook.Name, d
	h.render(w, r, v, a)
}

// webhookOp changes a webhook: enable, disable, update (its settings),
// ping, secret (rotate) or delete.
func (h *Handler) webhookOp(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := mayPost(r, v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	ctx := r.Context()
	op := r.PathValue("op")
	hook, err := h.webhook(ctx, r, v)
	target := "webhook:" + r.PathValue("id")
	if err != nil {
		h.record(r, v, "webhook."+op, target, err)
		h.fail(w, r, v, err)
		return
	}
	again := func(err error, action string, a answer) {
		h.record(r, v, action, target, err)
		if err != nil {
			status, msg := classify(err)
			a.Status, a.Problem = status, msg
		}
		h.webhookWith(w, r, v, hook, a)
	}
	switch op {
	case "enable", "disable":
		hook.Enabled = op == "enable"
		updated, err := h.opts.Webhooks.Update(ctx, hook)
		if err = serviceError(err, "webhook "+hook.Name); err == nil {
			hook = updated
		}
		again(err, "webhook.update", answer{Notice: "Webhook " + hook.Name + " is " + op + "d."})
	case "update":
		f := webhookFrom(r)
		want := hook
		want.Name, want.URL, want.Format, want.Kinds, want.Repositories, want.Enabled = f.Name, f.URL, f.Format, f.Kinds, fields(f.Repositories), f.Enabled
		updated, err := h.opts.Webhooks.Update(ctx, want)
		if err = serviceError(err, "webhook "+f.Name); err == nil {
			hook = updated
		}
		again(err, "webhook.update", answer{Notice: "Webhook " + hook.Name + " saved.", Data: webhookPage{Form: f}})
	case "ping":
		d, err := h.opts.Webhooks.Ping(ctx, hook.ID)
		err = serviceError(err, "webhook "+hook.Name)
		notice := ""
		if err == nil {
			notice = "Ping sent: " + d.State
			if d.Status != 0 {
				notice += ", the receiver answered " + strconv.Itoa(d.Status)
			}
			if d.Error != "" {
				notice += " (" + d.Error + ")"
			}
			notice += "."
		}
		again(err, "webhook.ping", answer{Notice: notice})
	case "secret":
		secret, err := h.opts.Webhooks.RotateSecret(ctx, hook.ID)
		again(serviceError(err, "webhook "+hook.Name), "webhook.secret", answer{Notice: "A new secret signs the deliveries from their next attempt.",
			Data: webhookPage{Secret: secret}})
	case "delete":
		err := serviceError(h.opts.Webhooks.Delete(ctx, hook.ID), "webhook "+hook.Name)
		h.record(r, v, "webhook.delete", target, err)
		if err != nil {
			h.fail(w, r, v, err)
			return
		}
		h.webhooksWith(w, r, v, hook.Namespace, answer{Notice: "Webhook " + hook.Name + " deleted, with its delivery log."})
	default:
		h.fail(w, r, v, notFound("no such action %q", op))
	}
}

// delivery reads delivery {delivery} of hook.
func (h *Handler) delivery(ctx context.Context, r *http.Request, hook meta.Webhook) (meta.Delivery, []meta.DeliveryAttempt, error) {
	id, ok := formID(r, "delivery")
	if !ok {
		return meta.Delivery{}, nil, notFound("no delivery %q", r.PathValue("delivery"))
	}
	d, as, err := h.opts.WebhookStore.Delivery(ctx, id)
	if err == nil && d.Webhook != hook.ID {
		err = meta.ErrNotFound
	}
	return d, as, serviceError(err, "delivery "+r.PathValue("delivery"))
}

// deliveryGet shows one delivery with every attempt.
func (h *Handler) deliveryGet(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if h.signInFirst(w, r, v) {
		return
	}
	hook, err := h.webhook(r.Context(), r, v)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	d, as, err := h.delivery(r.Context(), r, hook)
	if err != nil {
		h.fail(w, r, v, err)
		return
	}
	h.render(w, r, v, answer{Page: "delivery.html", Title: "Delivery " + strconv.FormatInt(d.ID, 10), Data: deliveryPage{Hook: hook, Delivery: d, Attempts: as}})
}

// redeliver queues a delivery's event again, as POST
// /api/v1/webhooks/{id}/deliveries/{delivery}/redeliver does.
func (h *Handler) redeliver(w http.ResponseWriter, r *http.Request) {
	v := h.visitorOf(w, r)
	if err := mayPost(r, v); err != nil {
		h.fail(w, r, v, err)
		return
	}
	target := "webhook:" + r.PathValue("id") + "/delivery:" + r.PathValue("delivery")
	hook, err := h.webhook(r.Context(), r, v)
	var d meta.Delivery
	if err == nil {
		d, _, err = h.delivery(r.Context(), r, hook)
	}
	if err == nil {
		d, err = h.opts.Webhooks.Redeliver(r.Context(), d.ID)
		err = serviceError(err, "delivery "+r.PathValue("delivery"))
	}
	h.record(r, v, "webhook.redeliver", target, err)
	if err != nil {
		status, _ := classify(err)
		if hook.ID == 0 || status == http.StatusNotFound {
			h.fail(w, r, v, err)
			return
		}
		_, msg := classify(err)
		h.webhookWith(w, r, v, hook, answer{Status: status, Problem: msg})
		return
	}
	h.webhookWith(w, r, v, hook, answer{Notice: "The event is queued again as delivery " + strconv.FormatInt(d.ID, 10) + "."})
}
