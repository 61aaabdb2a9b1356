package replication

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// The event stream is read by the replication job: each look takes the
// events after the cursor (meta.ReplicationCursor) of the kinds that
// change what a push rule copies, turns them into [Change]s and queues
// runs for them ([Service.QueueChanges]).
//
// An event's sequence number is taken when its change is written, and a
// transaction that commits late can make an event appear behind one
// already read. So the cursor stays behind the events of the last
// settleTime, which are read again at each look, and the ones already
// queued by this process are remembered until the cursor passes them. An
// event that still arrives behind the cursor, or that a replica taking the
// job over queues again, is harmless: a late one is caught by the rule's
// reconcile, a duplicate run finds everything at the destination already.

// settleTime is how long an event may take to commit after its sequence
// number was taken.
const settleTime = time.Minute

// eventPage is how many events one read of the stream takes.
const eventPage = 500

// triggerKinds are the kinds of events that trigger push rules.
var triggerKinds = []string{
	string(events.KindArtifactPushed), string(events.KindTagMoved),
	string(events.KindTagDeleted), string(events.KindArtifactDeleted),
}

// EventStream is the event stream as replication reads it, and where it
// keeps how far it read.
type EventStream interface {
	meta.EventReader
	meta.ReplicationCursor
}

// readEvents queues runs for the events after the cursor and moves the
// cursor on past those older than settleTime.
func (s *Service) readEvents(ctx context.Context) error {
	st := s.o.Events
	cursor, ok, err := st.ReplicationCursor(ctx)
	if err != nil {
		return fmt.Errorf("read the replication cursor: %w", err)
	}
	if !ok { // the first look: the past is a full run's business
		last, err := st.Events(ctx, meta.EventQuery{N: 1})
		if err != nil {
			return fmt.Errorf("read the event stream: %w", err)
		}
		if len(last) > 0 {
			cursor = last[0].Seq
		}
		return st.SetReplicationCursor(ctx, cursor)
	}
	var evs []meta.Event // newest first
	for before := int64(0); ; {
		// AfterSeq bounds the read to the events since the cursor: without
		// it, the kinds' index hands over every event of those kinds the
		// stream holds, to be sorted, at every poll.
		page, err := st.Events(ctx, meta.EventQuery{Kinds: triggerKinds, BeforeSeq: before, AfterSeq: cursor, N: eventPage})
		if err != nil {
			return fmt.Errorf("read the event stream: %w", err)
		}
		i := slices.IndexFunc(page, func(e meta.Event) bool { return e.Seq <= cursor })
		if i >= 0 {
			evs = append(evs, page[:i]...)
			break
		}
		evs = append(evs, page...)
		if len(page) < eventPage {
			break
		}
		before = page[len(page)-1].Seq
	}
	slices.Reverse(evs)
	var changes []Change
	var queued []int64
	for _, e := range evs {
		if s.seen[e.Seq] {
			continue
		}
		chs, err := changesOf(e)
		if err != nil {
			s.log.Warn("replication: an event cannot be read; the reconcile will catch its change", "seq", e.Seq, "kind", e.Kind, "err", err)
		}
		changes = append(changes, chs...)
		queued = append(queued, e.Seq)
	}
	if _, err := s.QueueChanges(ctx, changes); err != nil {
		return err
	}
	for _, seq := range queued {
		s.seen[seq] = true
	}
	next := cursor
	for _, e := range evs {
		if s.now().Sub(e.At) < settleTime {
			break
		}
		next = e.Seq
	}
	if next == cursor {
		return nil
	}
	for seq := range s.seen {
		if seq <= next {
			delete(s.seen, seq)
		}
	}
	return st.SetReplicationCursor(ctx, next)
}

// changesOf is what an event of the stream changed, for replication.
func changesOf(r meta.Event) ([]Change, error) {
	e, err := events.Decode(r)
	if err != nil {
		return nil, err
	}
	repo := e.Repository
	switch d := e.Data.(type) {
	case *events.ArtifactPushed:
		if len(d.Tags) == 0 {
			return []Change{{Repository: repo, Digest: d.Digest, Subject: d.Subject}}, nil
		}
		out := make([]Change, 0, len(d.Tags))
		for _, t := range d.Tags {
			out = append(out, Change{Repository: repo, Tag: t, Digest: d.Digest, Subject: d.Subject})
		}
		return out, nil
	case *events.TagMoved:
		return []Change{{Repository: repo, Tag: d.Tag, Digest: d.Digest}}, nil
	case *events.TagDeleted:
		return []Change{{Repository: repo, Tag: d.Tag, Digest: d.Digest, Deleted: true}}, nil
	case *events.ArtifactDeleted:
		return []Change{{Repository: repo, Digest: d.Digest, Deleted: true}}, nil
	}
	return nil, nil
}

// coalesce keeps, of the changes to one tag or manifest, the last, and
// drops what a later deletion of a manifest undoes: a tag pushed and then
// deleted is only deleted, a manifest deleted and pushed again is copied.
func coalesce(chs []Change) []Change {
	type key struct{ repo, ref string }
	last := map[key]int{}
	deleted := map[key]int{} // manifests deleted, by digest: the last deletion
	for i, ch := range chs {
		last[key{ch.Repository, refOf(ch)}] = i
		if ch.Deleted && ch.Tag == "" {
			deleted[key{ch.Repository, ch.Digest.String()}] = i
		}
	}
	out := chs[:0:0]
	for i, ch := range chs {
		if last[key{ch.Repository, refOf(ch)}] != i {
			continue
		}
		if j, ok := deleted[key{ch.Repository, ch.Digest.String()}]; ok && !ch.Deleted && j > i {
			continue
		}
		out = append(out, ch)
	}
	return out
}
