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
	// MaxFailures failures of one user name from one client address within
	// Window lock that user out from that address. Default 10.
	MaxFailures int
	// MaxUserFailures failures of one user name from any addresses within
	// Window lock that user out everywhere: a guess spread over many
	// addresses. Default three times MaxFailures, so one client with a
	// stale password locks out only itself.
	MaxUserFailures int
	// MaxAddressFailures failures from one client address for any user
	// names within Window lock that address out for everyone: one client
	// trying many names. Default ten times MaxFailures, since many people
	// and CI runners may share an address behind a NAT.
	MaxAddressFailures int
	// Window is how long failures are counted together. Default 5m.
	Window time.Duration
	// Backoff is the first lockout; each further one doubles it, up to
	// MaxBackoff. Defaults 1m and 30m.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// MaxKeys bounds the counters remembered. Default 100,000: a few tens
	// of megabytes at most, however many names or addresses an attacker
	// tries.
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
	if o.MaxUserFailures == 0 {
		o.MaxUserFailures = 3 * o.MaxFailures
	}
	if o.MaxAddressFailures == 0 {
		o.MaxAddressFailures = 10 * o.MaxFailures
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = 100_000
	}
	def(&o.Window, 5*time.Minute)
	def(&o.Backoff, time.Minute)
	def(&o.MaxBackoff, 30*time.Minute)
	switch {
	case o.MaxFailures < 0, o.MaxUserFailures < 0, o.MaxAddressFailures < 0, o.MaxKeys < 0, o.Window < 0, o.Backoff < 0:
		return fmt.Errorf("limiter: negative option in %+v", *o)
	case o.MaxBackoff < o.Backoff:
		return fmt.Errorf("limiter: max backoff %v is shorter than backoff %v", o.MaxBackoff, o.Backoff)
	}
	return nil
}

// Limiter slows down password guessing. It counts failed logins three
// ways: per user name and client address, per user name, and per client
// address, each with its own ceiling (see [LimiterOptions]). The caller
// asks [Limiter.Allow] before checking a password and reports the outcome
// with [Limiter.Fail] or [Limiter.Succeed]. Ceiling failures within Window
// lock a counter out for Backoff, doubling with every further lockout up
// to MaxBackoff; a counter is forgotten once it has had no failure for
// Window+MaxBackoff.
//
// So ten wrong passwords for one user lock out that user from that
// address, not everyone behind the address (a NAT, a CI runner pool), and
// not that user on other machines; a guess spread over many addresses
// still locks the user, and one address trying many names locks itself.
//
// Memory is bounded by MaxKeys: when full, the counter least recently seen
// is dropped. A locked counter that is still being tried stays recent, so
// flooding the limiter with other names does not free it. It is safe for
// concurrent use, and takes the time as an argument so tests need no clock.
type Limiter struct {
	opts LimiterOptions

	mu   sync.Mutex
	keys map[string]*list.Element // of *limitEntry
	lru  list.List                // front: least recently seen
}

type limitEntry struct {
	key         string
	max         int       // failures within the window that lock it
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

// LockScope says which counter locked a login out.
type LockScope string

// The counters of a [Limiter].
const (
	LockUserAddress LockScope = "user and address" // this user from this address
	LockUser        LockScope = "user"             // this user, from anywhere
	LockAddress     LockScope = "address"          // anyone from this address
)

// Lockout is a refusal by the [Limiter]: which counter refused, and how
// long until it allows again (for a Retry-After header).
type Lockout struct {
	Scope      LockScope
	RetryAfter time.Duration
}

// counter is one of the three counts a login attempt touches.
type counter struct {
	key   string
	scope LockScope
	max   int
}

// counters returns the counters of a login by user from addr. An empty
// user (a refresh token, which names none) counts against the address
// alone; an unknown address counts as one address of its own.
func (l *Limiter) counters(user string, addr netip.Addr) []counter {
	a := addrPart(addr)
	out := make([]counter, 0, 3)
	if user != "" {
		out = append(out,
			counter{"pair:" + a + " " + user, LockUserAddress, l.opts.MaxFailures},
			counter{"user:" + user, LockUser, l.opts.MaxUserFailures})
	}
	return append(out, counter{"addr:" + a, LockAddress, l.opts.MaxAddressFailures})
}

// Allow reports whether user may try to authenticate from addr at now and,
// if not, which counter refused and for how long. Pass an empty user for a
// login that names none.
func (l *Limiter) Allow(user string, addr netip.Addr, now time.Time) (Lockout, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	var out Lockout
	for _, c := range l.counters(user, addr) {
		el := l.keys[c.key]
		if el == nil {
			continue
		}
		l.lru.MoveToBack(el)
		e := el.Value.(*limitEntry)
		if wait := e.lockedUntil.Sub(now); wait > out.RetryAfter {
			out = Lockout{Scope: c.scope, RetryAfter: wait}
		}
	}
	return out, out.RetryAfter <= 0
}

// Fail records a failed attempt by user from addr at now.
func (l *Limiter) Fail(user string, addr netip.Addr, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	for _, c := range l.counters(user, addr) {
		l.fail(c, now)
	}
}

func (l *Limiter) fail(c counter, now time.Time) {
	el := l.keys[c.key]
	if el == nil {
		for l.lru.Len() >= l.opts.MaxKeys && l.lru.Len() > 0 {
			l.remove(l.lru.Front())
		}
		el = l.lru.PushBack(&limitEntry{key: c.key, max: c.max})
		l.keys[c.key] = el
	}
	l.lru.MoveToBack(el)
	e := el.Value.(*limitEntry)
	if l.stale(e, now) {
		*e = limitEntry{key: c.key, max: c.max} // quiet long enough: earlier lockouts no longer count
	}
	e.lastFailure = now
	if now.Before(e.lockedUntil) {
		return // the caller should not have tried; the lockout stands
	}
	if e.windowStart.IsZero() || now.Sub(e.windowStart) >= l.opts.Window {
		e.windowStart, e.failures = now, 0
	}
	e.failures++
	if e.failures >= e.max {
		e.lockedUntil = now.Add(l.backoff(e.lockouts))
		e.lockouts++
		e.windowStart, e.failures = time.Time{}, 0
	}
}

// Succeed forgets the failures of user, from addr and from everywhere,
// after a successful login. The address's count stays: for an address
// shared by many (a NAT, a CI runner pool), one good login must not wipe
// out another client's failures.
func (l *Limiter) Succeed(user string, addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.counters(user, addr) {
		if c.scope == LockAddress {
			continue
		}
		if el := l.keys[c.key]; el != nil {
			l.remove(el)
		}
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

// addrPart is how a client address is counted. An IPv6 client usually
// holds a whole /64, so it counts as the /64; an IPv4-mapped address counts
// as the IPv4 address; no address counts as "unknown".
func addrPart(addr netip.Addr) string {
	if !addr.IsValid() {
		return "unknown"
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}
