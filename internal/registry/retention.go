package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
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

// retentionAttempts is how many times a run evaluates a repository that
// keeps changing under it before skipping it.
const retentionAttempts = 3

// errRepositoryChanged ends a repository's retention transaction when a
// push changed what the policies would delete since it was evaluated.
var errRepositoryChanged = errors.New("repository changed during retention")

// Retention evaluates the retention policies over every repository they
// cover and, unless opts.DryRun, deletes the tags and manifests they do
// not keep: one transaction per repository, which locks what it will
// delete, evaluates the repository again and deletes only if the result is
// still within what it locked. Blobs the deleted manifests referenced are
// left to garbage collection.
func (r *Registry) Retention(ctx context.Context, opts RetentionOptions) (RetentionReport, error) {
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
		// A busy repository may change between evaluation and deletion;
		// try it a few times before leaving it for the next run.
		var plan policy.Plan
		for range retentionAttempts {
			if plan, err = r.retainRepository(ctx, repo, applicable, now, opts.DryRun); !errors.Is(err, errRepositoryChanged) {
				break
			}
		}
		if errors.Is(err, errRepositoryChanged) {
			report.Skipped = append(report.Skipped, repo)
			continue
		}
		if err != nil {
			return report, internal("retention of "+repo, err)
		}
		report.Deletions = append(report.Deletions, plan.Deletions...)
		report.Kept = append(report.Kept, plan.Kept...)
	}
	return report, nil
}

// retainRepository evaluates the policies over repo and, unless dryRun,
// applies the plan.
func (r *Registry) retainRepository(ctx context.Context, repo string, policies []policy.RetentionPolicy, now time.Time, dryRun bool) (policy.Plan, error) {
	plan, err := r.evaluate(ctx, r.meta, repo, policies, now)
	if err != nil || dryRun || len(plan.Deletions) == 0 {
		return plan, err
	}
	var tags []string
	var manifests []digest.Digest
	locked := map[string]bool{}
	for _, d := range plan.Deletions {
		locked[d.Kind+" "+d.Tag+"@"+d.Digest] = true
		if d.Kind == policy.KindTag {
			tags = append(tags, d.Tag)
		} else {
			manifests = append(manifests, digest.Digest(d.Digest))
		}
	}
	var applied policy.Plan
	err = r.meta.Update(ctx, func(tx meta.Tx) error {
		if err := tx.LockRetention(ctx, repo, tags, manifests); err != nil {
			return err
		}
		again, err := r.evaluate(ctx, tx, repo, policies, now)
		if err != nil {
			return err
		}
		for _, d := range again.Deletions {
			if !locked[d.Kind+" "+d.Tag+"@"+d.Digest] {
				return errRepositoryChanged
			}
		}
		for _, d := range again.Deletions {
			if d.Kind == policy.KindTag {
				err = tx.DeleteTag(ctx, repo, d.Tag)
			} else {
				err = tx.DeleteManifest(ctx, repo, digest.Digest(d.Digest))
			}
			if err != nil {
				return fmt.Errorf("delete %s %s%s: %w", d.Kind, d.Tag, d.Digest, err)
			}
		}
		applied = again
		return nil
	})
	r.cache.invalidate(repo)
	if err != nil {
		return policy.Plan{}, err
	}
	if r.hooks.RetentionDeleted != nil {
		for _, d := range applied.Deletions {
			r.hooks.RetentionDeleted(d.Kind)
		}
	}
	for _, d := range applied.Deletions {
		r.log.Info("retention deleted", "kind", d.Kind, "repository", repo, "tag", d.Tag, "digest", d.Digest, "reason", d.Reason)
	}
	return applied, nil
}

// evaluate reads repo and its namespace's immutability rules through rd
// and returns what the policies do to it.
func (r *Registry) evaluate(ctx context.Context, rd meta.Reader, repo string, policies []policy.RetentionPolicy, now time.Time) (policy.Plan, error) {
	inv, err := rd.Inventory(ctx, repo)
	if err != nil {
		return policy.Plan{}, err
	}
	rules, err := rd.ImmutabilityRules(ctx, policy.Namespace(repo))
	if err != nil {
		return policy.Plan{}, err
	}
	pr := policy.Repository{Name: repo}
	for _, t := range inv.Tags {
		pr.Tags = append(pr.Tags, policy.Tag{Name: t.Name, Digest: t.Digest.String(), PushedAt: t.UpdatedAt})
	}
	for _, m := range inv.Manifests {
		pm := policy.Manifest{Digest: m.Digest.String(), Subject: m.Subject.String(), CreatedAt: m.CreatedAt, PulledAt: m.PulledAt}
		for _, c := range m.Children {
			pm.Children = append(pm.Children, c.String())
		}
		pr.Manifests = append(pr.Manifests, pm)
	}
	return policy.Evaluate(pr, policies, policyRules(rules), now), nil
}
