package replication

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/wharf-dev/wharf/internal/meta"
)

// maxScope bounds the changes one event-triggered run carries; more are
// split over several runs.
const maxScope = 500

// QueueChanges queues, for each enabled event-triggered push rule, one
// run for the changes to repositories (and tags) it selects. A change no
// rule selects queues nothing. The replication job starts the runs.
func (s *Service) QueueChanges(ctx context.Context, changes []Change) (int, error) {
	if len(changes) == 0 {
		return 0, nil
	}
	rules, err := s.Rules(ctx)
	if err != nil {
		return 0, err
	}
	queued := 0
	for _, r := range rules {
		if !r.Enabled || !r.Trigger.OnEvent || r.Direction != Push {
			continue
		}
		c, err := compile(&r)
		if err != nil {
			s.log.Error("replication: a stored rule does not compile", "rule", r.Name, "err", err)
			continue
		}
		var mine []Change
		for _, ch := range changes {
			if c.selectsChange(ch) {
				mine = append(mine, ch)
			}
		}
		for len(mine) > 0 {
			part := mine[:min(len(mine), maxScope)]
			mine = mine[len(part):]
			scope, err := json.Marshal(part)
			if err != nil {
				return queued, fmt.Errorf("encode the changes of an event-triggered run: %w", err)
			}
			if err := s.queue(ctx, meta.ReplicationRun{RuleID: r.ID, Trigger: TriggerEvent,
				State: meta.RunQueued, Scope: scope, RequestedBy: "system:replication", CreatedAt: s.now().UTC()}); err != nil {
				return queued, storeError(err, "an event-triggered run of replication rule "+r.Name)
			}
			queued++
		}
	}
	if queued > 0 {
		s.signal()
	}
	return queued, nil
}

// selectsChange reports whether an event-triggered run of the rule has
// anything to do for ch: its repository is selected and, for a tag, the
// tag is, or it is named after a digest (a signature), or it is a
// deletion the rule propagates. A manifest pushed by digest is decided
// when the run looks at it (a referrer is copied when its subject is at
// the destination).
func (c *compiled) selectsChange(ch Change) bool {
	if !c.selectsRepository(ch.Repository) {
		return false
	}
	if ch.Deleted {
		return c.Deletes && (ch.Tag == "" || c.selectsTag(ch.Tag))
	}
	return ch.Tag == "" || isAttachmentTag(ch.Tag) || c.selectsTag(ch.Tag)
}
