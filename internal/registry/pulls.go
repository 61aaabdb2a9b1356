package registry

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// pullRecorder coalesces manifest pulls in memory and writes them in one
// transaction at most once per interval, so a manifest pulled by a whole
// fleet costs one row write per interval, not one per pull: the last-pull
// time of each manifest, and an artifact.pulled event per repository,
// manifest, tag and actor, counting the pulls. Pulls noted since the last
// flush are lost if the process dies: last-pull times are for usage
// reports and retention's "pulled within D days", where seconds do not
// matter, and pull events are observations, not changes.
type pullRecorder struct {
	store    meta.Store
	log      func(msg string, args ...any)
	interval time.Duration
	now      func() time.Time

	mu        sync.Mutex
	pending   map[pullKey]time.Time
	pulled    map[pullEventKey]*pulledEvent
	scheduled bool // a flush is due
}

type pullKey struct {
	repo string
	d    digest.Digest
}

// pullEventKey is what one artifact.pulled event covers.
type pullEventKey struct {
	repo  string
	d     digest.Digest
	tag   string
	actor string
}

type pulledEvent struct {
	event events.Event // the first pull's, with its actor and request
	data  *events.ArtifactPulled
}

// maxPulledEvents bounds the pull events held between flushes; one more
// flushes at once, so that a pull storm by many actors cannot grow memory.
const maxPulledEvents = 10000

// maxPullClients bounds the client addresses one event lists.
const maxPullClients = 10

// note records a pull of manifest m of repo now, by tag if tag is set; a
// pull event is counted when event is set (a GET, which sends the manifest;
// a HEAD only checks it). The first pull noted after a flush schedules the
// next flush, interval later.
func (p *pullRecorder) note(ctx context.Context, repo string, m *meta.Manifest, tag string, event bool) {
	if p.interval < 0 {
		return
	}
	now := p.now()
	p.mu.Lock()
	if p.pending == nil {
		p.pending = make(map[pullKey]time.Time)
		p.pulled = make(map[pullEventKey]*pulledEvent)
	}
	p.pending[pullKey{repo, m.Digest}] = now
	full := false
	if event {
		actor := events.ActorFrom(ctx)
		k := pullEventKey{repo, m.Digest, tag, actor.Name}
		pe := p.pulled[k]
		if pe == nil {
			e := events.New(ctx, repo, nil)
			pe = &pulledEvent{event: e, data: &events.ArtifactPulled{Digest: m.Digest, MediaType: m.MediaType, Size: m.Size, Tag: tag, First: now}}
			pe.event.Data = pe.data
			p.pulled[k] = pe
			full = len(p.pulled) >= maxPulledEvents
		}
		pe.data.Count++
		pe.data.Last = now
		if c := actor.Client; c != "" && len(pe.data.Clients) < maxPullClients && !slices.Contains(pe.data.Clients, c) {
			pe.data.Clients = append(pe.data.Clients, c)
		}
	}
	schedule := !p.scheduled || full
	p.scheduled = true
	p.mu.Unlock()
	if !schedule {
		return
	}
	after := p.interval
	if full {
		after = 0
	}
	time.AfterFunc(after, func() {
		p.mu.Lock()
		p.scheduled = false
		p.mu.Unlock()
		if err := p.flush(context.Background()); err != nil {
			p.log("record manifest pulls", "err", err)
		}
	})
}

// flush writes the pending pulls and their events. On failure they are put
// back to be written with the next flush.
func (p *pullRecorder) flush(ctx context.Context) error {
	p.mu.Lock()
	batch, pulled := p.pending, p.pulled
	p.pending = make(map[pullKey]time.Time)
	p.pulled = make(map[pullEventKey]*pulledEvent)
	p.mu.Unlock()
	if len(batch) == 0 && len(pulled) == 0 {
		return nil
	}
	pulls := make([]meta.Pull, 0, len(batch))
	for k, at := range batch {
		pulls = append(pulls, meta.Pull{Repository: k.repo, Digest: k.d, At: at})
	}
	evs := make([]events.Event, 0, len(pulled))
	for _, pe := range pulled {
		pe.event.At = pe.data.Last.UTC()
		pe.data.First, pe.data.Last = pe.data.First.UTC(), pe.data.Last.UTC()
		evs = append(evs, pe.event)
	}
	slices.SortFunc(evs, func(a, b events.Event) int { return a.At.Compare(b.At) })
	err := p.store.Update(ctx, func(tx meta.Tx) error {
		if err := tx.RecordPulls(ctx, pulls); err != nil {
			return err
		}
		return events.Append(ctx, tx, evs...)
	})
	if err != nil {
		p.putBack(batch, pulled)
	}
	return err
}

// putBack returns pulls a flush failed to write to those pending.
func (p *pullRecorder) putBack(batch map[pullKey]time.Time, pulled map[pullEventKey]*pulledEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, at := range batch {
		if cur, ok := p.pending[k]; !ok || at.After(cur) {
			p.pending[k] = at
		}
	}
	for k, pe := range pulled {
		cur := p.pulled[k]
		if cur == nil {
			p.pulled[k] = pe
			continue
		}
		cur.data.Count += pe.data.Count
		cur.data.First = pe.data.First
		for _, c := range pe.data.Clients {
			if len(cur.data.Clients) < maxPullClients && !slices.Contains(cur.data.Clients, c) {
				cur.data.Clients = append(cur.data.Clients, c)
			}
		}
		cur.event = pe.event
		cur.event.Data = cur.data
	}
}

// PullManifest is [Registry.Manifest] for a client pulling the manifest
// (GET on /v2): the image policy of the namespace judges it (a refusal is
// DENIED saying which rule and why; a rule in warn mode gives the Warning
// to serve it with), and a pull served is noted for usage reports and
// retention and counted in an artifact.pulled event. Reads for other
// purposes, such as listing tags, use Manifest and are neither judged nor
// pulls.
//
// In a pull-through cache the upstream is asked first, on a miss or when a
// tag is due for a check ([Mirror.Manifest]), and what it answers is then
// judged like anything stored: the first pull is no way around a policy.
func (r *Registry) PullManifest(ctx context.Context, repo string, ref oci.Reference) (*meta.Manifest, Warning, error) {
	return r.pull(ctx, repo, ref, true)
}

// HeadManifest is [Registry.PullManifest] for a client checking the
// manifest (HEAD on /v2): judged and noted as a pull the same, but it
// sends no content, so it makes no pull event.
func (r *Registry) HeadManifest(ctx context.Context, repo string, ref oci.Reference) (*meta.Manifest, Warning, error) {
	return r.pull(ctx, repo, ref, false)
}

func (r *Registry) pull(ctx context.Context, repo string, ref oci.Reference, event bool) (*meta.Manifest, Warning, error) {
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
	r.pulls.note(ctx, repo, m, ref.Tag, event)
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

// FlushPulls writes the manifest pulls noted in memory, and their events,
// and the pull counts to the metadata store. The server calls it when it
// shuts down; tests call it to see pulls at once.
func (r *Registry) FlushPulls(ctx context.Context) error {
	return errors.Join(r.pulls.flush(ctx), r.counts.flush(ctx))
}
