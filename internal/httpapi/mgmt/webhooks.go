package mgmt

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// The webhook endpoints (docs/events.md). System administrators manage the
// system-wide webhooks, which see every event; a namespace's admins manage
// the namespace's, which see the events of that namespace. A webhook's
// secret is shown when it is created and when it is rotated, never again.
var webhookRoutes = []route{
	{method: http.MethodGet, path: "/api/v1/webhooks", handler: (*Handler).listWebhooks},
	{method: http.MethodPost, path: "/api/v1/webhooks", handler: (*Handler).createWebhook},
	{method: http.MethodGet, path: "/api/v1/namespaces/{namespace}/webhooks", handler: (*Handler).listWebhooks},
	{method: http.MethodPost, path: "/api/v1/namespaces/{namespace}/webhooks", handler: (*Handler).createWebhook},
	{method: http.MethodGet, path: "/api/v1/webhooks/{id}", handler: (*Handler).getWebhook},
	{method: http.MethodPatch, path: "/api/v1/webhooks/{id}", handler: (*Handler).updateWebhook},
	{method: http.MethodDelete, path: "/api/v1/webhooks/{id}", handler: (*Handler).deleteWebhook},
	{method: http.MethodPost, path: "/api/v1/webhooks/{id}/secret", handler: (*Handler).rotateWebhookSecret},
	{method: http.MethodPost, path: "/api/v1/webhooks/{id}/ping", handler: (*Handler).pingWebhook},
	{method: http.MethodGet, path: "/api/v1/webhooks/{id}/deliveries", handler: (*Handler).listDeliveries},
	{method: http.MethodGet, path: "/api/v1/webhooks/{id}/deliveries/{delivery}", handler: (*Handler).getDelivery},
	{method: http.MethodPost, path: "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", handler: (*Handler).redeliver},
}

// Webhook is a webhook subscription as the API shows it.
type Webhook struct {
	ID           int64    `json:"id"`
	Name         string   `json:"name"`
	Namespace    string   `json:"namespace,omitempty"` // absent for a system-wide webhook
	URL          string   `json:"url"`
	Format       string   `json:"format"`
	Kinds        []string `json:"kinds"`        // empty: every kind the format has
	Repositories []string `json:"repositories"` // empty: every repository, and events about none
	Enabled      bool     `json:"enabled"`
	// Secret signs the deliveries; it is only in the answers that create
	// the webhook or rotate its secret.
	Secret    string    `json:"secret,omitempty"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// WebhookCreate is the body of a new webhook.
type WebhookCreate struct {
	Name         string   `json:"name"`
	URL          string   `json:"url"`
	Format       string   `json:"format,omitempty"` // cloudevents (the default), distribution or harbor
	Kinds        []string `json:"kinds,omitempty"`
	Repositories []string `json:"repositories,omitempty"`
	Enabled      *bool    `json:"enabled,omitempty"` // true if absent
}

// WebhookUpdate changes a webhook; absent fields keep their value.
type WebhookUpdate struct {
	Name         *string   `json:"name,omitempty"`
	URL          *string   `json:"url,omitempty"`
	Format       *string   `json:"format,omitempty"`
	Kinds        *[]string `json:"kinds,omitempty"`
	Repositories *[]string `json:"repositories,omitempty"`
	Enabled      *bool     `json:"enabled,omitempty"`
}

// WebhookSecret is a webhook's new secret.
type WebhookSecret struct {
	Secret string `json:"secret"`
}

// Delivery is an entry of a webhook's delivery log.
type Delivery struct {
	ID         int64     `json:"id"`
	Webhook    int64     `json:"webhook"`
	EventID    string    `json:"eventId"`
	Kind       string    `json:"kind"`
	Repository string    `json:"repository,omitempty"`
	State      string    `json:"state"` // pending, delivered or dead
	Attempts   int       `json:"attempts"`
	NextAt     time.Time `json:"nextAt,omitzero"` // when a pending delivery is tried next
	// The last attempt: the HTTP status (0 when no answer came), its
	// latency, why it failed, and the start of the answer's body.
	Status      int       `json:"status"`
	LatencyMS   float64   `json:"latencyMs"`
	Error       string    `json:"error,omitempty"`
	Response    string    `json:"response,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	AttemptList []Attempt `json:"attemptList,omitempty"` // every attempt, in GET .../deliveries/{delivery}
}

// Attempt is one attempt of a delivery.
type Attempt struct {
	N         int       `json:"n"`
	At        time.Time `json:"at"`
	Status    int       `json:"status"`
	LatencyMS float64   `json:"latencyMs"`
	Error     string    `json:"error,omitempty"`
	Response  string    `json:"response,omitempty"`
}

func webhookOut(w meta.Webhook) Webhook {
	kinds, repos := w.Kinds, w.Repositories
	if kinds == nil {
		kinds = []string{}
	}
	if repos == nil {
		repos = []string{}
	}
	return Webhook{ID: w.ID, Name: w.Name, Namespace: w.Namespace, URL: w.URL, Format: w.Format, Kinds: kinds, Repositories: repos,
		Enabled: w.Enabled, Secret: w.Secret, CreatedBy: w.CreatedBy, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}

func deliveryOut(d meta.Delivery) Delivery {
	out := Delivery{ID: d.ID, Webhook: d.Webhook, EventID: d.EventID, Kind: d.Kind, Repository: d.Repository, State: d.State,
		Attempts: d.Attempts, Status: d.Status, LatencyMS: ms(d.Latency), Error: d.Error, Response: d.Response,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d.State == meta.DeliveryPending {
		out.NextAt = d.NextAt
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// webhooksOn reports whether the server delivers webhooks.
func (h *Handler) webhooksOn() error {
	if h.opts.Webhooks == nil {
		return apierr.New(apierr.NotFound, "webhooks are not available on this server")
	}
	return nil
}

// webhookError translates an error of the webhook manager.
func webhookError(err error, what string) error {
	if errors.Is(err, events.ErrInvalid) {
		return &apierr.Error{Code: apierr.RequestInvalid, Message: err.Error(), Err: err}
	}
	if errors.Is(err, meta.ErrNotFound) && what == "" {
		return apierr.New(apierr.NotFound, "namespace not found")
	}
	return storeError(err, what)
}

// mayManageWebhooks checks c may manage the webhooks of namespace ns (""
// for the system-wide ones). One who may not see a namespace is told it
// is not found.
func (h *Handler) mayManageWebhooks(ctx context.Context, c access.Caller, ns string) error {
	if ns == "" {
		if !c.SystemAdmin() {
			return denied("system-wide webhooks need a system administrator; a namespace's admins manage its webhooks under /api/v1/namespaces/{namespace}/webhooks")
		}
		return nil
	}
	_, err := h.manageable(ctx, c, ns)
	return err
}

// webhook reads webhook p["id"] for c, who must be allowed to manage it: a
// webhook c may not manage is not found.
func (h *Handler) webhook(ctx context.Context, c access.Caller, p params) (meta.Webhook, error) {
	if err := h.webhooksOn(); err != nil {
		return meta.Webhook{}, err
	}
	id, err := parseID(p["id"])
	if err != nil {
		return meta.Webhook{}, err
	}
	w, err := h.opts.WebhookStore.Webhook(ctx, id)
	if err != nil {
		return meta.Webhook{}, storeError(err, "webhook "+p["id"])
	}
	if err := h.mayManageWebhooks(ctx, c, w.Namespace); err != nil {
		if apierr.Is(err, apierr.Denied) && w.Namespace == "" {
			return meta.Webhook{}, apierr.New(apierr.NotFound, "webhook %d not found", id)
		}
		return meta.Webhook{}, err
	}
	return w, nil
}

// listWebhooks answers GET /webhooks (the system-wide webhooks; with
// all=true every webhook) and GET /namespaces/{namespace}/webhooks.
func (h *Handler) listWebhooks(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	if err := h.webhooksOn(); err != nil {
		return err
	}
	ns := p["namespace"]
	all := false
	if s := r.URL.Query().Get("all"); s != "" && ns == "" {
		var err error
		if all, err = strconv.ParseBool(s); err != nil {
			return invalid("all %q is not true or false", truncate(s))
		}
	}
	if err := h.mayManageWebhooks(r.Context(), c, ns); err != nil {
		return err
	}
	ws, err := h.opts.WebhookStore.ListWebhooks(r.Context(), ns, all)
	if err != nil {
		return storeError(err, "webhooks")
	}
	res := List[Webhook]{Items: []Webhook{}}
	for _, x := range ws {
		x.Secret = ""
		res.Items = append(res.Items, webhookOut(x))
	}
	return writeJSON(w, http.StatusOK, res)
}

func (h *Handler) createWebhook(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ns := p["namespace"]
	var in WebhookCreate
	var created meta.Webhook
	err := func() error {
		if err := h.webhooksOn(); err != nil {
			return err
		}
		if err := h.mayManageWebhooks(r.Context(), c, ns); err != nil {
			return err
		}
		if err := decode(w, r, &in); err != nil {
			return err
		}
		enabled := in.Enabled == nil || *in.Enabled
		var err error
		created, err = h.opts.Webhooks.Create(r.Context(), meta.Webhook{Name: in.Name, Namespace: ns, URL: in.URL, Format: in.Format,
			Kinds: in.Kinds, Repositories: in.Repositories, Enabled: enabled})
		return webhookError(err, "webhook "+in.Name)
	}()
	h.refused(r, c, "webhook.create", webhookTarget(ns, in.Name), err)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, webhookOut(created))
}

func webhookTarget(ns, name string) string {
	if ns == "" {
		return "webhook:" + name
	}
	return ns + "/webhook:" + name
}

func (h *Handler) getWebhook(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	hook, err := h.webhook(r.Context(), c, p)
	if err != nil {
		return err
	}
	hook.Secret = ""
	return writeJSON(w, http.StatusOK, webhookOut(hook))
}

func (h *Handler) updateWebhook(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	var hook meta.Webhook
	err := func() error {
		var err error
		if hook, err = h.webhook(r.Context(), c, p); err != nil {
			return err
		}
		var in WebhookUpdate
		if err := decode(w, r, &in); err != nil {
			return err
		}
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&hook.Name, in.Name)
		set(&hook.URL, in.URL)
		set(&hook.Format, in.Format)
		if in.Kinds != nil {
			hook.Kinds = *in.Kinds
		}
		if in.Repositories != nil {
			hook.Repositories = *in.Repositories
		}
		if in.Enabled != nil {
			hook.Enabled = *in.Enabled
		}
		hook, err = h.opts.Webhooks.Update(r.Context(), hook)
		return webhookError(err, "webhook "+hook.Name)
	}()
	h.refused(r, c, "webhook.update", "webhook:"+p["id"], err)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, webhookOut(hook))
}

func (h *Handler) deleteWebhook(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	err := func() error {
		hook, err := h.webhook(r.Context(), c, p)
		if err != nil {
			return err
		}
		return webhookError(h.opts.Webhooks.Delete(r.Context(), hook.ID), "webhook "+p["id"])
	}()
	h.refused(r, c, "webhook.delete", "webhook:"+p["id"], err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotateWebhookSecret answers POST /webhooks/{id}/secret: a new secret,
// shown in this answer only, signs deliveries from their next attempt.
func (h *Handler) rotateWebhookSecret(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	var secret string
	err := func() error {
		hook, err := h.webhook(r.Context(), c, p)
		if err != nil {
			return err
		}
		secret, err = h.opts.Webhooks.RotateSecret(r.Context(), hook.ID)
		return webhookError(err, "webhook "+p["id"])
	}()
	h.refused(r, c, "webhook.secret", "webhook:"+p["id"], err)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, WebhookSecret{Secret: secret})
}

// pingWebhook answers POST /webhooks/{id}/ping: a webhook.ping event is
// sent now and the delivery, with its outcome, is the answer (200 whether
// the receiver accepted it or not: the delivery's state says).
func (h *Handler) pingWebhook(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	hook, err := h.webhook(r.Context(), c, p)
	if err != nil {
		return err
	}
	d, err := h.opts.Webhooks.Ping(r.Context(), hook.ID)
	if err != nil {
		return webhookError(err, "webhook "+p["id"])
	}
	return writeJSON(w, http.StatusOK, deliveryOut(d))
}

// listDeliveries answers GET /webhooks/{id}/deliveries: the delivery log,
// newest first, filtered by state, paged by before.
func (h *Handler) listDeliveries(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	hook, err := h.webhook(r.Context(), c, p)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	q := meta.DeliveryQuery{Webhook: hook.ID, State: v.Get("state")}
	switch q.State {
	case "", meta.DeliveryPending, meta.DeliveryDelivered, meta.DeliveryDead:
	default:
		return invalid("state %q is not pending, delivered or dead", truncate(q.State))
	}
	if s := v.Get("before"); s != "" {
		if q.BeforeID, err = strconv.ParseInt(s, 10, 64); err != nil || q.BeforeID < 1 {
			return invalid("before %q is not a delivery id", truncate(s))
		}
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	q.N = pg.N
	ds, err := h.opts.WebhookStore.Deliveries(r.Context(), q)
	if err != nil {
		return storeError(err, "deliveries")
	}
	res := List[Delivery]{Items: []Delivery{}}
	for _, d := range ds {
		res.Items = append(res.Items, deliveryOut(d))
	}
	if len(ds) == pg.N {
		res.Next = strconv.FormatInt(ds[len(ds)-1].ID, 10)
	}
	return writeJSON(w, http.StatusOK, res)
}

// delivery reads delivery p["delivery"] of webhook hook.
func (h *Handler) delivery(ctx context.Context, hook meta.Webhook, p params) (meta.Delivery, []meta.DeliveryAttempt, error) {
	id, err := parseID(p["delivery"])
	if err != nil {
		return meta.Delivery{}, nil, err
	}
	d, as, err := h.opts.WebhookStore.Delivery(ctx, id)
	if err == nil && d.Webhook != hook.ID {
		err = meta.ErrNotFound
	}
	if err != nil {
		return meta.Delivery{}, nil, storeError(err, "delivery "+p["delivery"])
	}
	return d, as, nil
}

func (h *Handler) getDelivery(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	hook, err := h.webhook(r.Context(), c, p)
	if err != nil {
		return err
	}
	d, as, err := h.delivery(r.Context(), hook, p)
	if err != nil {
		return err
	}
	out := deliveryOut(d)
	for _, a := range as {
		out.AttemptList = append(out.AttemptList, Attempt{N: a.N, At: a.At, Status: a.Status, LatencyMS: ms(a.Latency), Error: a.Error, Response: a.Response})
	}
	return writeJSON(w, http.StatusOK, out)
}

// redeliver answers POST /webhooks/{id}/deliveries/{delivery}/redeliver:
// the delivery's event is queued again as a new delivery, due now.
func (h *Handler) redeliver(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	var d meta.Delivery
	err := func() error {
		hook, err := h.webhook(r.Context(), c, p)
		if err != nil {
			return err
		}
		if d, _, err = h.delivery(r.Context(), hook, p); err != nil {
			return err
		}
		d, err = h.opts.Webhooks.Redeliver(r.Context(), d.ID)
		return webhookError(err, "delivery "+p["delivery"])
	}()
	h.refused(r, c, "webhook.redeliver", "webhook:"+p["id"]+"/delivery:"+p["delivery"], err)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, deliveryOut(d))
}
