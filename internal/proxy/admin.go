package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// Errors of the configuration of upstreams.
var (
	// ErrNoKey: a password cannot be stored or used because no
	// credentials key is configured.
	ErrNoKey = errors.New("no key to seal passwords with is configured (proxy.credentialsKeyFile)")
	// ErrInvalid: the configuration is refused; the error says why.
	ErrInvalid = errors.New("invalid upstream")
	// ErrNotProxy: no namespace of kind proxy has that name.
	ErrNotProxy = errors.New("no such proxy namespace")
)

// DefaultTagCheckInterval is how long a tag fetched from an upstream is
// served before the upstream is asked (with one HEAD request) whether it
// moved. Ten minutes keeps a busy fleet to six requests an hour per tag,
// far below any registry's limits, while a tag moved upstream is seen
// within the quarter hour.
const DefaultTagCheckInterval = 10 * time.Minute

// Config is a proxy namespace's upstream as an administrator sets it.
type Config struct {
	// URL is the upstream registry's base URL, http(s)://host[:port].
	// "docker.io" (with or without https://) stands for Docker Hub.
	URL string
	// Username and Password are the credentials to pull from the upstream
	// with; both empty for anonymous pulls. A nil Password keeps the
	// stored one (when Username does not change).
	Username string
	Password *string
	// TagCheckInterval: see [meta.Upstream]; nil means
	// DefaultTagCheckInterval, and 0 checks at every pull.
	TagCheckInterval *time.Duration
	AllowPush        bool
	Default          bool
}

// Status is an upstream's configuration as it may be shown: the password
// never is, only whether there is one.
type Status struct {
	Namespace        string
	URL              string
	Username         string
	HasPassword      bool
	TagCheckInterval time.Duration
	AllowPush        bool
	Default          bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// Health is what this process knows of the upstream right now.
	Health Health
}

// Health is an upstream's health as this process sees it.
type Health struct {
	// Available is false while the upstream is left alone after failing.
	Available bool
	// Since is when it began failing; zero when available.
	Since time.Time
	// Error is its last failure, while unavailable.
	Error string
	// Problem says why the upstream cannot be used at all (credentials
	// that do not open, for one); empty when it can.
	Problem string
}

// sealedFor is what a proxy namespace's sealed password is bound to, so
// that it opens for that namespace's upstream only.
func sealedFor(ns string) string { return "upstream of namespace " + ns }

// normalizeURL checks an upstream URL and returns its canonical form.
func normalizeURL(raw string) (string, error) {
	s := strings.TrimRight(strings.TrimSpace(raw), "/")
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err == nil && u.User != nil {
		// Said without the password: errors are echoed.
		return "", fmt.Errorf("%w: url %q holds credentials: give them as username and password, which are sealed and never shown", ErrInvalid, u.Redacted())
	}
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("%w: url %q: want http(s)://host[:port], without a path or credentials", ErrInvalid, raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%w: url %q: port %s is not a port (1 to 65535)", ErrInvalid, raw, p)
		}
	}
	if isDockerHub(strings.ToLower(u.Host)) {
		u.Host, u.Scheme = "registry-1.docker.io", "https"
	}
	return u.Scheme + "://" + u.Host, nil
}

// Validate checks cfg on its own, naming each field at fault.
func (cfg Config) Validate() error {
	var errs []error
	if _, err := normalizeURL(cfg.URL); err != nil {
		errs = append(errs, err)
	}
	if cfg.Password != nil && *cfg.Password != "" && cfg.Username == "" {
		errs = append(errs, fmt.Errorf("%w: password without a username", ErrInvalid))
	}
	if cfg.TagCheckInterval != nil && *cfg.TagCheckInterval < 0 {
		errs = append(errs, fmt.Errorf("%w: tagCheckInterval must not be negative, got %s", ErrInvalid, *cfg.TagCheckInterval))
	}
	return errors.Join(errs...)
}

// Check checks cfg as SetUpstream would before storing it: on its own,
// and whether its password can be sealed.
func (c *Cache) Check(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Password != nil && *cfg.Password != "" && c.opts.Sealer == nil {
		return fmt.Errorf("%w: an upstream password cannot be stored: %w", ErrInvalid, ErrNoKey)
	}
	return nil
}

// SetUpstream sets the upstream of proxy namespace ns, sealing its
// password, and takes it into use at once in this process (others see it
// at their next reload).
func (c *Cache) SetUpstream(ctx context.Context, ns string, cfg Config) (Status, error) {
	if err := c.Check(cfg); err != nil {
		return Status{}, err
	}
	u := meta.Upstream{Namespace: ns, Username: cfg.Username, AllowPush: cfg.AllowPush, Default: cfg.Default,
		TagCheckInterval: DefaultTagCheckInterval, UpdatedAt: time.Now().UTC()}
	u.URL, _ = normalizeURL(cfg.URL)
	if cfg.TagCheckInterval != nil {
		u.TagCheckInterval = *cfg.TagCheckInterval
	}
	change := events.ChangeUpdated
	prev, err := c.opts.Meta.Upstream(ctx, ns)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		change = events.ChangeCreated
	case err != nil:
		return Status{}, fmt.Errorf("read upstream of %s: %w", ns, err)
	default:
		u.CreatedAt = prev.CreatedAt
	}
	switch {
	case cfg.Password != nil && *cfg.Password != "":
		if u.Secret, err = c.opts.Sealer.Seal(sealedFor(ns), *cfg.Password); err != nil {
			return Status{}, err
		}
	case cfg.Password == nil && prev.Username == cfg.Username && cfg.Username != "":
		u.Secret = prev.Secret
	}
	e := events.New(ctx, "", &events.PolicyChanged{Policy: events.PolicyUpstream, Change: change, Scope: ns, Rule: describe(u)}).InNamespace(ns)
	err = c.opts.Meta.Update(ctx, func(tx meta.Tx) error {
		if err := tx.PutUpstream(ctx, u); err != nil {
			return err
		}
		return events.Append(ctx, tx, e)
	})
	if errors.Is(err, meta.ErrNotFound) {
		return Status{}, fmt.Errorf("%w: %s", ErrNotProxy, ns)
	}
	if err != nil {
		return Status{}, fmt.Errorf("store upstream of %s: %w", ns, err)
	}
	if err := c.Reload(ctx); err != nil {
		return Status{}, err
	}
	return c.Upstream(ctx, ns)
}

// describe is what the event of a change of upstream u says of it: never
// the password, only whether one is stored.
func describe(u meta.Upstream) string {
	s := "url=" + u.URL
	if u.Username != "" {
		s += ", username=" + u.Username
	}
	if u.Secret != nil {
		s += ", password set"
	}
	return s + fmt.Sprintf(", tagCheckInterval=%s, allowPush=%t, default=%t", u.TagCheckInterval, u.AllowPush, u.Default)
}

// Upstream returns the upstream of proxy namespace ns.
func (c *Cache) Upstream(ctx context.Context, ns string) (Status, error) {
	u, err := c.opts.Meta.Upstream(ctx, ns)
	if errors.Is(err, meta.ErrNotFound) {
		return Status{}, fmt.Errorf("%w: %s", ErrNotProxy, ns)
	}
	if err != nil {
		return Status{}, fmt.Errorf("read upstream of %s: %w", ns, err)
	}
	return c.status(u), nil
}

// Upstreams lists the upstreams of every proxy namespace.
func (c *Cache) Upstreams(ctx context.Context) ([]Status, error) {
	ups, err := c.opts.Meta.Upstreams(ctx)
	if err != nil {
		return nil, fmt.Errorf("read upstreams: %w", err)
	}
	out := make([]Status, 0, len(ups))
	for _, u := range ups {
		out = append(out, c.status(u))
	}
	return out, nil
}

func (c *Cache) status(u meta.Upstream) Status {
	s := Status{Namespace: u.Namespace, URL: u.URL, Username: u.Username, HasPassword: len(u.Secret) > 0,
		TagCheckInterval: u.TagCheckInterval, AllowPush: u.AllowPush, Default: u.Default,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, Health: Health{Available: true}}
	m := c.mirrorOf(u.Namespace)
	if m == nil || !m.cfg.UpdatedAt.Equal(u.UpdatedAt) {
		return s // not loaded here yet
	}
	if m.clientErr != nil {
		s.Health.Problem = m.clientErr.Error()
	}
	m.health.mu.Lock()
	if resting := time.Now().Before(m.health.until); resting || !m.health.since.IsZero() {
		s.Health.Available = !resting
		s.Health.Since = m.health.since
		if m.health.last != nil {
			s.Health.Error = m.health.last.Error()
		}
	}
	m.health.mu.Unlock()
	return s
}
