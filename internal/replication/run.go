package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/remote"
)

// What starts a run.
const (
	TriggerManual    = "manual"    // asked for through the API or the CLI
	TriggerSchedule  = "schedule"  // the rule's schedule
	TriggerEvent     = "event"     // changes in the event stream
	TriggerReconcile = "reconcile" // the periodic full run of an event-triggered rule
)

// Results of an artifact in a run's log.
const (
	Copied  = "copied"
	Skipped = "skipped"
	Failed  = "failed"
	Deleted = "deleted"
)

// Change is one change in a source repository that an event-triggered
// run is for: a manifest pushed (by Tag, or by Digest when it has no tag,
// such as a referrer with its Subject) or deleted.
type Change struct {
	Repository string        `json:"repository"`
	Tag        string        `json:"tag,omitempty"`
	Digest     digest.Digest `json:"digest,omitempty"`
	Subject    digest.Digest `json:"subject,omitempty"`
	Deleted    bool          `json:"deleted,omitempty"`
}

// runner carries out one run.
type runner struct {
	s    *Service
	rule *compiled
	run  meta.ReplicationRun
	src  source
	dst  target
	cp   *copier

	mu      sync.Mutex
	done    map[string]bool // sources logged already, by an earlier attempt too
	pending []meta.ReplicationItem
}

// record adds a line to the run's log and its totals.
func (r *runner) record(it meta.ReplicationItem) {
	it.RunID, it.At = r.run.ID, r.s.now().UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done[it.Source] = true
	r.pending = append(r.pending, it)
	switch it.Result {
	case Copied:
		r.run.Copied++
	case Skipped:
		r.run.Skipped++
	case Failed:
		r.run.Failed++
	case Deleted:
		r.run.Deleted++
	}
	r.run.Bytes += it.Bytes
	if m := r.s.o.Metrics; m != nil {
		m.Artifacts.WithLabelValues(r.rule.Name, it.Result).Inc()
	}
}

func (r *runner) logged(source string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done[source]
}

// flush writes the pending log lines and the run's totals.
func (r *runner) flush(ctx context.Context) error {
	r.mu.Lock()
	items := r.pending
	r.pending = nil
	run := r.run
	r.mu.Unlock()
	if err := r.s.o.Store.AppendReplicationItems(ctx, items...); err != nil {
		r.mu.Lock()
		r.pending = append(items, r.pending...)
		r.mu.Unlock()
		return err
	}
	return r.s.o.Store.UpdateReplicationRun(ctx, run)
}

// end records the run's end: the lines of its log not yet written, then
// its final state with e, its replication.run event, in one transaction.
// A crash between the two leaves the run running, for the job's next
// holder to resume and end.
func (r *runner) end(ctx context.Context, e events.Event) error {
	r.mu.Lock()
	items := r.pending
	r.pending = nil
	run := r.run
	r.mu.Unlock()
	if err := r.s.o.Store.AppendReplicationItems(ctx, items...); err != nil {
		return err
	}
	return r.s.o.Store.Update(ctx, func(tx meta.Tx) error {
		if err := tx.UpdateReplicationRun(ctx, run); err != nil {
			return err
		}
		return events.Append(ctx, tx, e)
	})
}

// resume reads what earlier attempts of the run logged, so that they are
// not done again and the totals go on from theirs.
func (r *runner) resume(ctx context.Context) error {
	r.run.Copied, r.run.Skipped, r.run.Failed, r.run.Deleted, r.run.Bytes = 0, 0, 0, 0, 0
	var after int64
	for {
		items, err := r.s.o.Store.ReplicationItems(ctx, r.run.ID, after, 1000)
		if err != nil {
			return err
		}
		for _, it := range items {
			r.done[it.Source] = true
			switch it.Result {
			case Copied:
				r.run.Copied++
			case Skipped:
				r.run.Skipped++
			case Failed:
				r.run.Failed++
			case Deleted:
				r.run.Deleted++
			}
			r.run.Bytes += it.Bytes
			after = it.Seq
		}
		if len(items) < 1000 {
			return nil
		}
	}
}

// full copies everything the rule selects, and with Deletes deletes at
// the destination the selected tags the source no longer has.
func (r *runner) full(ctx context.Context) error {
	repos, err := r.repositories(ctx)
	if err != nil {
		return err
	}
	var work []artifact
	srcTags := map[string][]string{}
	gone := map[string]bool{}
	for _, repo := range repos {
		tags, err := r.src.Tags(ctx, repo)
		if errors.Is(err, errAbsent) {
			gone[repo] = true
			if !r.rule.Deletes {
				r.fail(repo, r.rule.destination(repo), "", errors.New("the repository is not at the source"))
			}
			continue
		}
		if err != nil {
			r.fail(repo, r.rule.destination(repo), "", fmt.Errorf("list tags: %w", err))
			continue
		}
		srcTags[repo] = tags
		att := attachments(tags)
		for _, t := range tags {
			if r.rule.selectsTag(t) {
				work = append(work, artifact{srcRepo: repo, dstRepo: r.rule.destination(repo), ref: t, attachments: att})
			}
		}
	}
	r.copyAll(ctx, work)
	if !r.rule.Deletes || ctx.Err() != nil {
		return ctx.Err()
	}
	return r.deleteMissing(ctx, repos, srcTags, gone)
}

// repositories lists the source repositories the rule selects: a glob
// without wildcards names one, the others are looked for in the source's
// catalog under their literal prefix.
func (r *runner) repositories(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	for _, g := range r.rule.Repositories {
		prefix, exact := literalPrefix(g)
		if exact {
			if r.rule.selectsRepository(g) {
				seen[g] = true
			}
			continue
		}
		names, err := r.src.Repositories(ctx, prefix)
		if err != nil {
			return nil, fmt.Errorf("list the source's repositories under %q: %w", prefix, err)
		}
		for _, n := range names {
			if r.rule.selectsRepository(n) {
				seen[n] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// attachments indexes the tags named after a digest by the digest's hex.
func attachments(tags []string) map[string][]string {
	var out map[string][]string
	for _, t := range tags {
		if !isAttachmentTag(t) {
			continue
		}
		if out == nil {
			out = map[string][]string{}
		}
		hex, _, _ := strings.Cut(strings.TrimPrefix(t, "sha256-"), ".")
		out[hex] = append(out[hex], t)
	}
	return out
}

// copyAll copies work with the rule's concurrency.
func (r *runner) copyAll(ctx context.Context, work []artifact) {
	next := make(chan artifact)
	var wg sync.WaitGroup
	for range min(r.rule.Concurrency, max(len(work), 1)) {
		wg.Go(func() {
			for a := range next {
				r.copyOne(ctx, a)
			}
		})
	}
	for _, a := range work {
		select {
		case next <- a:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
}

func refName(repo, ref string) string {
	if strings.Contains(ref, ":") {
		return repo + "@" + ref
	}
	return repo + ":" + ref
}

// copyOne copies one artifact and logs what happened, unless an earlier
// attempt of the run logged it.
func (r *runner) copyOne(ctx context.Context, a artifact) {
	src, dst := refName(a.srcRepo, a.ref), refName(a.dstRepo, a.ref)
	if r.logged(src) || ctx.Err() != nil {
		return
	}
	start := time.Now()
	out, err := r.cp.copyArtifact(ctx, a)
	if ctx.Err() != nil {
		return // stopped: the run is resumed, or was cancelled
	}
	it := meta.ReplicationItem{Source: src, Destination: dst, Digest: out.digest, Bytes: out.bytes, Duration: time.Since(start)}
	switch {
	case err != nil && a.change && errors.Is(err, errAbsent) && out.digest == "":
		it.Result, it.Reason = Skipped, "no longer at the source"
	case err != nil:
		it.Result, it.Reason = Failed, describe(err)
	case out.written:
		it.Result, it.Reason = Copied, out.reason()
	default:
		it.Result, it.Reason = Skipped, out.reason()
	}
	r.record(it)
}

// fail logs a failure that is not one artifact's.
func (r *runner) fail(src, dst string, d digest.Digest, err error) {
	r.record(meta.ReplicationItem{Source: src, Destination: dst, Digest: d, Result: Failed, Reason: describe(err)})
}

// deleteMissing deletes at the destination the selected tags of the
// selected repositories that the source no longer has, including those
// of repositories gone from the source.
func (r *runner) deleteMissing(ctx context.Context, repos []string, srcTags map[string][]string, gone map[string]bool) error {
	covered := map[string]bool{}
	for _, repo := range repos {
		covered[r.rule.destination(repo)] = true
		if gone[repo] || srcTags[repo] != nil {
			r.deleteTags(ctx, repo, srcTags[repo])
		}
	}
	for _, prefix := range r.rule.destinationPrefixes() {
		names, err := r.dst.Repositories(ctx, prefix)
		if err != nil {
			r.s.log.Warn("replication: cannot list the destination's repositories; deletions of whole repositories wait for the next run",
				"rule", r.rule.Name, "prefix", prefix, "err", err)
			continue
		}
		for _, n := range names {
			if covered[n] {
				continue
			}
			covered[n] = true
			src, ok := r.rule.source(n)
			if !ok {
				continue
			}
			if _, err := r.src.Tags(ctx, src); !errors.Is(err, errAbsent) {
				continue // there after all (or unknown): a later run sees it
			}
			r.deleteTags(ctx, src, nil)
		}
	}
	return ctx.Err()
}

// deleteTags deletes the selected tags of repo's destination that have is
// missing.
func (r *runner) deleteTags(ctx context.Context, repo string, have []string) {
	dstRepo := r.rule.destination(repo)
	tags, err := r.dst.Tags(ctx, dstRepo)
	if errors.Is(err, errAbsent) {
		return
	}
	if err != nil {
		r.fail(repo, dstRepo, "", fmt.Errorf("list the destination's tags: %w", err))
		return
	}
	for _, t := range tags {
		if !r.rule.selectsTag(t) || slices.Contains(have, t) || ctx.Err() != nil {
			continue
		}
		r.deleteOne(ctx, refName(repo, t), dstRepo, t, "")
	}
}

// deleteOne deletes tag (or manifest d when tag is "") of dstRepo and logs
// it under source src.
func (r *runner) deleteOne(ctx context.Context, src, dstRepo, tag string, d digest.Digest) {
	if r.logged(src) {
		return
	}
	start := time.Now()
	var err error
	dst := refName(dstRepo, tag)
	if tag != "" {
		err = r.dst.DeleteTag(ctx, dstRepo, tag)
	} else {
		dst = refName(dstRepo, d.String())
		err = r.dst.DeleteManifest(ctx, dstRepo, d)
	}
	if ctx.Err() != nil {
		return
	}
	it := meta.ReplicationItem{Source: src, Destination: dst, Digest: d, Result: Deleted, Reason: "deleted at the source", Duration: time.Since(start)}
	if err != nil {
		it.Result, it.Reason = Failed, "delete: "+describe(err)
	}
	r.record(it)
}

// changes carries out an event-triggered run: the changes of its scope.
func (r *runner) changes(ctx context.Context, scope []byte) error {
	var chs []Change
	if err := json.Unmarshal(scope, &chs); err != nil {
		return fmt.Errorf("the run's changes: %w", err)
	}
	var work []artifact
	tagsOf := map[string][]string{}
	for _, ch := range coalesce(chs) {
		if !r.rule.selectsRepository(ch.Repository) {
			continue
		}
		dstRepo := r.rule.destination(ch.Repository)
		if ch.Deleted {
			if r.rule.Deletes && (ch.Tag == "" || r.rule.selectsTag(ch.Tag)) {
				r.deleteOne(ctx, refName(ch.Repository, refOf(ch)), dstRepo, ch.Tag, ch.Digest)
			}
			continue
		}
		if !r.wanted(ctx, ch, dstRepo) {
			continue
		}
		tags, seen := tagsOf[ch.Repository]
		if !seen {
			var err error
			if tags, err = r.src.Tags(ctx, ch.Repository); err != nil && !errors.Is(err, errAbsent) {
				r.fail(refName(ch.Repository, refOf(ch)), refName(dstRepo, refOf(ch)), ch.Digest, fmt.Errorf("list tags: %w", err))
				continue
			}
			tagsOf[ch.Repository] = tags
		}
		work = append(work, artifact{srcRepo: ch.Repository, dstRepo: dstRepo, ref: refOf(ch), attachments: attachments(tags), change: true})
	}
	r.copyAll(ctx, work)
	return ctx.Err()
}

func refOf(ch Change) string {
	if ch.Tag != "" {
		return ch.Tag
	}
	return ch.Digest.String()
}

// wanted reports whether a pushed manifest is one the rule copies: a
// selected tag; a tag named after a digest, or a manifest pushed by
// digest with a subject, whose subject the destination holds (a
// signature, an SBOM). A manifest pushed by digest otherwise (an index's
// child) is copied with what names it.
func (r *runner) wanted(ctx context.Context, ch Change, dstRepo string) bool {
	subject := ch.Subject
	switch {
	case ch.Tag != "" && !isAttachmentTag(ch.Tag):
		return r.rule.selectsTag(ch.Tag)
	case ch.Tag != "":
		hex, _, _ := strings.Cut(strings.TrimPrefix(ch.Tag, "sha256-"), ".")
		subject = digest.NewDigestFromEncoded(digest.SHA256, hex)
	case subject == "":
		return false
	}
	d, err := r.dst.ManifestDigest(ctx, dstRepo, subject.String())
	return err == nil && d == subject
}

// describe is err for the run's log: the operation that failed and the
// registry's reason.
func describe(err error) string {
	s := err.Error()
	var ae *apierr.Error
	if errors.As(err, &ae) {
		out := ae.Error()
		if ae.Detail != nil {
			if b, jerr := json.Marshal(ae.Detail); jerr == nil {
				out += " " + string(b)
			}
		}
		if op, _, ok := strings.Cut(s, ": "); ok && !strings.HasPrefix(s, ae.Code.Name) {
			return op + ": " + out
		}
		return out
	}
	if reason := remote.Reason(err); reason != s {
		if op, _, ok := strings.Cut(s, ": "); ok {
			return op + ": " + reason
		}
		return reason
	}
	return s
}
