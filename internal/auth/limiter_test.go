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

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
	addrC = netip.MustParseAddr("192.0.2.3")
	addrD = netip.MustParseAddr("192.0.2.4")
)

func checkAllow(t *testing.T, l *Limiter, user string, addr netip.Addr, now time.Time, wantOK bool, wantRetry time.Duration) {
	t.Helper()
	lo, ok := l.Allow(user, addr, now)
	if ok != wantOK || lo.RetryAfter != wantRetry {
		t.Fatalf("Allow(%q, %s, +%v) = %+v, %v; want %v, %v", user, addr, now.Sub(t0), lo, ok, wantOK, wantRetry)
	}
}

func checkScope(t *testing.T, l *Limiter, user string, addr netip.Addr, now time.Time, want LockScope) {
	t.Helper()
	lo, ok := l.Allow(user, addr, now)
	if want == "" && !ok || want != "" && (ok || lo.Scope != want) {
		t.Fatalf("Allow(%q, %s) = %+v, %v; want locked by %q", user, addr, lo, ok, want)
	}
}

// fail records n failures of user from addr at now.
func fail(l *Limiter, user string, addr netip.Addr, now time.Time, n int) {
	for range n {
		l.Fail(user, addr, now)
	}
}

// Ten wrong passwords for one user lock out that user from that address
// only: not another user behind the same address (a NAT, a CI runner
// pool), not the same user elsewhere. A guess spread over addresses locks
// the user everywhere at a higher count; one address trying many names
// locks the address at a much higher one. Before the limiter counted pairs,
// alice's ten failures locked out bob at the same address.
func TestLimiterCountsPairsUsersAndAddresses(t *testing.T) {
	l := mustLimiter(t, LimiterOptions{}) // 10, 30, 100
	now := t0
	fail(l, "alice", addrA, now, 9)
	checkScope(t, l, "alice", addrA, now, "")
	l.Fail("alice", addrA, now)
	checkScope(t, l, "alice", addrA, now, LockUserAddress)
	checkScope(t, l, "bob", addrA, now, "")
	checkScope(t, l, "alice", addrB, now, "")

	fail(l, "alice", addrB, now, 10)
	checkScope(t, l, "alice", addrB, now, LockUserAddress)
	checkScope(t, l, "alice", addrC, now, "")
	fail(l, "alice", addrC, now, 10) // thirty for alice
	checkScope(t, l, "alice", addrD, now, LockUser)
	checkScope(t, l, "bob", addrD, now, "")

	// 100 failures from one address over many names lock the address.
	l = mustLimiter(t, LimiterOptions{})
	for i := range 99 {
		l.Fail(fmt.Sprintf("user%d", i), addrA, now)
	}
	checkScope(t, l, "newcomer", addrA, now, "")
	l.Fail("user99", addrA, now)
	checkScope(t, l, "newcomer", addrA, now, LockAddress)
	checkScope(t, l, "newcomer", addrB, now, "")
}

// A good login clears the user's counts, from that address and overall,
// but not the address's, which others share.
func TestLimiterSucceed(t *testing.T) {
	l := mustLimiter(t, LimiterOptions{MaxFailures: 3, MaxUserFailures: 5, MaxAddressFailures: 8})
	now := t0
	fail(l, "alice", addrA, now, 2)
	fail(l, "alice", addrB, now, 2)
	l.Succeed("alice", addrA)
	fail(l, "alice", addrA, now, 2) // 2 of 3 from A, and 2 of 5 overall: the earlier ones are gone
	checkScope(t, l, "alice", addrA, now, "")
	// B's pair count survives A's success: one more failure from B locks it.
	l.Fail("alice", addrB, now)
	checkScope(t, l, "alice", addrB, now, LockUserAddress)
	// A's address count kept all four of alice's failures there: four more
	// names lock it.
	fail(l, "bob", addrA, now, 2)
	fail(l, "carol", addrA, now, 2)
	checkScope(t, l, "dave", addrA, now, LockAddress)
}

// A login that names no user (a refresh token) counts against its address
// alone; no address counts as one address of its own.
func TestLimiterNoUserNoAddress(t *testing.T) {
	l := mustLimiter(t, LimiterOptions{MaxFailures: 2, MaxUserFailures: 4, MaxAddressFailures: 3})
	fail(l, "", addrA, t0, 3)
	checkScope(t, l, "", addrA, t0, LockAddress)
	checkScope(t, l, "alice", addrA, t0, LockAddress)
	if l.Len() != 1 {
		t.Errorf("Len = %d; a login without a user made user counters", l.Len())
	}
	fail(l, "alice", netip.Addr{}, t0, 2)
	checkScope(t, l, "alice", netip.Addr{}, t0, LockUserAddress)
	checkScope(t, l, "alice", addrB, t0, "")
}

func TestLimiterLockout(t *testing.T) {
	l := mustLimiter(t, LimiterOptions{MaxFailures: 3, MaxUserFailures: 1000, MaxAddressFailures: 1000, Window: time.Minute, Backoff: 10 * time.Second, MaxBackoff: 35 * time.Second})
	const u = "alice"
	now := t0
	checkAllow(t, l, u, addrA, now, true, 0)
	l.Fail(u, addrA, now)
	l.Fail(u, addrA, now.Add(time.Second))
	checkAllow(t, l, u, addrA, now.Add(2*time.Second), true, 0)
	l.Fail(u, addrA, now.Add(2*time.Second)) // third within the window: locked for 10s
	checkAllow(t, l, u, addrA, now.Add(2*time.Second), false, 10*time.Second)
	checkAllow(t, l, u, addrA, now.Add(11*time.Second), false, time.Second)
	checkAllow(t, l, "bob", addrA, now.Add(3*time.Second), true, 0)
	checkAllow(t, l, u, addrA, now.Add(12*time.Second), true, 0)

	// A failure while locked does not extend or count.
	l.Fail(u, addrA, now.Add(5*time.Second))
	checkAllow(t, l, u, addrA, now.Add(11*time.Second), false, time.Second)

	// The second lockout is twice as long, the third capped at MaxBackoff.
	now = now.Add(12 * time.Second)
	fail(l, u, addrA, now, 3)
	checkAllow(t, l, u, addrA, now, false, 20*time.Second)
	now = now.Add(20 * time.Second)
	fail(l, u, addrA, now, 3)
	checkAllow(t, l, u, addrA, now, false, 35*time.Second)
	now = now.Add(35 * time.Second)
	fail(l, u, addrA, now, 3)
	checkAllow(t, l, u, addrA, now, false, 35*time.Second)

	// Success forgets everything, lockout history included.
	l.Succeed(u, addrA)
	checkAllow(t, l, u, addrA, now, true, 0)
	fail(l, u, addrA, now, 3)
	checkAllow(t, l, u, addrA, now, false, 10*time.Second)
}

func TestLimiterWindow(t *testing.T) {
	l := mustLimiter(t, LimiterOptions{MaxFailures: 1000, MaxUserFailures: 1000, MaxAddressFailures: 3, Window: time.Minute, Backoff: time.Minute, MaxBackoff: time.Hour})
	l.Fail("", addrA, t0)
	l.Fail("", addrA, t0.Add(30*time.Second))
	l.Fail("", addrA, t0.Add(time.Minute)) // the window opened at t0 has closed: this starts a new one
	checkAllow(t, l, "", addrA, t0.Add(time.Minute), true, 0)
	l.Fail("", addrA, t0.Add(90*time.Second))
	l.Fail("", addrA, t0.Add(100*time.Second))
	checkAllow(t, l, "", addrA, t0.Add(100*time.Second), false, time.Minute)
}

func TestLimiterForgetsQuietKeys(t *testing.T) {
	o := LimiterOptions{MaxFailures: 2, MaxUserFailures: 2, MaxAddressFailures: 2, Window: time.Minute, Backoff: time.Minute, MaxBackoff: 4 * time.Minute}
	l := mustLimiter(t, o)
	fail(l, "", addrA, t0, 2) // locked 1m, lockouts=1
	l.Fail("", addrB, t0.Add(time.Minute))
	if l.Len() != 2 {
		t.Fatalf("Len = %d", l.Len())
	}
	forget := o.Window + o.MaxBackoff
	checkAllow(t, l, "", addrC, t0.Add(forget-time.Nanosecond), true, 0)
	if l.Len() != 2 {
		t.Fatalf("forgot a key too early: Len = %d", l.Len())
	}
	checkAllow(t, l, "", addrC, t0.Add(forget), true, 0)
	if l.Len() != 1 {
		t.Fatalf("quiet key kept: Len = %d", l.Len())
	}
	// Back after the quiet period, A starts again at the first backoff.
	now := t0.Add(forget)
	fail(l, "", addrA, now, 2)
	checkAllow(t, l, "", addrA, now, false, time.Minute)
}

func TestLimiterStaleEntryNotAtFront(t *testing.T) {
	o := LimiterOptions{MaxFailures: 2, MaxUserFailures: 2, MaxAddressFailures: 2, Window: time.Minute, Backoff: time.Minute, MaxBackoff: 4 * time.Minute}
	l := mustLimiter(t, o)
	l.Fail("", addrB, t0.Add(4*time.Minute))
	fail(l, "", addrA, t0, 2) // locked, lockouts=1; A is behind B in the list
	now := t0.Add(o.Window + o.MaxBackoff)
	fail(l, "", addrA, now, 2)
	checkAllow(t, l, "", addrA, now, false, time.Minute) // not 2m: the old lockout was forgotten
}

func TestLimiterMemoryBound(t *testing.T) {
	l := mustLimiter(t, LimiterOptions{MaxFailures: 2, MaxKeys: 100})
	victim := netip.MustParseAddr("198.51.100.1")
	fail(l, "victim", victim, t0, 2) // locked
	for i := range 1000 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		l.Fail(fmt.Sprintf("user%d", i), netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), now)
		if i%20 == 0 {
			// The attacker keeps trying the victim, which keeps it recent.
			if _, ok := l.Allow("victim", victim, now); ok {
				t.Fatalf("victim unlocked by flooding after %d keys", i)
			}
		}
		if l.Len() > 100 {
			t.Fatalf("Len = %d after %d attempts", l.Len(), i+1)
		}
	}
	if l.Len() != 100 {
		t.Errorf("Len = %d, want 100", l.Len())
	}
}

func TestLimiterOptions(t *testing.T) {
	l := mustLimiter(t, LimiterOptions{})
	want := LimiterOptions{MaxFailures: 10, MaxUserFailures: 30, MaxAddressFailures: 100, Window: 5 * time.Minute, Backoff: time.Minute, MaxBackoff: 30 * time.Minute, MaxKeys: 100_000}
	if l.opts != want {
		t.Errorf("defaults %+v, want %+v", l.opts, want)
	}
	for _, o := range []LimiterOptions{
		{MaxFailures: -1},
		{MaxUserFailures: -1},
		{MaxAddressFailures: -1},
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
				u := fmt.Sprintf("user%d", (g*7+i)%100)
				a := netip.AddrFrom4([4]byte{10, 0, 0, byte(i % 7)})
				now := t0.Add(time.Duration(i) * time.Millisecond)
				if lo, ok := l.Allow(u, a, now); !ok && lo.RetryAfter <= 0 {
					t.Errorf("refused with retry %v", lo.RetryAfter)
					return
				}
				switch i % 4 {
				case 0, 1, 2:
					l.Fail(u, a, now)
				default:
					l.Succeed(u, a)
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

func TestAddrPart(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
	} {
		if got := addrPart(netip.MustParseAddr(in)); got != want {
			t.Errorf("addrPart(%s) = %s, want %s", in, got, want)
		}
	}
	if addrPart(netip.Addr{}) != "unknown" {
		t.Error("addrPart of no address")
	}
	// Two addresses of one /64 share the counters of an address.
	l := mustLimiter(t, LimiterOptions{MaxFailures: 2})
	fail(l, "alice", netip.MustParseAddr("2001:db8:1:2::1"), t0, 2)
	checkScope(t, l, "alice", netip.MustParseAddr("2001:db8:1:2::99"), t0, LockUserAddress)
}
