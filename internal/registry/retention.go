package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
)

// RetentionOptions says how to run retention.
type RetentionOptions struct {
	// DryRun evaluates and reports without deleting anything.
	DryRun bool
	// Only, when set, evaluates this policy alone (stored or not) over the
	// repositories of its scope, instead of every stored policy: the
	// preview of one policy.
	Only *policy.RetentionPolicy
	// Now is the time rules are evaluated at; zero means now.
	Now time.Time
}

// RetentionReport is what a retention run did, or would do.
type RetentionReport struct {
	DryRun       bool              `json:"dryRun"`
	Repositories int               `json:"repositories"` // evaluated
	Deletions    []policy.Deletion `json:"deletions"`
	Kept         []policy.Kept     `json:"kept"`
	// Skipped lists repositories that changed between evaluation and
	// deletion; the next run evaluates them again.
	Skipped []string `json:"skipped,omitempty"`
}

// retentionAttempts is how many batches in a row may find that pushes
// changed everything they were to delete before a run skips the repository.
const retentionAttempts = 3

// errRepositoryChanged ends a repository's retention transaction when a
// push changed what the policies would delete since it was evaluated.
var errRepositoryChanged = errors.New("repository changed during retention")

// Retention evaluates the retention policies over every repository they
// cover and, unless opts.DryRun, deletes the tags and manifests they do
// not keep, in transactions of at most retentionBatch deletions, each of
// which locks what it will delete, evaluates the repository again and
// deletes only what is still to go. Blobs the deleted manifests referenced
// are left to garbage collection.
//
// A run of every stored policy for real records a retention.run event when
// it ends, failed or not; each deletion records its own event as it is made.
func (r *Registry) Retention(ctx context.Context, opts RetentionOptions) (report RetentionReport, err error) {
	if !opts.DryRun && opts.Only == nil {
		defer func() { r.recordRetentionRun(ctx, report, err) }()
	}
	return r.retention(ctx, opts)
}

// recordRetentionRun writes the event of a retention run with report and
// err; a failure to write it is logged, not returned: the run is done.
func (r *Registry) recordRetentionRun(ctx context.Context, report RetentionReport, err error) {
	if err == nil && report.Repositories == 0 {
		return // no policy, or none covering a repository: nothing ran
	}
	run := &events.RetentionRun{Repositories: report.Repositories, Kept: len(report.Kept), Skipped: report.Skipped}
	for _, d := range report.Deletions {
		if d.Kind == policy.KindTag {
			run.TagsDeleted++
		} else {
			run.ManifestsDeleted++
		}
	}
	if err != nil {
		run.Error = err.Error()
	}
	ctx = context.WithoutCancel(ctx)
	if werr := r.meta.Update(ctx, func(tx meta.Tx) error { return events.Append(ctx, tx, events.New(ctx, "", run)) }); werr != nil {
		r.log.Warn("record retention run", "err", werr)
	}
}

func (r *Registry) retention(ctx context.Context, opts RetentionOptions) (RetentionReport, error) {
	now := opts.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	report := RetentionReport{DryRun: opts.DryRun, Deletions: []policy.Deletion{}, Kept: []policy.Kept{}}
	var policies []policy.RetentionPolicy
	if opts.Only != nil {
		if err := opts.Only.Validate(); err != nil {
			return report, invalid(err)
		}
		policies = []policy.RetentionPolicy{*opts.Only}
	} else {
		var err error
		if policies, err = r.RetentionPolicies(ctx); err != nil {
			return report, err
		}
	}
	if len(policies) == 0 {
		return report, nil
	}
	repos, err := r.meta.Repositories(ctx, meta.Page{N: -1})
	if err != nil {
		return report, internal("list repositories", err)
	}
	for _, repo := range repos {
		applicable := policy.Applicable(policies, repo)
		if len(applicable) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return report, err
		}
		report.Repositories++
		plan, err := r.retainRepository(ctx, repo, applicable, now, opts.DryRun)
		report.Deletions = append(report.Deletions, plan.Deletions...)
		report.Kept = append(report.Kept, plan.Kept...)
		if errors.Is(err, errRepositoryChanged) {
			report.Skipped = append(report.Skipped, repo)
			continue
		}
		if err != nil {
			return report, internal("retention of "+repo, err)
		}
	}
	return report, nil
}

// retentionBatch bounds the deletions of one transaction, so that a
// repository with tens of thousands of tags to remove does not hold
// SQLite's only writer (or PostgreSQL's row locks) for long: 5,000 tags and
// their manifests take about a second on SQLite. Smaller batches were
// measured slower overall on SQLite (500: 7-20 s for what one batch does in
// 1.3 s), for a reason not yet found.
const retentionBatch = 5000

// retentionBatchSize is retentionBatch, changed by tests.
var retentionBatchSize = retentionBatch

// retainRepository evaluates the policies over repo and, unless dryRun,
// applies the plan in batches, evaluating the repository again before each.
// It returns what it deleted (all of the plan unless pushes changed it),
// and errRepositoryChanged if pushes kept changing the repository under it.
func (r *Registry) retainRepository(ctx context.Context, repo string, policies []policy.RetentionPolicy, now time.Time, dryRun bool) (policy.Plan, error) {
	plan, inv, err := r.evaluate(ctx, r.meta, repo, policies, now)
	if err != nil || dryRun || len(plan.Deletions) == 0 {
		return plan, err
	}
	applied := policy.Plan{Kept: plan.Kept}
	for misses := 0; len(plan.Deletions) > 0; {
		done, err := r.applyBatch(ctx, repo, policies, now, firstBatch(plan, inv, retentionBatchSize))
		applied.Deletions = append(applied.Deletions, done...)
		if err != nil {
			return applied, err
		}
		if len(done) == 0 {
			if misses++; misses == retentionAttempts {
				return applied, errRepositoryChanged
			}
		}
		if plan, inv, err = r.evaluate(ctx, r.meta, repo, policies, now); err != nil {
			return applied, err
		}
		applied.Kept = plan.Kept
	}
	return applied, nil
}

// firstBatch returns the first deletions of plan to apply together: whole
// groups of deletions that belong together (a manifest with its tags, the
// children only it lists, its referrers and the tags of its signatures), as many groups as fit in n
// deletions and at least one. A group is never split, because evaluated
// again without part of it, the rest would read differently: a child whose
// index is gone looks like an untagged manifest of its own. Within the
// batch, tags come first, then each index before what it lists.
func firstBatch(plan policy.Plan, inv meta.Inventory, n int) []policy.Deletion {
	ordered := orderDeletions(plan, inv)
	group := groupDeletions(plan, inv)
	size := map[string]int{}
	for _, d := range ordered {
		size[group(deletionKey(d))]++
	}
	chosen := map[string]bool{}
	total := 0
	for _, d := range ordered {
		g := group(deletionKey(d))
		if chosen[g] {
			continue
		}
		if total > 0 && total+size[g] > n {
			break
		}
		chosen[g] = true
		total += size[g]
	}
	batch := make([]policy.Deletion, 0, total)
	for _, d := range ordered {
		if chosen[group(deletionKey(d))] {
			batch = append(batch, d)
		}
	}
	return batch
}

// groupDeletions returns a function naming the group of each deletion of
// plan: a tag goes with its manifest, and a manifest with the children and
// referrers of it that the plan deletes and the tags of its artifacts.
func groupDeletions(plan policy.Plan, inv meta.Inventory) func(key string) string {
	up := map[string]string{}
	var find func(string) string
	find = func(k string) string {
		p, ok := up[k]
		if !ok || p == k {
			return k
		}
		r := find(p)
		up[k] = r
		return r
	}
	union := func(a, b string) { up[find(a)] = find(b) }
	manifestKey := func(d string) string { return policy.KindManifest + " @" + d }
	inPlan := map[string]bool{}
	for _, d := range plan.Deletions {
		inPlan[deletionKey(d)] = true
	}
	for _, d := range plan.Deletions {
		if d.Kind == policy.KindTag && inPlan[manifestKey(d.Digest)] {
			union(deletionKey(d), manifestKey(d.Digest))
		}
		// The tag of a signature goes with the image it signs: evaluated
		// without it, the tag would be an ordinary one the rules judge.
		if d.Kind == policy.KindTag && d.Subject != "" && inPlan[manifestKey(d.Subject)] {
			union(deletionKey(d), manifestKey(d.Subject))
		}
	}
	for _, m := range inv.Manifests {
		k := manifestKey(m.Digest.String())
		if !inPlan[k] {
			continue
		}
		for _, c := range m.Children {
			if inPlan[manifestKey(c.String())] {
				union(manifestKey(c.String()), k)
			}
		}
		if inPlan[manifestKey(m.Subject.String())] {
			union(k, manifestKey(m.Subject.String()))
		}
	}
	return find
}

// orderDeletions returns plan's deletions, tags first, then manifests with
// each index before the manifests it lists.
func orderDeletions(plan policy.Plan, inv meta.Inventory) []policy.Deletion {
	var out, manifests []policy.Deletion
	for _, d := range plan.Deletions {
		if d.Kind == policy.KindTag {
			out = append(out, d)
		} else {
			manifests = append(manifests, d)
		}
	}
	parents := parentsOf(inv)
	gone := map[string]bool{}
	for _, d := range manifests {
		gone[d.Digest] = true
	}
	// Repeated passes: a manifest is placed once no parent still to be
	// deleted waits. Indexes nest a level or two, so this is short.
	placed := map[string]bool{}
	for len(placed) < len(manifests) {
		progress := false
		for _, d := range manifests {
			if placed[d.Digest] {
				continue
			}
			ready := true
			for _, p := range parents[digest.Digest(d.Digest)] {
				if gone[p.String()] && !placed[p.String()] {
					ready = false
				}
			}
			if ready {
				out = append(out, d)
				placed[d.Digest] = true
				progress = true
			}
		}
		if !progress { // a cycle, which manifests cannot make: place the rest
			for _, d := range manifests {
				if !placed[d.Digest] {
					out = append(out, d)
					placed[d.Digest] = true
				}
			}
		}
	}
	return out
}

func parentsOf(inv meta.Inventory) map[digest.Digest][]digest.Digest {
	parents := map[digest.Digest][]digest.Digest{}
	for _, m := range inv.Manifests {
		for _, c := range m.Children {
			parents[c] = append(parents[c], m.Digest)
		}
	}
	return parents
}

// deletionKey identifies a deletion across evaluations.
func deletionKey(d policy.Deletion) string { return d.Kind + " " + d.Tag + "@" + d.Digest }

// applyBatch deletes, in one transaction, what of batch the policies still
// delete once the batch's tags and manifests are locked and the repository
// read again: nothing a push changed since is touched, and a manifest goes
// only with every index that lists it.
func (r *Registry) applyBatch(ctx context.Context, repo string, policies []policy.RetentionPolicy, now time.Time, batch []policy.Deletion) ([]policy.Deletion, error) {
	var tags []string
	var manifests []digest.Digest
	for _, d := range batch {
		if d.Kind == policy.KindTag {
			tags = append(tags, d.Tag)
		} else {
			manifests = append(manifests, digest.Digest(d.Digest))
		}
	}
	var done []policy.Deletion
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		done = nil
		if err := tx.LockRetention(ctx, repo, tags, manifests); err != nil {
			return err
		}
		again, inv, err := r.evaluate(ctx, tx, repo, policies, now)
		if err != nil {
			return err
		}
		still := map[string]policy.Deletion{}
		for _, d := range again.Deletions {
			still[deletionKey(d)] = d
		}
		parents := parentsOf(inv)
		deleting := map[string]bool{}
		for _, b := range batch { // an index comes before what it lists
			d, ok := still[deletionKey(b)]
			if !ok {
				continue
			}
			if d.Kind == policy.KindManifest {
				orphaned := false
				for _, p := range parents[digest.Digest(d.Digest)] {
					if !deleting[p.String()] {
						orphaned = true
					}
				}
				if orphaned {
					continue
				}
				deleting[d.Digest] = true
				err = deleteManifest(ctx, tx, repo, digest.Digest(d.Digest), d.Reason, false)
			} else {
				err = deleteTag(ctx, tx, repo, d.Tag, d.Reason, false)
			}
			if err != nil {
				return fmt.Errorf("delete %s %s%s: %w", d.Kind, d.Tag, d.Digest, err)
			}
			done = append(done, d)
		}
		return nil
	})
	r.cache.invalidate(repo)
	if err != nil {
		return nil, err
	}
	for _, d := range done {
		if r.hooks.RetentionDeleted != nil {
			r.hooks.RetentionDeleted(d.Kind)
		}
		r.log.Info("retention deleted", "kind", d.Kind, "repository", repo, "tag", d.Tag, "digest", d.Digest, "reason", d.Reason)
	}
	return done, nil
}

// evaluate reads repo and its namespace's immutability rules through rd
// and returns what the policies do to it, and the inventory it read.
func (r *Registry) evaluate(ctx context.Context, rd meta.Reader, repo string, policies []policy.RetentionPolicy, now time.Time) (policy.Plan, meta.Inventory, error) {
	inv, err := rd.Inventory(ctx, repo)
	if err != nil {
		return policy.Plan{}, inv, err
	}
	rules, err := rd.ImmutabilityRules(ctx, oci.Namespace(repo))
	if err != nil {
		return policy.Plan{}, inv, err
	}
	pr := policy.Repository{Name: repo}
	for _, t := range inv.Tags {
		pr.Tags = append(pr.Tags, policy.Tag{Name: t.Name, Digest: t.Digest.String(), PushedAt: t.UpdatedAt})
	}
	for _, m := range inv.Manifests {
		pm := policy.Manifest{Digest: m.Digest.String(), Subject: m.Subject.String(), CreatedAt: m.CreatedAt, PulledAt: m.PulledAt, UntaggedAt: m.UntaggedAt}
		for _, c := range m.Children {
			pm.Children = append(pm.Children, c.String())
		}
		pr.Manifests = append(pr.Manifests, pm)
	}
	return policy.Evaluate(pr, policies, policyRules(rules), now), inv, nil
}
