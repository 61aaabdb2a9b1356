package auth

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func mustLimiter(t *testing.T, o LimiterOptions) *Limiter {
	t.Helper()
	l, err := NewLimiter(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func checkAllow(t *testing.T, l *Limiter, key string, now time.Time, wantOK bool, wantRetry time.Duration) {
	t.Helper()
	ok, retry := l.Allow(key, now)
	if ok != wantOK || retry != wantRetry {
		t.Fatalf("Allow(%q, +%v) = %v, %v; want %v, %v", key, now.Sub(t0), ok, retry, wantOK, wantRetry)
	}
}

func TestLimiterLockout(t *testing.T) {
	l := mustLimiter(t, LimiterOptions{MaxFailures: 3, Window: time.Minute, Backoff: 10 * time.Second, MaxBackoff: 35 * time.Second})
	const k = "user:alice"
	now := t0
	checkAllow(t, l, k, now, true, 0)
	l.Fail(k, now)
	l.Fail(k, now.Add(time.Second))
	checkAllow(t, l, k, now.Add(2*time.Second), true, 0)
	l.Fail(k, now.Add(2*time.Second)) // third within the window: locked for 10s
	checkAllow(t, l, k, now.Add(2*time.Second), false, 10*time.Second)
	checkAllow(t, l, k, now.Add(11*time.Second), false, time.Second)
	checkAllow(t, l, "user:bob", now.Add(3*time.Second), true, 0)
	checkAllow(t, l, k, now.Add(12*time.Second), true, 0)

	// A failure while locked does not extend or count.
	l.Fail(k, now.Add(5*time.Second))
	checkAllow(t, l, k, now.Add(11*time.Second), false, time.Second)

	// The second lockout is twice as long, the third capped at MaxBackoff.
	now = now.Add(12 * time.Second)
	for range 3 {
		l.Fail(k, now)
	}
	checkAllow(t, l, k, now, false, 20*time.Second)
	now = now.Add(20 * time.Second)
	for range 3 {
		l.Fail(k, now)
	}
	checkAllow(t, l, k, now, false, 35*time.Second)
	now = now.Add(35 * time.Second)
	for range 3 {
		l.Fail(k, now)
	}
	checkAllow(t, l, k, now, false, 35*time.Second)

	// Success forgets everything, lockout history included.
	l.Succeed(k)
	checkAllow(t, l, k, now, true, 0)
	for range 3 {
		l.Fail(k, now)
	}
	checkAllow(t, l, k, now, false, 10*time.Second)
}

func TestLimiterWindow(t *testing.T) {
	l := mustLimiter(t, LimiterOptions{MaxFailures: 3, Window: time.Minute, Backoff: time.Minute, MaxBackoff: time.Hour})
	const k = "addr:192.0.2.1"
	l.Fail(k, t0)
	l.Fail(k, t0.Add(30*time.Second))
	l.Fail(k, t0.Add(time.Minute)) // the window opened at t0 has closed: this starts a new one
	checkAllow(t, l, k, t0.Add(time.Minute), true, 0)
	l.Fail(k, t0.Add(90*time.Second))
	l.Fail(k, t0.Add(100*time.Second))
	checkAllow(t, l, k, t0.Add(100*time.Second), false, time.Minute)
}

func TestLimiterForgetsQuietKeys(t *testing.T) {
	o := LimiterOptions{MaxFailures: 2, Window: time.Minute, Backoff: time.Minute, MaxBackoff: 4 * time.Minute}
	l := mustLimiter(t, o)
	l.Fail("a", t0)
	l.Fail("a", t0) // locked 1m, lockouts=1
	l.Fail("b", t0.Add(time.Minute))
	if l.Len() != 2 {
		t.Fatalf("Len = %d", l.Len())
	}
	forget := o.Window + o.MaxBackoff
	checkAllow(t, l, "c", t0.Add(forget-time.Nanosecond), true, 0)
	if l.Len() != 2 {
		t.Fatalf("forgot a key too early: Len = %d", l.Len())
	}
	checkAllow(t, l, "c", t0.Add(forget), true, 0)
	if l.Len() != 1 {
		t.Fatalf("quiet key kept: Len = %d", l.Len())
	}
	// Back after the quiet period, "a" starts again at the first backoff.
	now := t0.Add(forget)
	l.Fail("a", now)
	l.Fail("a", now)
	checkAllow(t, l, "a", now, false, time.Minute)
}

func TestLimiterStaleEntryNotAtFront(t *testing.T) {
	o := LimiterOptions{MaxFailures: 2, Window: time.Minute, Backoff: time.Minute, MaxBackoff: 4 * time.Minute}
	l := mustLimiter(t, o)
	l.Fail("fresh", t0.Add(4*time.Minute))
	l.Fail("a", t0)
	l.Fail("a", t0) // locked, lockouts=1; "a" is behind "fresh" in the list
	now := t0.Add(o.Window + o.MaxBackoff)
	l.Fail("a", now)
	l.Fail("a", now)
	checkAllow(t, l, "a", now, false, time.Minute) // not 2m: the old lockout was forgotten
}

func TestLimiterMemoryBound(t *testing.T) {
	l := mustLimiter(t, LimiterOptions{MaxFailures: 2, MaxKeys: 100})
	l.Fail("victim", t0)
	l.Fail("victim", t0) // locked
	for i := range 1000 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		l.Fail(fmt.Sprintf("user:%d", i), now)
		if i%50 == 0 {
			// The attacker keeps trying the victim, which keeps it recent.
			if ok, _ := l.Allow("victim", now); ok {
				t.Fatalf("victim unlocked by flooding after %d keys", i)
			}
		}
		if l.Len() > 100 {
			t.Fatalf("Len = %d after %d keys", l.Len(), i+1)
		}
	}
	if ok, _ := l.Allow("user:0", t0.Add(time.Second)); !ok {
		t.Error("an evicted key is still locked?")
	}
	if l.Len() != 100 {
		t.Errorf("Len = %d, want 100", l.Len())
	}
}

func TestLimiterOptions(t *testing.T) {
	l := mustLimiter(t, LimiterOptions{})
	want := LimiterOptions{MaxFailures: 10, Window: 5 * time.Minute, Backoff: time.Minute, MaxBackoff: 30 * time.Minute, MaxKeys: 100_000}
	if l.opts != want {
		t.Errorf("defaults %+v, want %+v", l.opts, want)
	}
	for _, o := range []LimiterOptions{
		{MaxFailures: -1},
		{Window: -time.Second},
		{MaxKeys: -1},
		{Backoff: time.Hour, MaxBackoff: time.Minute},
	} {
		if _, err := NewLimiter(o); err == nil {
			t.Errorf("NewLimiter(%+v) accepted", o)
		}
	}
	if d := (&Limiter{opts: LimiterOptions{Backoff: time.Second, MaxBackoff: time.Hour}}).backoff(1 << 20); d != time.Hour {
		t.Errorf("backoff after many lockouts = %v", d)
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := mustLimiter(t, LimiterOptions{MaxFailures: 5, MaxKeys: 64})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Sprintf("user:%d", (g*7+i)%100)
				now := t0.Add(time.Duration(i) * time.Millisecond)
				if ok, retry := l.Allow(k, now); !ok && retry <= 0 {
					t.Errorf("refused with retry %v", retry)
					return
				}
				switch i % 4 {
				case 0, 1, 2:
					l.Fail(k, now)
				default:
					l.Succeed(k)
				}
			}
		})
	}
	wg.Wait()
	if n := l.Len(); n > 64 {
		t.Errorf("Len = %d over MaxKeys", n)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.keys) != l.lru.Len() {
		t.Errorf("map holds %d keys, list %d", len(l.keys), l.lru.Len())
	}
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "addr:192.0.2.7",
		"::ffff:192.0.2.7":     "addr:192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "addr:2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "addr:2001:db8:1:2::/64",
		"fe80::1%eth0":         "addr:fe80::/64",
		"2001:db8:1:3::1":      "addr:2001:db8:1:3::/64",
	} {
		if got := AddrKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("AddrKey(%s) = %s, want %s", in, got, want)
		}
	}
	if UserKey("alice") == AddrKey(netip.MustParseAddr("192.0.2.7")) || UserKey("alice") != "user:alice" {
		t.Error("UserKey")
	}
}
