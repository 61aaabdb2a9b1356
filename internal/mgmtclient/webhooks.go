package mgmtclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// webhooksPath is where the webhooks of namespace ns ("" for the
// system-wide ones) are listed and created.
func webhooksPath(ns string) string {
	if ns == "" {
		return "/webhooks"
	}
	return "/namespaces/" + seg(ns) + "/webhooks"
}

func webhookPath(id int64) string { return "/webhooks/" + strconv.FormatInt(id, 10) }

// Webhooks lists the webhooks of namespace ns ("" for the system-wide
// ones); all lists every webhook (system administrators).
func (c *Client) Webhooks(ctx context.Context, ns string, all bool) ([]mgmt.Webhook, error) {
	q := url.Values{}
	if all {
		q.Set("all", "true")
	}
	var l mgmt.List[mgmt.Webhook]
	return l.Items, c.do(ctx, http.MethodGet, webhooksPath(ns), q, nil, &l)
}

// CreateWebhook creates a webhook of namespace ns ("" for a system-wide
// one); the answer holds its secret, which is never shown again.
func (c *Client) CreateWebhook(ctx context.Context, ns string, in mgmt.WebhookCreate) (mgmt.Webhook, error) {
	var w mgmt.Webhook
	return w, c.do(ctx, http.MethodPost, webhooksPath(ns), nil, in, &w)
}

// Webhook returns webhook id.
func (c *Client) Webhook(ctx context.Context, id int64) (mgmt.Webhook, error) {
	var w mgmt.Webhook
	return w, c.do(ctx, http.MethodGet, webhookPath(id), nil, nil, &w)
}

// UpdateWebhook changes webhook id.
func (c *Client) UpdateWebhook(ctx context.Context, id int64, in mgmt.WebhookUpdate) (mgmt.Webhook, error) {
	var w mgmt.Webhook
	return w, c.do(ctx, http.MethodPatch, webhookPath(id), nil, in, &w)
}

// DeleteWebhook deletes webhook id and its delivery log.
func (c *Client) DeleteWebhook(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodDelete, webhookPath(id), nil, nil, nil)
}

// RotateWebhookSecret gives webhook id a new secret and returns it.
func (c *Client) RotateWebhookSecret(ctx context.Context, id int64) (string, error) {
	var s mgmt.WebhookSecret
	return s.Secret, c.do(ctx, http.MethodPost, webhookPath(id)+"/secret", nil, nil, &s)
}

// PingWebhook sends webhook id a ping and returns the delivery.
func (c *Client) PingWebhook(ctx context.Context, id int64) (mgmt.Delivery, error) {
	var d mgmt.Delivery
	return d, c.do(ctx, http.MethodPost, webhookPath(id)+"/ping", nil, nil, &d)
}

// Deliveries returns up to limit deliveries of webhook id (every one if
// limit is 0), newest first, of state if it is not "".
func (c *Client) Deliveries(ctx context.Context, id int64, state string, limit int) ([]mgmt.Delivery, error) {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	out := []mgmt.Delivery{}
	for {
		n := 1000
		if limit > 0 {
			n = min(n, limit-len(out))
		}
		q.Set("n", strconv.Itoa(n))
		var l mgmt.List[mgmt.Delivery]
		if err := c.do(ctx, http.MethodGet, webhookPath(id)+"/deliveries", q, nil, &l); err != nil {
			return nil, err
		}
		out = append(out, l.Items...)
		if l.Next == "" || limit > 0 && len(out) >= limit {
			return out, nil
		}
		q.Set("before", l.Next)
	}
}

// Delivery returns delivery d of webhook id with its attempts.
func (c *Client) Delivery(ctx context.Context, id, d int64) (mgmt.Delivery, error) {
	var out mgmt.Delivery
	return out, c.do(ctx, http.MethodGet, webhookPath(id)+"/deliveries/"+strconv.FormatInt(d, 10), nil, nil, &out)
}

// Redeliver queues delivery d's event again to webhook id.
func (c *Client) Redeliver(ctx context.Context, id, d int64) (mgmt.Delivery, error) {
	var out mgmt.Delivery
	return out, c.do(ctx, http.MethodPost, webhookPath(id)+"/deliveries/"+strconv.FormatInt(d, 10)+"/redeliver", nil, nil, &out)
}
