package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/policy"
)

// Immutability and quotas are checked inside the transaction that makes the
// change, so a rule or quota and the write it refuses are seen together.
// The checks return *immutableError or *policy.QuotaError; [lifecycleError]
// turns them into DENIED for the client once the transaction is over.

// immutableError is a write refused because it would move or delete an
// immutable tag.
type immutableError struct {
	repo, tag string
	rule      policy.ImmutabilityRule
	action    string        // "move", "delete"
	manifest  digest.Digest // set when deleting a manifest the tag names or holds
}

func (e *immutableError) Error() string {
	if e.manifest != "" {
		return fmt.Sprintf("cannot delete manifest %s of %s: it is part of tag %s, which is immutable by %s", e.manifest, e.repo, e.tag, e.rule)
	}
	return fmt.Sprintf("cannot %s tag %s of %s: it is immutable by %s", e.action, e.tag, e.repo, e.rule)
}

// immutableRule returns the rule making tag of repo immutable, if any.
func immutableRule(ctx context.Context, tx meta.Tx, repo, tag string) (policy.ImmutabilityRule, bool, error) {
	rules, err := tx.ImmutabilityRules(ctx, oci.Namespace(repo))
	if err != nil || len(rules) == 0 {
		return policy.ImmutabilityRule{}, false, err
	}
	rule, ok := policy.Immutable(policyRules(rules), tag)
	return rule, ok, nil
}

func policyRules(rules []meta.ImmutabilityRule) []policy.ImmutabilityRule {
	out := make([]policy.ImmutabilityRule, len(rules))
	for i, r := range rules {
		out[i] = policy.ImmutabilityRule{ID: r.ID, Namespace: r.Namespace, Pattern: r.Pattern}
	}
	return out
}

// guardTagMove refuses pointing tag of repo at d when the tag exists, names
// another manifest, and is immutable. Pushing the same manifest again is
// not a move. An immutable tag stays locked until the transaction ends, so
// that of two transactions pointing it at once (both reading "no such
// tag"), the second reads the first's tag once it commits and is refused.
// It returns the manifest the tag names now, "" if none.
func guardTagMove(ctx context.Context, tx meta.Tx, repo, tag string, d digest.Digest) (digest.Digest, error) {
	cur, err := tx.Tag(ctx, repo, tag)
	if err == nil && cur.Digest == d {
		return d, nil
	} else if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return "", err
	}
	previous := cur.Digest // "" when there is no such tag
	rule, ok, err := immutableRule(ctx, tx, repo, tag)
	if err != nil || !ok {
		return previous, err
	}
	if err := tx.LockTag(ctx, repo, tag); err != nil {
		return "", err
	}
	cur, err = tx.Tag(ctx, repo, tag)
	if errors.Is(err, meta.ErrNotFound) {
		return "", nil
	}
	if err != nil || cur.Digest == d {
		return cur.Digest, err
	}
	return "", &immutableError{repo: repo, tag: tag, rule: rule, action: "move"}
}

// guardTagDelete refuses deleting tag of repo when it is immutable.
func guardTagDelete(ctx context.Context, tx meta.Tx, repo, tag string) error {
	rule, ok, err := immutableRule(ctx, tx, repo, tag)
	if err != nil || !ok {
		return err
	}
	if _, err := tx.Tag(ctx, repo, tag); err != nil {
		return err // ErrNotFound: nothing to refuse
	}
	return &immutableError{repo: repo, tag: tag, rule: rule, action: "delete"}
}

// guardManifestDelete refuses deleting manifest d of repo while an
// immutable tag names it, or names an index that lists it (directly or
// through nested indexes): deleting it would delete the tag or break the
// image the tag names.
func guardManifestDelete(ctx context.Context, tx meta.Tx, repo string, d digest.Digest) error {
	rules, err := tx.ImmutabilityRules(ctx, oci.Namespace(repo))
	if err != nil || len(rules) == 0 {
		return err
	}
	inv, err := tx.Inventory(ctx, repo)
	if err != nil {
		return err
	}
	parents := map[digest.Digest][]digest.Digest{}
	for _, m := range inv.Manifests {
		for _, c := range m.Children {
			parents[c] = append(parents[c], m.Digest)
		}
	}
	tags := map[digest.Digest][]string{}
	for _, t := range inv.Tags {
		tags[t.Digest] = append(tags[t.Digest], t.Name)
	}
	seen := map[digest.Digest]bool{}
	for stack := []digest.Digest{d}; len(stack) > 0; {
		m := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[m] {
			continue
		}
		seen[m] = true
		for _, tag := range tags[m] {
			if rule, ok := policy.Immutable(policyRules(rules), tag); ok {
				return &immutableError{repo: repo, tag: tag, rule: rule, action: "delete", manifest: d}
			}
		}
		stack = append(stack, parents[m]...)
	}
	return nil
}

// checkQuota refuses adding bytes to the namespace of repo when that would
// exceed its quota. It takes the quota's lock (meta.Tx.LockQuota), so
// concurrent writes to one namespace are checked one after the other; a
// namespace without a quota costs one lookup and no lock. The usage is the
// quota row's, which the store keeps as links and manifests change, so the
// check costs the same however much the namespace holds. A write it lets
// through that takes the usage across the warning share of the quota gets
// a warning to record with it.
func (r *Registry) checkQuota(ctx context.Context, tx meta.Tx, repo string, adding int64) (*events.QuotaWarning, error) {
	ns := oci.Namespace(repo)
	q, err := tx.LockQuota(ctx, ns)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := policy.CheckQuota(ns, q.LimitBytes, q.UsedBytes, adding); err != nil {
		return nil, err
	}
	return quotaWarning(q, adding, r.warnAt), nil
}

// quotaWarning is the warning of a write of adding bytes that takes the
// usage of q from below percent of its limit to percent or more; nil for
// any other write.
func quotaWarning(q meta.Quota, adding int64, percent int) *events.QuotaWarning {
	if percent <= 0 || adding <= 0 || q.LimitBytes <= 0 {
		return nil
	}
	// The share of the limit, rounded up, without overflowing for any limit.
	p := int64(percent)
	at := q.LimitBytes/100*p + (q.LimitBytes%100*p+99)/100
	if q.UsedBytes >= at || q.UsedBytes+adding < at {
		return nil
	}
	return &events.QuotaWarning{Percent: percent, LimitBytes: q.LimitBytes, UsedBytes: q.UsedBytes + adding}
}

// checkBlobQuota checks the quota for linking blob b into repo: a blob the
// namespace already holds adds nothing.
func (r *Registry) checkBlobQuota(ctx context.Context, tx meta.Tx, repo string, b meta.Blob) (*events.QuotaWarning, error) {
	if _, err := tx.Quota(ctx, oci.Namespace(repo)); errors.Is(err, meta.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	held, err := tx.NamespaceHoldsBlob(ctx, oci.Namespace(repo), b.Digest)
	if err != nil || held {
		return nil, err
	}
	w, err := r.checkQuota(ctx, tx, repo, b.Size)
	if w != nil {
		w.Digest = b.Digest
	}
	return w, err
}

// checkManifestQuota checks the quota for storing manifest m: a manifest
// the repository holds already adds nothing.
func (r *Registry) checkManifestQuota(ctx context.Context, tx meta.Tx, m meta.Manifest) (*events.QuotaWarning, error) {
	if _, err := tx.Quota(ctx, oci.Namespace(m.Repository)); errors.Is(err, meta.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if _, err := tx.Manifest(ctx, m.Repository, m.Digest); err == nil {
		return nil, nil
	} else if !errors.Is(err, meta.ErrNotFound) {
		return nil, err
	}
	w, err := r.checkQuota(ctx, tx, m.Repository, m.Size)
	if w != nil {
		w.Digest = m.Digest
	}
	return w, err
}

// appendWarning appends the event of quota warning w, if any, in tx.
func appendWarning(ctx context.Context, tx meta.Tx, repo string, w *events.QuotaWarning) error {
	if w == nil {
		return nil
	}
	return events.Append(ctx, tx, events.New(ctx, repo, w))
}

// lifecycleError turns a refusal of the checks above into DENIED, counting
// quota refusals of operation op and recording them as quota.exceeded
// events about repo (d and tag say what was refused), and returns any
// other error as it is.
func (r *Registry) lifecycleError(ctx context.Context, err error, op, repo string, d digest.Digest, tag string) error {
	var ie *immutableError
	if errors.As(err, &ie) {
		return apierr.New(apierr.Denied, "%s", ie.Error()).WithDetail(map[string]string{
			"tag":       ie.tag,
			"rule":      strconv.FormatInt(ie.rule.ID, 10),
			"namespace": ie.rule.Namespace,
			"pattern":   ie.rule.Pattern,
		})
	}
	var qe *policy.QuotaError
	if errors.As(err, &qe) {
		if r.hooks.QuotaRefused != nil {
			r.hooks.QuotaRefused(qe.Namespace, op)
		}
		if r.record != nil {
			r.record(events.New(ctx, repo, &events.QuotaExceeded{Operation: op, Digest: d, Tag: tag,
				LimitBytes: qe.Limit, UsedBytes: qe.Used, AddingBytes: qe.Adding}))
		}
		ae := apierr.New(apierr.Denied, "%s", qe.Error()).WithDetail(map[string]any{
			"namespace":   qe.Namespace,
			"limitBytes":  qe.Limit,
			"usedBytes":   qe.Used,
			"addingBytes": qe.Adding,
		})
		ae.Err = qe
		return ae
	}
	return err
}

// QuotaRefused reports whether err refused a write for a namespace's quota
// (which records a quota.exceeded event of its own).
func QuotaRefused(err error) bool {
	var qe *policy.QuotaError
	return errors.As(err, &qe)
}

// precheckBlobQuota runs the blob quota check outside a transaction before
// an upload's bytes are moved into place, so that a refused upload leaves
// no bytes behind. The check in the transaction is the one that counts.
func (r *Registry) precheckBlobQuota(ctx context.Context, repo string, b meta.Blob) error {
	ns := oci.Namespace(repo)
	q, err := r.meta.Quota(ctx, ns)
	if errors.Is(err, meta.ErrNotFound) {
		return nil
	}
	if err == nil {
		var held bool
		if held, err = r.meta.NamespaceHoldsBlob(ctx, ns, b.Digest); err == nil && held {
			return nil
		}
	}
	if err == nil {
		err = policy.CheckQuota(ns, q.LimitBytes, q.UsedBytes, b.Size)
	}
	if err != nil {
		return internal("check quota", r.lifecycleError(ctx, err, "upload", repo, b.Digest, ""))
	}
	return nil
}
