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
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
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
	// ManifestPushed is called after a manifest is stored by a push,
	// before the push is answered: it must not block (the scanner notes
	// the manifest and returns).
	ManifestPushed func(repo string, d digest.Digest, m *oci.Manifest)
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
	return &Registry{
		content: opts.Content,
		meta:    opts.Meta,
		log:     log,
		cache:   newManifestCache(n),
		hooks:   opts.Hooks,
		pulls:   &pullRecorder{store: opts.Meta, log: log.Warn, interval: interval, now: now},
		counts:  &pullCounter{store: opts.Meta, log: log.Warn, interval: interval, now: now},
	}
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

// Invalidate drops what the manifest cache holds for repo. Replicas call it
// when another replica writes to repo.
func (r *Registry) Invalidate(repo string) { r.cache.invalidate(repo) }

// InvalidateAll empties the manifest cache. Replicas call it when they may
// have missed another replica's writes, such as after reconnecting to the
// store that reports them.
func (r *Registry) InvalidateAll() { r.cache.invalidateAll() }

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
