package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// The "wharf webhook" verbs: webhook subscriptions and their delivery logs
// (docs/events.md).

// commaList splits a comma-separated flag value; "" is an empty list.
func commaList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseWebhookID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not a webhook id (wharf webhook list shows them)", s)
	}
	return id, nil
}

func allOrList(ss []string) string {
	if len(ss) == 0 {
		return "*"
	}
	return strings.Join(ss, ",")
}

func printWebhooks(a *admin, ws []mgmt.Webhook) error {
	return printList(a, ws, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tNAMESPACE\tURL\tFORMAT\tKINDS\tREPOSITORIES\tENABLED")
		for _, h := range ws {
			ns := h.Namespace
			if ns == "" {
				ns = "(system)"
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.Name, ns, h.URL, h.Format, allOrList(h.Kinds), allOrList(h.Repositories), yes(h.Enabled))
		}
	})
}

func (a *admin) webhookList(ctx context.Context, args argsFn) error {
	ns := a.fs.String("namespace", "", "the namespace's webhooks, not the system-wide ones")
	all := a.fs.Bool("all", false, "every webhook (system administrators)")
	pos, err := args()
	if err == nil {
		err = want(pos, 0, "no arguments")
	}
	if err != nil {
		return err
	}
	ws, err := a.client.Webhooks(ctx, *ns, *all)
	if err != nil {
		return err
	}
	return printWebhooks(a, ws)
}

func (a *admin) webhookCreate(ctx context.Context, args argsFn) error {
	ns := a.fs.String("namespace", "", "a webhook of this namespace, rather than system-wide")
	url := a.fs.String("url", "", "where to post events (required)")
	format := a.fs.String("format", "cloudevents", "payload format: cloudevents, distribution or harbor")
	kinds := a.fs.String("kinds", "", "comma-separated event kinds (default: every kind the format has)")
	repos := a.fs.String("repositories", "", "comma-separated repository patterns, e.g. team/**,ops/app (default: every repository)")
	disabled := a.fs.Bool("disabled", false, "create it disabled")
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a webhook name")
	}
	if err == nil && *url == "" {
		err = fmt.Errorf("--url is required")
	}
	if err != nil {
		return err
	}
	enabled := !*disabled
	h, err := a.client.CreateWebhook(ctx, *ns, mgmt.WebhookCreate{Name: pos[0], URL: *url, Format: *format,
		Kinds: commaList(*kinds), Repositories: commaList(*repos), Enabled: &enabled})
	if err != nil {
		return err
	}
	if a.json {
		return a.print(h, nil)
	}
	_, err = fmt.Fprintf(a.out, "webhook %d created; its signing secret, shown only now:\n%s\n", h.ID, h.Secret)
	return err
}

func (a *admin) webhookGet(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a webhook id")
	}
	if err != nil {
		return err
	}
	id, err := parseWebhookID(pos[0])
	if err != nil {
		return err
	}
	h, err := a.client.Webhook(ctx, id)
	if err != nil {
		return err
	}
	if a.json {
		return a.print(h, nil)
	}
	return printWebhooks(a, []mgmt.Webhook{h})
}

func (a *admin) webhookSet(ctx context.Context, args argsFn) error {
	var in mgmt.WebhookUpdate
	var name, url, format, kinds, repos optString
	a.fs.Var(&name, "name", "new name")
	a.fs.Var(&url, "url", "new URL")
	a.fs.Var(&format, "format", "new payload format")
	a.fs.Var(&kinds, "kinds", "comma-separated event kinds; \"\" for every kind")
	a.fs.Var(&repos, "repositories", "comma-separated repository patterns; \"\" for every repository")
	enabled := boolFlag{}
	a.fs.Var(&enabled, "enabled", "enable (true) or disable (false)")
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a webhook id")
	}
	if err != nil {
		return err
	}
	id, err := parseWebhookID(pos[0])
	if err != nil {
		return err
	}
	in.Name, in.URL, in.Format, in.Enabled = name.v, url.v, format.v, enabled.v
	if kinds.v != nil {
		l := commaList(*kinds.v)
		in.Kinds = &l
	}
	if repos.v != nil {
		l := commaList(*repos.v)
		in.Repositories = &l
	}
	h, err := a.client.UpdateWebhook(ctx, id, in)
	if err != nil {
		return err
	}
	if a.json {
		return a.print(h, nil)
	}
	return printWebhooks(a, []mgmt.Webhook{h})
}

// webhookOne runs a verb taking one webhook id.
func (a *admin) webhookOne(args argsFn, run func(id int64) error) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a webhook id")
	}
	if err != nil {
		return err
	}
	id, err := parseWebhookID(pos[0])
	if err != nil {
		return err
	}
	return run(id)
}

func (a *admin) webhookDelete(ctx context.Context, args argsFn) error {
	return a.webhookOne(args, func(id int64) error {
		if err := a.client.DeleteWebhook(ctx, id); err != nil {
			return err
		}
		return a.done("webhook %d deleted, with its delivery log", id)
	})
}

func (a *admin) webhookSecret(ctx context.Context, args argsFn) error {
	return a.webhookOne(args, func(id int64) error {
		secret, err := a.client.RotateWebhookSecret(ctx, id)
		if err != nil {
			return err
		}
		if a.json {
			return a.print(mgmt.WebhookSecret{Secret: secret}, nil)
		}
		_, err = fmt.Fprintf(a.out, "webhook %d signs with a new secret from its next delivery; shown only now:\n%s\n", id, secret)
		return err
	})
}

func (a *admin) webhookPing(ctx context.Context, args argsFn) error {
	return a.webhookOne(args, func(id int64) error {
		d, err := a.client.PingWebhook(ctx, id)
		if err != nil {
			return err
		}
		if a.json {
			return a.print(d, nil)
		}
		if d.State == "delivered" {
			_, err = fmt.Fprintf(a.out, "ping delivered: HTTP %d in %.1f ms\n", d.Status, d.LatencyMS)
			return err
		}
		return fmt.Errorf("ping failed after %.1f ms: %s", d.LatencyMS, d.Error)
	})
}

func printDeliveries(a *admin, ds []mgmt.Delivery) error {
	return printList(a, ds, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tEVENT\tKIND\tREPOSITORY\tSTATE\tATTEMPTS\tSTATUS\tLATENCY\tNEXT\tERROR")
		for _, d := range ds {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%.1fms\t%s\t%s\n", d.ID, d.EventID, d.Kind, d.Repository, d.State, d.Attempts,
				d.Status, d.LatencyMS, when(d.NextAt), d.Error)
		}
	})
}

func (a *admin) webhookDeliveries(ctx context.Context, args argsFn) error {
	state := a.fs.String("state", "", "only pending, delivered or dead deliveries")
	limit := a.fs.Int("limit", 50, "at most this many, newest first (0: all)")
	return a.webhookOne(args, func(id int64) error {
		ds, err := a.client.Deliveries(ctx, id, *state, *limit)
		if err != nil {
			return err
		}
		return printDeliveries(a, ds)
	})
}

// webhookDelivery runs a verb taking a webhook id and a delivery id.
func (a *admin) webhookDelivery(args argsFn, run func(id, d int64) error) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 2, "a webhook id and a delivery id")
	}
	if err != nil {
		return err
	}
	id, err := parseWebhookID(pos[0])
	if err != nil {
		return err
	}
	d, err := strconv.ParseInt(pos[1], 10, 64)
	if err != nil || d <= 0 {
		return fmt.Errorf("%q is not a delivery id (wharf webhook deliveries %d shows them)", pos[1], id)
	}
	return run(id, d)
}

func (a *admin) webhookShowDelivery(ctx context.Context, args argsFn) error {
	return a.webhookDelivery(args, func(id, d int64) error {
		out, err := a.client.Delivery(ctx, id, d)
		if err != nil {
			return err
		}
		return a.print(out, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "delivery %d of event %s (%s) to webhook %d: %s after %d attempt(s)\n", out.ID, out.EventID, out.Kind, id, out.State, out.Attempts)
			fmt.Fprintln(w, "ATTEMPT\tAT\tSTATUS\tLATENCY\tERROR\tRESPONSE")
			for _, at := range out.AttemptList {
				fmt.Fprintf(w, "%d\t%s\t%d\t%.1fms\t%s\t%.80q\n", at.N, at.At.Local().Format("2006-01-02 15:04:05"), at.Status, at.LatencyMS, at.Error, at.Response)
			}
		})
	})
}

func (a *admin) webhookRedeliver(ctx context.Context, args argsFn) error {
	return a.webhookDelivery(args, func(id, d int64) error {
		out, err := a.client.Redeliver(ctx, id, d)
		if err != nil {
			return err
		}
		if a.json {
			return a.print(out, nil)
		}
		_, err = fmt.Fprintf(a.out, "event %s queued again for webhook %d as delivery %d\n", out.EventID, id, out.ID)
		return err
	})
}

// optString is an optional string flag: unset unless given.
type optString struct{ v *string }

func (o *optString) String() string {
	if o.v == nil {
		return ""
	}
	return *o.v
}

func (o *optString) Set(s string) error {
	o.v = &s
	return nil
}
