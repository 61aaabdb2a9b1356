package auth

import (
	"container/list"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// LimiterOptions configure a [Limiter]. Zero fields take the defaults.
type LimiterOptions struct {
	// MaxFailures failures within Window lock a key out. Default 10.
	MaxFailures int
	// Window is how long failures are counted together. Default 5m.
	Window time.Duration
	// Backoff is the first lockout; each further one doubles it, up to
	// MaxBackoff. Defaults 1m and 30m.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// MaxKeys bounds the keys remembered. Default 100,000: a few tens of
	// megabytes at most, however many names or addresses an attacker tries.
	MaxKeys int
}

func (o *LimiterOptions) setDefaults() error {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if o.MaxFailures == 0 {
		o.MaxFailures = 10
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = 100_000
	}
	def(&o.Window, 5*time.Minute)
	def(&o.Backoff, time.Minute)
	def(&o.MaxBackoff, 30*time.Minute)
	switch {
	case o.MaxFailures < 0, o.MaxKeys < 0, o.Window < 0, o.Backoff < 0:
		return fmt.Errorf("limiter: negative option in %+v", *o)
	case o.MaxBackoff < o.Backoff:
		return fmt.Errorf("limiter: max backoff %v is shorter than backoff %v", o.MaxBackoff, o.Backoff)
	}
	return nil
}

// Limiter slows down password guessing. The caller keys it by user name and
// by client address ([UserKey], [AddrKey]), asks [Limiter.Allow] before
// checking a password, and reports the outcome with [Limiter.Fail] or
// [Limiter.Succeed]. MaxFailures failures within Window lock the key out for
// Backoff, doubling with every further lockout up to MaxBackoff; a key is
// forgotten once it has had no failure for Window+MaxBackoff.
//
// Memory is bounded by MaxKeys: when full, the key least recently seen is
// dropped. A locked key that is still being tried stays recent, so flooding
// the limiter with other names does not free it. It is safe for concurrent
// use, and takes the time as an argument so tests need no clock.
type Limiter struct {
	opts LimiterOptions

	mu   sync.Mutex
	keys map[string]*list.Element // of *limitEntry
	lru  list.List                // front: least recently seen
}

type limitEntry struct {
	key         string
	failures    int       // in the window that started at windowStart
	windowStart time.Time // zero: no window open
	lastFailure time.Time
	lockedUntil time.Time
	lockouts    int
}

// NewLimiter returns a Limiter with opts, defaults filled in.
func NewLimiter(opts LimiterOptions) (*Limiter, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	return &Limiter{opts: opts, keys: map[string]*list.Element{}}, nil
}

// Allow reports whether key may try to authenticate at now and, if not,
// how long until it may (for a Retry-After header).
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	el := l.keys[key]
	if el == nil {
		return true, 0
	}
	l.lru.MoveToBack(el)
	e := el.Value.(*limitEntry)
	if now.Before(e.lockedUntil) {
		return false, e.lockedUntil.Sub(now)
	}
	return true, 0
}

// Fail records a failed attempt by key at now.
func (l *Limiter) Fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	el := l.keys[key]
	if el == nil {
		for l.lru.Len() >= l.opts.MaxKeys && l.lru.Len() > 0 {
			l.remove(l.lru.Front())
		}
		el = l.lru.PushBack(&limitEntry{key: key})
		l.keys[key] = el
	}
	l.lru.MoveToBack(el)
	e := el.Value.(*limitEntry)
	if l.stale(e, now) {
		*e = limitEntry{key: key} // quiet long enough: earlier lockouts no longer count
	}
	e.lastFailure = now
	if now.Before(e.lockedUntil) {
		return // the caller should not have tried; the lockout stands
	}
	if e.windowStart.IsZero() || now.Sub(e.windowStart) >= l.opts.Window {
		e.windowStart, e.failures = now, 0
	}
	e.failures++
	if e.failures >= l.opts.MaxFailures {
		e.lockedUntil = now.Add(l.backoff(e.lockouts))
		e.lockouts++
		e.windowStart, e.failures = time.Time{}, 0
	}
}

// Succeed forgets key's failures, after a successful authentication.
// Call it for the user key; for an address shared by many (a NAT, a CI
// runner pool) leaving the address's count alone keeps one good login from
// wiping out another client's failures.
func (l *Limiter) Succeed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el := l.keys[key]; el != nil {
		l.remove(el)
	}
}

// Len returns how many keys the limiter remembers.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// backoff returns the lockout after n earlier lockouts.
func (l *Limiter) backoff(n int) time.Duration {
	d := l.opts.Backoff
	for ; n > 0 && d < l.opts.MaxBackoff; n-- {
		d *= 2
	}
	return min(d, l.opts.MaxBackoff)
}

// prune drops keys from the least recently seen end while they have gone
// quiet long enough to be forgotten. Each key is dropped at most once, so
// the cost is paid for by the calls that added them.
func (l *Limiter) prune(now time.Time) {
	for el := l.lru.Front(); el != nil && l.stale(el.Value.(*limitEntry), now); el = l.lru.Front() {
		l.remove(el)
	}
}

// stale reports whether e has had no failure for Window+MaxBackoff. Its
// lockout, at most MaxBackoff from its last failure, is over by then.
func (l *Limiter) stale(e *limitEntry, now time.Time) bool {
	return now.Sub(e.lastFailure) >= l.opts.Window+l.opts.MaxBackoff
}

func (l *Limiter) remove(el *list.Element) {
	delete(l.keys, el.Value.(*limitEntry).key)
	l.lru.Remove(el)
}

// UserKey is the limiter key of a user name.
func UserKey(name string) string { return "user:" + name }

// AddrKey is the limiter key of a client address. An IPv6 client usually
// holds a whole /64, so its key is the /64; an IPv4-mapped address counts
// as the IPv4 address.
func AddrKey(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + addr.String()
}
