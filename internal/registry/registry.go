// Package registry is the domain service of wharf: push, pull, mount, tag,
// delete and referrers over a content store (bytes) and a metadata store
// (everything else). It joins the two so that content is written before the
// metadata that makes it visible, and it is the only place that decides what
// a client may see. Its errors are [apierr.Error] values the HTTP edge writes
// as they are.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/trust"
)

// Options configures a [Registry].
type Options struct {
	Content content.Store
	Meta    meta.Store
	Logger  *slog.Logger
	// CacheEntries bounds the in-memory manifest cache; 0 means 10,000 and a
	// negative value turns the cache off.
	CacheEntries int
	// PullFlushInterval is how often manifest pulls and pull counts noted
	// in memory are written to the metadata store; 0 means 10 seconds and
	// a negative value stops recording them.
	PullFlushInterval time.Duration
	// Hooks observe lifecycle events, for metrics.
	Hooks Hooks
	// Now is the clock of the pull figures: which day a pull counts on and
	// which days are recent. Nil means time.Now; tests set it.
	Now func() time.Time
	// Verify configures signature verification: RegistryHost is the host
	// clients name the registry by, which notation trust policies scope.
	Verify trust.Options
	// SystemKeySet is trusted in every namespace, besides the namespace's
	// own key set; SystemPolicy is the floor of every namespace's image
	// policy (see policy.Stricter). Nil for none. Both must be valid.
	SystemKeySet *trust.KeySetConfig
	SystemPolicy *policy.ImagePolicy
	// QuotaWarningPercent is the share of a namespace's quota at which a
	// write that crosses it records a quota.warning event; 0 records none.
	QuotaWarningPercent int
	// Record writes events that record no change (a write refused for its
	// quota) off the request path; nil drops them. Events of changes are
	// written in the change's transaction.
	Record func(events.Event)
}

// Hooks are called when the registry refuses or removes something by
// policy. Nil hooks are skipped.
type Hooks struct {
	// QuotaRefused is called when a write to namespace is refused for its
	// quota; operation is "upload", "mount" or "manifest".
	QuotaRefused func(namespace, operation string)
	// RetentionDeleted is called for every tag or manifest retention
	// removes; kind is "tag" or "manifest".
	RetentionDeleted func(kind string)
	// ManifestPushed is called after a manifest is stored by a push, or
	// fetched into a pull-through cache (stored there like a push),
	// before the push or pull is answered: it must not block (the
	// scanner notes the manifest and returns).
	ManifestPushed func(repo string, d digest.Digest, m *oci.Manifest)
	// PullRefused is called for a pull an image policy refused, with the
	// rule that refused it; PullWarned for each rule in warn mode that a
	// pull served broke.
	PullRefused func(ctx context.Context, o PolicyOutcome)
	PullWarned  func(ctx context.Context, o PolicyOutcome)
	// SignatureVerified is called for each signature verified, rather
	// than read from the verdict cache, with its verdict.
	SignatureVerified func(ctx context.Context, repo string, image digest.Digest, v trust.Verdict)
	// PolicyCache is called for each look-up in a cache of the image
	// policy: layer "memory" (the decision on a pull) or "store" (the
	// verdict on a signature), and whether it answered.
	PolicyCache func(layer string, hit bool)
}

func (h Hooks) pullRefused(ctx context.Context, o PolicyOutcome) {
	if h.PullRefused != nil {
		h.PullRefused(ctx, o)
	}
}

func (h Hooks) pullWarned(ctx context.Context, o PolicyOutcome) {
	if h.PullWarned != nil {
		h.PullWarned(ctx, o)
	}
}

func (h Hooks) signatureVerified(ctx context.Context, repo string, image digest.Digest, v trust.Verdict) {
	if h.SignatureVerified != nil {
		h.SignatureVerified(ctx, repo, image, v)
	}
}

func (h Hooks) policyCache(layer string, hit bool) {
	if h.PolicyCache != nil {
		h.PolicyCache(layer, hit)
	}
}

// Registry is the registry service. It is safe for concurrent use.
type Registry struct {
	content content.Store
	meta    meta.Store
	log     *slog.Logger
	cache   *manifestCache
	uploads keyedMutex
	hooks   Hooks
	pulls   *pullRecorder
	counts  *pullCounter
	orphans orphanUploads

	// The image policy: namespaces' settings, signature verification,
	// and scan results when scanning is set up.
	settings   *settingsCache
	verifyOpts trust.Options
	system     systemTrust
	verifier   *trust.Verifier
	source     trust.Source
	scans      Scans
	now        func() time.Time

	// upstream fills pull-through cache namespaces; nil when there are none.
	upstream Upstream
	warnAt   int // Options.QuotaWarningPercent
	record   func(events.Event)
}

// New returns a Registry over the given stores.
func New(opts Options) *Registry {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	n := opts.CacheEntries
	if n == 0 {
		n = 10000
	}
	interval := opts.PullFlushInterval
	if interval == 0 {
		interval = 10 * time.Second
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	r := &Registry{
		content:    opts.Content,
		meta:       opts.Meta,
		log:        log,
		cache:      newManifestCache(n),
		hooks:      opts.Hooks,
		pulls:      &pullRecorder{store: opts.Meta, log: log.Warn, interval: interval, now: now},
		counts:     &pullCounter{store: opts.Meta, log: log.Warn, interval: interval, now: now},
		settings:   newSettingsCache(),
		verifyOpts: opts.Verify,
		system:     systemTrust{keySet: opts.SystemKeySet, policy: opts.SystemPolicy},
		verifier:   trust.NewVerifier(opts.Verify),
		now:        now,
		warnAt:     opts.QuotaWarningPercent,
		record:     opts.Record,
	}
	r.source = trustSource{r}
	return r
}

// Ping checks, for readiness, that the metadata store answers and, when it
// can tell (a [content.Pinger]), that the content store does too. The two
// are checked at once; the error names each that failed.
func (r *Registry) Ping(ctx context.Context) error {
	contentErr := make(chan error, 1)
	go func() {
		var err error
		if p, ok := r.content.(content.Pinger); ok {
			if err = p.Ping(ctx); err != nil {
				err = fmt.Errorf("content store: %w", err)
			}
		}
		contentErr <- err
	}()
	var metaErr error
	if err := r.meta.Ping(ctx); err != nil {
		metaErr = fmt.Errorf("metadata store: %w", err)
	}
	return errors.Join(metaErr, <-contentErr)
}

// Invalidate drops what the manifest cache holds for repo, with the image
// policy's decisions on pulls of it. Replicas call it when another replica
// writes to repo; the store announces a change to a namespace's trust
// settings under the namespace's name, so the settings held for a
// namespace named repo are dropped too.
func (r *Registry) Invalidate(repo string) {
	r.cache.invalidate(repo)
	r.settings.invalidate(repo)
}

// InvalidateAll empties the manifest cache and the trust settings held.
// Replicas call it when they may have missed another replica's writes,
// such as after reconnecting to the store that reports them.
func (r *Registry) InvalidateAll() {
	r.cache.invalidateAll()
	r.settings.invalidateAll()
}

func checkName(repo string) error {
	if err := oci.ValidateName(repo); err != nil {
		return apierr.Wrap(apierr.NameInvalid, err).WithDetail(map[string]string{"name": repo})
	}
	return nil
}

// internal wraps an unexpected error from a store as UNKNOWN, keeping the
// cause for the log and a generic message for the client, or as
// UNAVAILABLE naming the store when the store could not be reached: the
// client should retry later, and nothing it sent was at fault.
func internal(op string, err error) error {
	var e *apierr.Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	code, msg := apierr.Unknown, apierr.Unknown.Message
	switch {
	case errors.Is(err, meta.ErrUnavailable):
		code, msg = apierr.Unavailable, "metadata store unavailable"
	case errors.Is(err, content.ErrUnavailable):
		code, msg = apierr.Unavailable, "content store unavailable"
	}
	return &apierr.Error{Code: code, Message: msg, Err: fmt.Errorf("%s: %w", op, err)}
}

func blobUnknown(d digest.Digest) error {
	return apierr.New(apierr.BlobUnknown, "").WithDetail(map[string]string{"digest": d.String()})
}
