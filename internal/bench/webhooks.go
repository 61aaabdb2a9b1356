package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// webhookPush measures what webhooks cost a push: the small-image push rate
// without webhooks, then with three webhooks on every push, one of them to
// a receiver that never answers (each attempt waits for the server's
// events.webhooks.timeout) and two that answer at once, then without again
// (the webhooks disabled). It needs wharf's
// management API (as the local administrator, or --username with a system
// administrator's credentials) and a server allowed to reach this process
// (events.webhooks.allowNetworks), and runs only with --webhook-listen.
func (r *runner) webhookPush(ctx context.Context) ([]Result, error) {
	if r.opts.WebhookListen == "" {
		r.logf("webhook-push: skipped: no --webhook-listen")
		return nil, nil
	}
	ln, err := net.Listen("tcp", r.opts.WebhookListen)
	if err != nil {
		return nil, fmt.Errorf("webhook receivers: %w", err)
	}
	var live atomic.Int64
	hang := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/dead" {
			select { // never answers: the server gives up at its timeout
			case <-hang:
			case <-req.Context().Done():
			}
			return
		}
		live.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		close(hang)
		_ = srv.Close()
	}()
	base := "http://" + ln.Addr().String()

	repo := r.repo("webhook-small")
	before, err := r.pushRate(ctx, repo, "a")
	if err != nil {
		return nil, fmt.Errorf("without webhooks: %w", err)
	}
	var ids []int64
	defer func() {
		for _, id := range ids {
			_ = r.client.mgmt(context.WithoutCancel(ctx), http.MethodDelete, "/api/v1/webhooks/"+strconv.FormatInt(id, 10), nil, nil, http.StatusNoContent)
		}
	}()
	for _, h := range []struct{ name, path string }{{"dead", "/dead"}, {"live-1", "/live"}, {"live-2", "/live"}} {
		var out struct {
			ID int64 `json:"id"`
		}
		in := map[string]any{"name": r.nonce + "-" + h.name, "url": base + h.path, "kinds": []string{"artifact.pushed"},
			"repositories": []string{repo}}
		if err := r.client.mgmt(ctx, http.MethodPost, "/api/v1/webhooks", in, &out, http.StatusCreated); err != nil {
			return nil, fmt.Errorf("create webhook %s: %w", h.name, err)
		}
		ids = append(ids, out.ID)
	}
	with, err := r.pushRate(ctx, repo, "b")
	if err != nil {
		return nil, fmt.Errorf("with webhooks: %w", err)
	}
	// The live receivers get every push of the second window, twice.
	want := 2 * with.Ops
	deadline := time.Now().Add(30 * time.Second)
	for live.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	got := live.Load()
	// A third window without webhooks (disabled), so that a drift of the
	// machine or of the growing repository over the run weighs on both
	// sides: the rate with webhooks is compared to the mean of the two
	// windows around it.
	for _, id := range ids {
		in := map[string]any{"enabled": false}
		if err := r.client.mgmt(ctx, http.MethodPatch, "/api/v1/webhooks/"+strconv.FormatInt(id, 10), in, nil, http.StatusOK); err != nil {
			return nil, fmt.Errorf("disable webhook %d: %w", id, err)
		}
	}
	after, err := r.pushRate(ctx, repo, "c")
	if err != nil {
		return nil, fmt.Errorf("without webhooks, after: %w", err)
	}
	before.Note, after.Note = "no webhooks (before)", "no webhooks (after)"
	ratio := 0.0
	if mean := (before.Value + after.Value) / 2; mean > 0 {
		ratio = with.Value / mean
	}
	with.Note = fmt.Sprintf("1 dead and 2 live webhooks: %.0f%% of the rate without (mean of before and after); the live ones got %d of %d deliveries",
		100*ratio, got, want)
	return []Result{before, with, after}, nil
}

// pushRate is the small-image push rate into repo over one Duration.
func (r *runner) pushRate(ctx context.Context, repo, round string) (Result, error) {
	rngs := make([]*rand.ChaCha8, smallImageConcurrency)
	for i := range rngs {
		rngs[i] = newRNG()
	}
	var lat []time.Duration
	w, err := r.measure(func() error {
		var err error
		lat, err = closedLoop(ctx, smallImageConcurrency, r.opts.Duration, func(ctx context.Context, worker, i int) error {
			rng := rngs[worker]
			sizes := rand.New(rng)
			img, err := newImage(rng, 4<<10+sizes.IntN(60<<10), 4<<10+sizes.IntN(60<<10))
			if err != nil {
				return err
			}
			return img.push(ctx, r.client, repo, fmt.Sprintf("%s-%s-w%02d-%06d", r.nonce, round, worker, i))
		})
		return err
	})
	if err != nil {
		return Result{}, err
	}
	res := rateResult("webhook-push", smallImageConcurrency, int64(len(lat)), float64(len(lat)), "images", w)
	res.P50Ms, res.P99Ms = latencySummary(lat)
	return res, nil
}

// mgmt calls wharf's management API with a JSON body and decodes a JSON
// answer of status want into out, if not nil.
func (c *Client) mgmt(ctx context.Context, method, path string, in, out any, want int) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	req, err := c.newRequest(ctx, method, c.endpoint(path, nil), bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.do(req, want)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = discard(resp)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
