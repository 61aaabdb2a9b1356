package access

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/wharf-dev/wharf/internal/auth"
)

// Clients that use Basic authentication on /v2 send the password with every
// request, and bcrypt costs about a quarter of a second. passwordCache
// remembers, for passwordTTL, that a password matched a stored hash, so the
// next request with it skips bcrypt. The entry is keyed by a SHA-256 of user
// and password and holds the hash it was checked against: a password change
// (a new hash) invalidates it, and the user is still read from the store on
// every request, so disabling an account takes effect at once. Concurrent
// checks of one user and password (a CI job's parallel pulls as its entry
// lapses) share one bcrypt comparison through flight.
const (
	passwordTTL        = 5 * time.Minute
	maxPasswordEntries = 10_000
)

type passwordCache struct {
	mu     sync.Mutex
	m      map[string]passwordEntry
	flight singleflight.Group
}

type passwordEntry struct {
	hash string
	at   time.Time
}

func (c *passwordCache) init() { c.m = map[string]passwordEntry{} }

func passwordKey(user, password string) string { return auth.HashSecret(user + "\x00" + password) }

func (c *passwordCache) verified(user, password, hash string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[passwordKey(user, password)]
	return ok && e.hash == hash && now.Sub(e.at) < passwordTTL && !now.Before(e.at)
}

// check compares password with hash through compare, one comparison at a
// time per user, password and hash however many callers ask at once, and
// remembers a match.
func (c *passwordCache) check(user, password, hash string, now time.Time, compare func(hash, password string) error) error {
	_, err, _ := c.flight.Do(passwordKey(user, password)+"\x00"+hash, func() (any, error) {
		if err := compare(hash, password); err != nil {
			return nil, err
		}
		c.remember(user, password, hash, now)
		return nil, nil
	})
	return err
}

func (c *passwordCache) remember(user, password, hash string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxPasswordEntries {
		clear(c.m) // crude, but bounded; the cost is one bcrypt per active user
	}
	c.m[passwordKey(user, password)] = passwordEntry{hash: hash, at: now}
}

// touchEvery is how often a token's last-used time is written: the time is
// for people deciding whether a token is still in use, and a write per pull
// would make every pull a write.
const (
	touchEvery      = time.Minute
	maxTouchEntries = 10_000
)

// touchCoalescer writes a token's last-used time at most once per
// touchEvery per process.
type touchCoalescer struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (t *touchCoalescer) init() { t.last = map[string]time.Time{} }

// touch records that token id was used at now, unless it did so less than
// touchEvery ago. It reports whether it wrote. A failed write is logged and
// otherwise ignored: it must not fail the request that used the token.
func (t *touchCoalescer) touch(ctx context.Context, s *Service, id string, now time.Time) bool {
	t.mu.Lock()
	if last, ok := t.last[id]; ok && now.Sub(last) < touchEvery && !now.Before(last) {
		t.mu.Unlock()
		return false
	}
	if len(t.last) >= maxTouchEntries {
		clear(t.last)
	}
	t.last[id] = now
	t.mu.Unlock()
	if err := s.store.TouchToken(context.WithoutCancel(ctx), id, now.UTC()); err != nil {
		s.log.DebugContext(ctx, "recording token use failed", "token", id, "err", err)
	}
	return true
}
