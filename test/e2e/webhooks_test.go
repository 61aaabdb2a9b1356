package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// docReceiver is a webhook receiver written from docs/events.md alone
// ("Headers and signing"), not from wharf's code: it checks every
// delivery's timestamp and signature as the documentation tells receivers
// to, and records the deliveries it accepts.
type docReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string
	// hold, while set, keeps every request waiting until it is closed.
	hold chan struct{}

	mu       sync.Mutex
	held     int // requests that waited for hold
	accepted []docDelivery
	bad      []string
}

type docDelivery struct {
	eventID, kind, attempt string
	body                   []byte
}

func newDocReceiver(t *testing.T) *docReceiver {
	rc := &docReceiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *docReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	hold, secret := rc.hold, rc.secret
	if hold != nil {
		rc.held++
	}
	rc.mu.Unlock()
	if hold != nil {
		<-hold
		if r.Context().Err() != nil {
			return // the sender went away before we answered: nothing was delivered
		}
	}
	// 1. The timestamp: within five minutes of our clock.
	ts := r.Header.Get("Wharf-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		rc.refuse(w, "timestamp "+ts)
		return
	}
	// 2. HMAC-SHA256, keyed with the secret as bytes, over the timestamp
	// as sent, ".", and the raw body.
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	// 3. One of the comma-separated signatures must match.
	ok := false
	for _, s := range strings.Split(r.Header.Get("Wharf-Signature"), ",") {
		ok = ok || hmac.Equal([]byte(strings.TrimSpace(s)), []byte(want))
	}
	if !ok {
		rc.refuse(w, "signature "+r.Header.Get("Wharf-Signature"))
		return
	}
	rc.mu.Lock()
	rc.accepted = append(rc.accepted, docDelivery{eventID: r.Header.Get("Idempotency-Key"), kind: r.Header.Get("Wharf-Event-Kind"),
		attempt: r.Header.Get("Wharf-Delivery-Attempt"), body: body})
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *docReceiver) refuse(w http.ResponseWriter, why string) {
	rc.mu.Lock()
	rc.bad = append(rc.bad, why)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusUnauthorized)
}

// byEvent counts the accepted deliveries of each event id.
func (rc *docReceiver) byEvent() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]int{}
	for _, d := range rc.accepted {
		out[d.eventID]++
	}
	return out
}

// awaitEvents waits until n distinct events were accepted.
func (rc *docReceiver) awaitEvents(n int, within time.Duration) {
	rc.t.Helper()
	deadline := time.Now().Add(within)
	for len(rc.byEvent()) < n {
		if time.Now().After(deadline) {
			rc.mu.Lock()
			defer rc.mu.Unlock()
			rc.t.Fatalf("%d of %d events delivered within %s; refused: %v", len(rc.byEvent()), n, within, rc.bad)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		rc.t.Fatalf("deliveries that fail the documented checks: %v", rc.bad)
	}
}

// webhookEnv lets wharf deliver to receivers on loopback, retrying fast.
var webhookEnv = []string{"WHARF_EVENTS_WEBHOOKS_ALLOW_NETWORKS=127.0.0.0/8", "WHARF_EVENTS_WEBHOOKS_BACKOFF=200ms",
	"WHARF_EVENTS_WEBHOOKS_MAX_BACKOFF=1s", "WHARF_EVENTS_WEBHOOKS_TIMEOUT=2s"}

// createWebhook creates a system-wide webhook on base as the local
// administrator (no access control, from loopback) and gives the receiver
// its secret.
func createWebhook(t *testing.T, base string, rc *docReceiver, format string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": "e2e-" + format, "url": rc.srv.URL, "format": format, "kinds": []string{"artifact.pushed"}})
	resp, err := http.Post(base+"/api/v1/webhooks", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var w struct {
		Secret string `json:"secret"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &w) != nil || w.Secret == "" {
		t.Fatalf("create webhook: %d %s", resp.StatusCode, b)
	}
	rc.mu.Lock()
	rc.secret = w.Secret
	rc.mu.Unlock()
}

// TestWebhookDeliveredAfterKill: events committed just before wharf is
// killed with SIGKILL (their deliveries in flight, the receiver holding
// them) are delivered once it starts again, with the same event ids.
func TestWebhookDeliveredAfterKill(t *testing.T) {
	dir := t.TempDir()
	w := startWharf(t, dir, webhookEnv...)
	rc := newDocReceiver(t)
	createWebhook(t, "http://"+w.addr, rc, "cloudevents")
	rc.mu.Lock()
	rc.hold = make(chan struct{})
	rc.mu.Unlock()
	l := &crashLoad{base: "http://" + w.addr, all: map[digest.Digest]bool{}}
	for i := range 5 {
		l.pushOne(fmt.Sprintf("kill/app%d", i), "v1")
	}
	if len(l.acks) != 5 {
		t.Fatalf("%d of 5 pushes acknowledged", len(l.acks))
	}
	// Wait for deliveries to be in flight (the receiver holds them), then
	// kill wharf before any is answered.
	deadline := time.Now().Add(10 * time.Second)
	for {
		rc.mu.Lock()
		held := rc.held
		rc.mu.Unlock()
		if held > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery reached the receiver within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.kill()
	// The requests of the killed process stay held (released, with their
	// connections gone, when the test ends); the next process's are not.
	time.Sleep(200 * time.Millisecond)
	rc.mu.Lock()
	held := rc.hold
	rc.hold = nil
	rc.mu.Unlock()
	t.Cleanup(func() { close(held) })
	if n := len(rc.byEvent()); n != 0 {
		t.Fatalf("%d events accepted before the kill; the receiver should have held them", n)
	}

	startWharf(t, dir, webhookEnv...)
	rc.awaitEvents(5, 20*time.Second)
	counts := rc.byEvent()
	if len(counts) != 5 {
		t.Fatalf("events delivered after the restart: %v", counts)
	}
	repos := map[string]bool{}
	rc.mu.Lock()
	for _, d := range rc.accepted {
		var ce struct {
			Data struct {
				Repository string `json:"repository"`
			} `json:"data"`
		}
		if d.kind != "artifact.pushed" || json.Unmarshal(d.body, &ce) != nil {
			t.Errorf("delivery %+v", d)
		}
		repos[ce.Data.Repository] = true
	}
	rc.mu.Unlock()
	for i := range 5 {
		if !repos[fmt.Sprintf("kill/app%d", i)] {
			t.Errorf("the push into kill/app%d was not delivered: %v", i, repos)
		}
	}
}

// TestWebhookClusterOnce runs three replicas on one bucket and database
// with a webhook: each event is delivered once, by one replica (the
// distribution format names it in source.addr); when that replica is
// killed another takes over and the events after it are delivered once
// too.
func TestWebhookClusterOnce(t *testing.T) {
	c := startCluster(t, 3, webhookEnv...)
	rc := newDocReceiver(t)
	createWebhook(t, c.url(0), rc, "distribution")
	push := func(round, n int, nodes ...int) {
		for i := range n {
			l := &crashLoad{base: c.url(nodes[i%len(nodes)]), all: map[digest.Digest]bool{}}
			l.pushOne(fmt.Sprintf("once/app%d", i%4), fmt.Sprintf("r%d-%d", round, i))
			if len(l.acks) != 1 {
				t.Fatalf("push %d of round %d failed", i, round)
			}
		}
	}
	sources := func() map[string]int {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		out := map[string]int{}
		for _, d := range rc.accepted {
			var env struct {
				Events []struct {
					Action string
					Source struct{ Addr string }
				}
			}
			if json.Unmarshal(d.body, &env) != nil || len(env.Events) != 1 || env.Events[0].Action != "push" {
				t.Errorf("envelope %s", d.body)
				continue
			}
			out[env.Events[0].Source.Addr]++
		}
		return out
	}
	once := func(n int) {
		t.Helper()
		rc.awaitEvents(n, 30*time.Second)
		time.Sleep(time.Second) // a second delivery would come by now
		counts := rc.byEvent()
		if len(counts) != n {
			t.Fatalf("%d distinct events delivered, want %d", len(counts), n)
		}
		for id, k := range counts {
			if k != 1 {
				t.Errorf("event %s delivered %d times", id, k)
			}
		}
	}
	push(1, 12, 0, 1, 2)
	once(12)
	first := sources()
	if len(first) != 1 {
		t.Fatalf("deliveries came from %v; want one replica", first)
	}
	var holder string
	for addr := range first {
		holder = addr
	}
	killed := -1
	for i, n := range c.nodes {
		if strings.HasSuffix(holder, ":"+portOf(n.addr)) {
			killed = i
			n.kill()
		}
	}
	if killed < 0 {
		t.Fatalf("no replica listens where %s says", holder)
	}
	var alive []int
	for i := range c.nodes {
		if i != killed {
			alive = append(alive, i)
		}
	}
	push(2, 12, alive...)
	once(24)
	after := sources()
	if len(after) != 2 || after[holder] != 12 {
		t.Errorf("deliveries by replica: %v; want %s's 12, then another's 12", after, holder)
	}
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }
