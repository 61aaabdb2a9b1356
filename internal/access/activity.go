package access

import (
	"context"
	"errors"
	"slices"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// The activity feed: the event stream as the people of a namespace see
// it. Who did what to which image, not the audit log: no refusals, logins
// or failures, and only what the caller may read:
//
//   - The whole registry's feed is for system administrators.
//   - A namespace's feed is for those who may see the namespace: what
//     happened to its images (pushes, pulls, deletions, tags, promotions,
//     scans, signatures, quota warnings) for those who may pull them, and
//     to those who manage it, its members, robots, policies and settings
//     too. A caller whose scopes reach only some of its repositories sees
//     the events of those.
//   - Client addresses and requests are for system administrators.
//
// What a caller may not read is filtered out before anything is counted:
// a page holds at most N events the caller may see, never a total.

// ImageKinds are the kinds of the feed those who may pull see.
var ImageKinds = []events.Kind{
	events.KindArtifactPushed, events.KindArtifactPulled, events.KindArtifactDeleted, events.KindArtifactPromoted,
	events.KindTagMoved, events.KindTagDeleted, events.KindRepositoryCreated, events.KindRepositoryDeleted,
	events.KindScanCompleted, events.KindSignatureVerified, events.KindQuotaWarning,
}

// ManageKinds are the further kinds of the feed a namespace's managers
// (and system administrators) see.
var ManageKinds = []events.Kind{
	events.KindNamespaceCreated, events.KindNamespaceUpdated, events.KindMemberSet, events.KindMemberRemoved,
	events.KindRobotCreated, events.KindRobotRevoked, events.KindPolicyChanged, events.KindWebhookChanged,
	events.KindPromotionRequested, events.KindPromotionApproved, events.KindScanRequested,
}

// ActivityQuery selects a page of the activity feed.
type ActivityQuery struct {
	// Namespace is the namespace's feed; "" the whole registry's.
	Namespace string
	// Repository keeps the events of one repository (of Namespace, if
	// that is set).
	Repository string
	// Kinds keeps these kinds; none keeps every kind the caller may see.
	Kinds []events.Kind
	// Before is the cursor of a next page: events older than it.
	Before int64
	// N is the page's size: 50 if 0, at most 200.
	N int
}

// ActivityEntry is one event of the feed.
type ActivityEntry struct {
	Seq int64
	events.Event
}

// Activity is a page of the feed, newest first.
type Activity struct {
	Entries []ActivityEntry
	// Next is the Before of the next page; 0 when there is none.
	Next int64
	// Kinds are the kinds the caller may see in this feed.
	Kinds []events.Kind
}

// activityScanPages bounds the pages of the stream a caller whose scopes
// reach only some repositories reads for one page of the feed; the page
// then ends early, with a cursor to go on from.
const activityScanPages = 5

// Activity returns a page of the activity feed q selects, as c may see it.
func (s *Service) Activity(ctx context.Context, c Caller, q ActivityQuery) (Activity, error) {
	er, ok := s.store.(meta.EventReader)
	if !ok {
		return Activity{}, errors.New("activity: the store keeps no event stream")
	}
	if c.Principal.Anonymous() {
		return Activity{}, denied("the activity feed is for signed-in users")
	}
	switch {
	case q.N <= 0:
		q.N = 50
	case q.N > 200:
		q.N = 200
	}
	if q.Repository != "" {
		if err := oci.ValidateName(q.Repository); err != nil {
			return Activity{}, invalid("%v", err)
		}
		if q.Namespace == "" {
			q.Namespace = oci.Namespace(q.Repository)
		} else if oci.Namespace(q.Repository) != q.Namespace {
			return Activity{}, invalid("repository %s is not in namespace %s", q.Repository, q.Namespace)
		}
	}
	may, kinds, err := s.activityRights(ctx, c, q.Namespace)
	if err != nil {
		return Activity{}, err
	}
	out := Activity{Kinds: kinds}
	if len(q.Kinds) > 0 {
		for _, k := range q.Kinds {
			if !slices.Contains(kinds, k) {
				return Activity{}, invalid("the feed shows no events of kind %q here; it shows %v", truncate(string(k)), kinds)
			}
		}
		kinds = q.Kinds
	}
	mq := meta.EventQuery{Namespace: q.Namespace, Repository: q.Repository, BeforeSeq: q.Before, N: q.N}
	// The whole stream's kinds are filtered here, not in SQL: a list of
	// kinds over the whole stream is read through the kind index and
	// sorted, every event of those kinds, where walking the stream back
	// from its end stops after a page. A namespace's or repository's
	// events are read through their own index, in order, kinds and all.
	inGo := q.Namespace == "" && q.Repository == ""
	if !inGo {
		for _, k := range kinds {
			mq.Kinds = append(mq.Kinds, string(k))
		}
	}
	for range activityScanPages {
		es, err := er.Events(ctx, mq)
		if err != nil {
			return Activity{}, storeError(err, "activity")
		}
		for _, r := range es {
			mq.BeforeSeq = r.Seq
			if inGo && !slices.Contains(kinds, events.Kind(r.Kind)) {
				continue
			}
			ok, err := may(ctx, r)
			if err != nil {
				return Activity{}, err
			}
			if !ok {
				continue
			}
			e, err := events.Decode(r)
			if err != nil {
				return Activity{}, err
			}
			if !c.SystemAdmin() {
				private(&e)
			}
			out.Entries = append(out.Entries, ActivityEntry{Seq: r.Seq, Event: e})
			if len(out.Entries) == q.N {
				out.Next = r.Seq
				return out, nil
			}
		}
		if len(es) < mq.N {
			return out, nil // the end of the stream
		}
	}
	out.Next = mq.BeforeSeq
	return out, nil
}

// activityRights returns which events of namespace ns (every namespace if
// "") c may see, and the kinds it may see there.
func (s *Service) activityRights(ctx context.Context, c Caller, ns string) (func(context.Context, meta.Event) (bool, error), []events.Kind, error) {
	all := slices.Concat(ImageKinds, ManageKinds)
	yes := func(context.Context, meta.Event) (bool, error) { return true, nil }
	if c.SystemAdmin() {
		return yes, all, nil
	}
	if ns == "" {
		return nil, nil, denied("the whole registry's activity is for system administrators")
	}
	if _, err := s.Namespace(ctx, c, ns); err != nil {
		return nil, nil, err
	}
	manage, err := s.MayManage(ctx, c, ns)
	if err != nil {
		return nil, nil, storeError(err, "namespace "+ns)
	}
	kinds := ImageKinds
	if manage {
		kinds = all
	}
	// "NS/*" matches only scopes that cover every repository of ns.
	whole, err := s.Decide(ctx, c.Principal, ns+"/*", []auth.Action{auth.ActionPull})
	if err != nil {
		return nil, nil, err
	}
	if whole.Allows(auth.ActionPull) || manage {
		// Events about the namespace itself are its managers'.
		return func(_ context.Context, e meta.Event) (bool, error) { return e.Repository != "" || manage, nil }, kinds, nil
	}
	pulls := map[string]bool{}
	return func(ctx context.Context, e meta.Event) (bool, error) {
		if e.Repository == "" {
			return false, nil
		}
		ok, seen := pulls[e.Repository]
		if !seen {
			d, err := s.Decide(ctx, c.Principal, e.Repository, []auth.Action{auth.ActionPull})
			if err != nil {
				return false, err
			}
			ok = d.Allows(auth.ActionPull)
			pulls[e.Repository] = ok
		}
		return ok, nil
	}, kinds, nil
}

// private leaves out of e what only system administrators see: the
// client's address and request, and the addresses of pulls.
func private(e *events.Event) {
	e.Actor.Client, e.Actor.Request = "", nil
	if p, ok := e.Data.(*events.ArtifactPulled); ok {
		p.Clients = nil
	}
}
