package registry

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// pullRecorder coalesces manifest pulls in memory and writes them in one
// transaction at most once per interval, so a manifest pulled by a whole
// fleet costs one row write per interval, not one per pull. Pulls noted
// since the last flush are lost if the process dies: last-pull times are
// for usage reports and retention's "pulled within D days", where minutes
// do not matter.
type pullRecorder struct {
	store    meta.Store
	log      func(msg string, args ...any)
	interval time.Duration
	now      func() time.Time

	mu        sync.Mutex
	pending   map[pullKey]time.Time
	scheduled bool // a flush is due
}

type pullKey struct {
	repo string
	d    digest.Digest
}

// note records a pull of manifest d of repo now. The first pull noted
// after a flush schedules the next flush, interval later.
func (p *pullRecorder) note(repo string, d digest.Digest) {
	if p.interval < 0 {
		return
	}
	now := p.now()
	p.mu.Lock()
	if p.pending == nil {
		p.pending = make(map[pullKey]time.Time)
	}
	p.pending[pullKey{repo, d}] = now
	schedule := !p.scheduled
	p.scheduled = true
	p.mu.Unlock()
	if schedule {
		time.AfterFunc(p.interval, func() {
			p.mu.Lock()
			p.scheduled = false
			p.mu.Unlock()
			if err := p.flush(context.Background()); err != nil {
				p.log("record manifest pulls", "err", err)
			}
		})
	}
}

// flush writes the pending pulls. On failure they are put back to be
// written with the next flush.
func (p *pullRecorder) flush(ctx context.Context) error {
	p.mu.Lock()
	batch := p.pending
	p.pending = make(map[pullKey]time.Time)
	p.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	pulls := make([]meta.Pull, 0, len(batch))
	for k, at := range batch {
		pulls = append(pulls, meta.Pull{Repository: k.repo, Digest: k.d, At: at})
	}
	err := p.store.Update(ctx, func(tx meta.Tx) error { return tx.RecordPulls(ctx, pulls) })
	if err != nil {
		p.mu.Lock()
		for k, at := range batch {
			if cur, ok := p.pending[k]; !ok || at.After(cur) {
				p.pending[k] = at
			}
		}
		p.mu.Unlock()
	}
	return err
}

// PullManifest is [Registry.Manifest] for a client pulling the manifest
// (GET or HEAD on /v2): the image policy of the namespace judges it (a
// refusal is DENIED saying which rule and why; a rule in warn mode gives
// the Warning to serve it with), and a pull served is noted for usage
// reports and retention. Reads for other purposes, such as listing tags,
// use Manifest and are neither judged nor pulls.
//
// In a pull-through cache the upstream is asked first, on a miss or when a
// tag is due for a check ([Mirror.Manifest]), and what it answers is then
// judged like anything stored: the first pull is no way around a policy.
func (r *Registry) PullManifest(ctx context.Context, repo string, ref oci.Reference) (*meta.Manifest, Warning, error) {
	m, err := r.Manifest(ctx, repo, ref)
	var stale Warning
	if mi := r.mirror(repo); mi != nil && (err == nil || missing(err)) {
		m, stale, err = mi.Manifest(ctx, repo, ref, m)
	}
	if err != nil {
		return nil, "", err
	}
	warn, err := r.admit(ctx, repo, ref, m)
	warn = joinWarnings(stale, warn)
	if err != nil {
		return nil, "", err
	}
	r.pulls.note(repo, m.Digest)
	return m, warn, nil
}

// joinWarnings is what both a and b say, in one Warning.
func joinWarnings(a, b Warning) Warning {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// Warning is what a pull served says about it in its Warning header:
// which rules of an image policy in warn mode it broke, or that a
// pull-through cache served it without its upstream's confirmation. Empty
// when there is nothing to say.
type Warning string

// FlushPulls writes the manifest pulls and pull counts noted in memory to
// the metadata store. The server calls it when it shuts down; tests call
// it to see pulls at once.
func (r *Registry) FlushPulls(ctx context.Context) error {
	return errors.Join(r.pulls.flush(ctx), r.counts.flush(ctx))
}
