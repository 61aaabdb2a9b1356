package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/remote"
)

// mirror is one proxy namespace: its upstream, a client of it, and what
// this process knows of the upstream's health and tags.
type mirror struct {
	c      *Cache
	cfg    meta.Upstream
	host   string         // the upstream's host[:port]
	hub    bool           // the upstream is Docker Hub
	client *remote.Client // nil when clientErr says why
	// clientErr is why there is no client (credentials that do not open,
	// a bad URL); every fetch fails with it.
	clientErr error
	health    health
	flight    singleflight.Group // one fetch or check per manifest reference at a time

	mu   sync.Mutex
	tags map[string]*tagState // by repository + ":" + tag
	refs map[string]time.Time // by repository + "@" + digest: when referrers were last brought up to date
}

var _ registry.Mirror = (*mirror)(nil)

func (c *Cache) newMirror(u meta.Upstream) *mirror {
	m := &mirror{c: c, cfg: u, tags: map[string]*tagState{}, refs: map[string]time.Time{}}
	pu, err := url.Parse(u.URL)
	if err != nil || pu.Host == "" {
		m.host, m.clientErr = u.URL, fmt.Errorf("upstream URL %q is not valid", u.URL)
		return m
	}
	m.host = pu.Host
	m.hub = isDockerHub(pu.Host)
	password := ""
	if len(u.Secret) > 0 {
		if c.opts.Sealer == nil {
			m.clientErr = fmt.Errorf("its password cannot be opened: %w", ErrNoKey)
			return m
		}
		if password, err = c.opts.Sealer.Open(sealedFor(u.Namespace), u.Secret); err != nil {
			m.clientErr = fmt.Errorf("its password: %w", err)
			return m
		}
	}
	m.client, m.clientErr = remote.New(remote.Options{
		URL:           u.URL,
		Username:      u.Username,
		Password:      password,
		UserAgent:     c.opts.UserAgent,
		Logger:        c.log,
		MaxConcurrent: c.opts.MaxConnections,
		FailFast:      true,
	})
	return m
}

func (m *mirror) close() {
	if m.client != nil {
		m.client.CloseIdleConnections()
	}
}

// Name is the upstream's host.
func (m *mirror) Name() string { return m.host }

// AllowsPush reports whether an administrator allowed pushes here.
func (m *mirror) AllowsPush() bool { return m.cfg.AllowPush }

// upstreamRepo is the upstream's name of repo: without the namespace, and
// with Docker Hub's library/ before a name of one segment.
func (m *mirror) upstreamRepo(repo string) string {
	rest := strings.TrimPrefix(repo, m.cfg.Namespace+"/")
	if m.hub && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	return rest
}

// ready returns the client, or why there is none, as the error of a pull.
func (m *mirror) ready() (*remote.Client, error) {
	if m.client == nil {
		return nil, apierr.New(apierr.Unavailable, "namespace %s cannot reach its upstream %s: %v", m.cfg.Namespace, m.host, m.clientErr).
			WithDetail(m.detail())
	}
	return m.client, nil
}

// fetchable returns the client for a fetch of what is not cached, or the
// refusal of a pull of what (naming it): a miss has nothing else to serve,
// so it asks an upstream that failed, but not one that asked to be left
// alone for a while (429 with Retry-After).
func (m *mirror) fetchable(what string, blob bool) (*remote.Client, error) {
	client, err := m.ready()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if resting, why := m.health.resting(now); resting && errors.Is(why, remote.ErrRateLimited) {
		m.health.mu.Lock()
		wait := m.health.until.Sub(now).Round(time.Second)
		m.health.mu.Unlock()
		return nil, m.refused(what, fmt.Errorf("%w: retry after %s", why, wait), blob)
	}
	return client, nil
}

func (m *mirror) detail() map[string]string {
	return map[string]string{"namespace": m.cfg.Namespace, "upstream": m.host}
}

// refused turns a failed request to the upstream for what (a manifest
// reference, or a blob) into the error of a pull that has nothing stored
// to fall back on. The message names the upstream and says what it said.
func (m *mirror) refused(what string, err error, blob bool) error {
	var e *apierr.Error
	switch {
	case errors.As(err, &e):
		return err
	case errors.Is(err, remote.ErrNotFound):
		code := apierr.ManifestUnknown
		if blob {
			code = apierr.BlobUnknown
		}
		return apierr.New(code, "%s is not in the cache and upstream %s does not have it", what, m.host).
			WithDetail(m.detail())
	case errors.Is(err, remote.ErrRateLimited):
		ra := remote.RetryAfter(err)
		if until := m.restingUntil(); ra == 0 && until > 0 {
			ra = until
		}
		msg := fmt.Sprintf("%s is not in the cache and upstream %s is rate limiting this registry", what, m.host)
		if ra > 0 {
			msg += fmt.Sprintf(" (it asks to retry after %s)", ra)
		}
		return apierr.New(apierr.TooManyRequests, "%s", msg).WithDetail(m.detail()).WithRetryAfter(ra)
	case errors.Is(err, remote.ErrDenied):
		return apierr.New(apierr.Denied, "%s is not in the cache and upstream %s refused access to it (as some registries do for what does not exist); check namespace %s's upstream credentials",
			what, m.host, m.cfg.Namespace).WithDetail(m.detail())
	case errors.Is(err, context.DeadlineExceeded):
		return apierr.New(apierr.Unavailable, "%s is not in the cache and upstream %s did not answer in time", what, m.host).
			WithDetail(m.detail())
	}
	return &apierr.Error{Code: apierr.Unavailable, Err: err, Detail: m.detail(),
		Message: fmt.Sprintf("%s is not in the cache and upstream %s is unavailable: %s", what, m.host, reason(err))}
}

// restingUntil is how long the upstream is still left alone, 0 if not.
func (m *mirror) restingUntil() time.Duration {
	m.health.mu.Lock()
	defer m.health.mu.Unlock()
	return max(time.Until(m.health.until).Round(time.Second), 0)
}

// reason is err said briefly: what the remote package's error says, without
// regclient's chain after it.
func reason(err error) string {
	s := err.Error()
	if i := strings.Index(s, " ("); i > 0 {
		s = s[:i]
	}
	return s
}

// isDockerHub reports whether host is Docker Hub's registry.
func isDockerHub(host string) bool {
	switch host {
	case "registry-1.docker.io", "docker.io", "index.docker.io", "registry.hub.docker.com":
		return true
	}
	return false
}

// health is what this process knows of an upstream's health: after a
// failure that says the upstream is unwell (unreachable, 5xx, 429, too
// slow), it is left alone until a backoff has passed (or the Retry-After
// it asked for), doubling from 5 seconds to 5 minutes while it keeps
// failing, so that a fleet's pulls do not hammer an upstream that is down
// or rate limiting; pulls of what is stored are served at once meanwhile.
type health struct {
	mu      sync.Mutex
	since   time.Time // when the current failure began; zero when well
	until   time.Time // no request before this
	backoff time.Duration
	last    error
}

const (
	minBackoff = 5 * time.Second
	maxBackoff = 5 * time.Minute
	// maxRetryAfter caps a Retry-After an upstream asks for.
	maxRetryAfter = time.Hour
)

// resting reports whether the upstream is being left alone, and why.
func (h *health) resting(now time.Time) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return now.Before(h.until), h.last
}

// failed records a failure; it reports whether it began an outage.
func (h *health) failed(now time.Time, err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	began := h.since.IsZero()
	if began {
		h.since, h.backoff = now, minBackoff
	} else {
		h.backoff = min(2*h.backoff, maxBackoff)
	}
	wait := h.backoff
	if ra := min(remote.RetryAfter(err), maxRetryAfter); ra > wait {
		wait = ra
	}
	h.until, h.last = now.Add(wait), err
	return began
}

// ok records a success; it reports whether it ended an outage, and since
// when the upstream was down.
func (h *health) ok() (bool, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	since := h.since
	if since.IsZero() {
		return false, since
	}
	h.since, h.until, h.backoff, h.last = time.Time{}, time.Time{}, 0, nil
	return true, since
}

// unwell reports whether err says the upstream is unwell, rather than that
// it answered: not found and refused are answers.
func unwell(err error) bool {
	return errors.Is(err, remote.ErrUnavailable) || errors.Is(err, remote.ErrRateLimited) ||
		errors.Is(err, context.DeadlineExceeded)
}

// observe records the outcome of a request to the upstream in its health,
// and reports the outage's start and end as events.
func (m *mirror) observe(err error) {
	now := time.Now()
	if err != nil && unwell(err) {
		if m.health.failed(now, err) {
			m.c.log.Warn("proxy: upstream unavailable; serving from the cache", "namespace", m.cfg.Namespace, "upstream", m.host, "err", err)
			m.c.emit(Event{Type: EventUpstreamDown, Namespace: m.cfg.Namespace, Upstream: m.host, Detail: reason(err)})
		}
		return
	}
	if err != nil && errors.Is(err, context.Canceled) {
		return // the caller gave up; the upstream said nothing
	}
	if ended, since := m.health.ok(); ended {
		m.c.log.Info("proxy: upstream available again", "namespace", m.cfg.Namespace, "upstream", m.host, "down", time.Since(since).Round(time.Second))
		m.c.emit(Event{Type: EventUpstreamUp, Namespace: m.cfg.Namespace, Upstream: m.host,
			Detail: fmt.Sprintf("unavailable since %s", since.UTC().Format(time.RFC3339))})
	}
}

// within runs fn with a context that ends after d or when the cache
// closes, whichever is first, but not when the caller's ctx ends: a check
// or fetch that one client started completes for those waiting on it.
func (m *mirror) within(ctx context.Context, d time.Duration, fn func(context.Context) error) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	defer cancel()
	stop := context.AfterFunc(m.c.ctx, cancel)
	defer stop()
	return fn(fctx)
}
