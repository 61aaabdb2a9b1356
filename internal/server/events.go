package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/jobs"
	"github.com/wharf-dev/wharf/internal/meta"
)

// eventServices are the event stream's parts a server runs: the recorder of
// events that record no change, and webhook management and delivery (nil
// when the store keeps no webhooks).
type eventServices struct {
	recorder  *events.Recorder
	webhooks  *events.Webhooks
	store     meta.Webhooks
	deliverer *events.Deliverer
}

// openWebhooks builds webhook management and delivery over the server's
// metadata store (the recorder is made first, for the services).
func (s *Server) openWebhooks() error {
	ws, ok := s.meta.(meta.Webhooks)
	if !ok {
		return nil
	}
	wc := s.cfg.Events.Webhooks
	allow, err := wc.AllowedNetworks()
	if err != nil {
		return fmt.Errorf("events.webhooks.allowNetworks: %w", err)
	}
	guard := &events.Guard{Allow: allow}
	renderer := &events.Renderer{ExternalURL: s.cfg.Events.ExternalURL, Addr: sourceAddr(s.cfg.HTTP.Addr), InstanceID: events.InstanceID}
	if a, ok := s.meta.(meta.Access); ok && s.access != nil {
		renderer.Public = namespaceVisibility(a)
	}
	sender := &events.Sender{Renderer: renderer, Client: guard.Client(wc.Timeout), UserAgent: "wharf-webhooks"}
	s.events.store = ws
	s.events.webhooks = events.NewWebhooks(events.WebhookOptions{Meta: s.meta, Store: ws, Guard: guard, Sender: sender})
	s.events.deliverer = events.NewDeliverer(events.DelivererOptions{
		Store: ws, Sender: sender, Logger: s.log,
		MaxAttempts: wc.MaxAttempts, Backoff: wc.Backoff, MaxBackoff: wc.MaxBackoff, Concurrency: wc.Concurrency,
		Metrics: s.metrics.NewWebhooks(),
	})
	return nil
}

// namespaceVisibility reports whether a namespace is public, for payloads
// that say so (Harbor's repo_type); a namespace it cannot read is private.
func namespaceVisibility(a meta.Access) func(string) bool {
	return func(ns string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := a.Namespace(ctx, ns)
		return err == nil && n.Public
	}
}

// sourceAddr names this process in payloads: its host name and the port
// it listens on.
func sourceAddr(listen string) string {
	host, _ := os.Hostname()
	_, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" {
		return host
	}
	return net.JoinHostPort(host, port)
}

// record is the recorder's Record, for the services' options: events of
// the hot paths (logins, /v2 refusals) written in batches.
func (s *Server) record(e events.Event) { s.events.recorder.Record(e) }

// recordNow writes e at once, in a transaction of its own: for the
// refusals of management changes, which are rare and whose caller waits
// for the answer anyway, so that they are on record when it comes.
func (s *Server) recordNow(e events.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.meta.Update(ctx, func(tx meta.Tx) error { return events.Append(ctx, tx, e) }); err != nil {
		s.log.Warn("event not recorded", "kind", e.Kind(), "actor", e.Actor.Name, "err", err)
	}
}

// eventJobs returns the event stream's jobs: webhook delivery (not for
// one-shot commands) and the pruning of old events, every
// housekeeping.interval.
func (s *Server) eventJobs() []jobs.Job {
	o := events.JobOptions{Store: s.events.store, Retention: s.cfg.EventRetention(), PruneInterval: s.cfg.Housekeeping.Interval, Log: s.log.Info}
	if !s.oneShot {
		o.Deliverer = s.events.deliverer
	}
	return events.Jobs(o)
}
