package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/policy"
)

// The lifecycle records are managed through the registry so that each is
// validated by package policy before it is stored: bad input gets
// INVALID_REQUEST naming the field, and changes nothing.

func invalid(err error) error { return apierr.Wrap(apierr.RequestInvalid, err) }

func unknownRecord(format string, args ...any) error {
	return apierr.New(apierr.NotFound, format, args...)
}

// AddImmutabilityRule validates and stores rule, returning it with its ID.
func (r *Registry) AddImmutabilityRule(ctx context.Context, rule policy.ImmutabilityRule) (policy.ImmutabilityRule, error) {
	if err := rule.Validate(); err != nil {
		return policy.ImmutabilityRule{}, invalid(err)
	}
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		var err error
		rule.ID, err = tx.AddImmutabilityRule(ctx, meta.ImmutabilityRule{
			Namespace: rule.Namespace, Pattern: rule.Pattern, CreatedAt: time.Now().UTC(),
		})
		if err != nil {
			return err
		}
		return policyChanged(ctx, tx, events.PolicyImmutability, events.ChangeCreated, rule.ID, rule.Namespace, rule.Pattern)
	})
	if errors.Is(err, meta.ErrConflict) {
		return policy.ImmutabilityRule{}, apierr.New(apierr.Conflict, "namespace %s already has an immutability rule %q", rule.Namespace, rule.Pattern)
	}
	if err != nil {
		return policy.ImmutabilityRule{}, internal("add immutability rule", err)
	}
	return rule, nil
}

// ImmutabilityRules lists the rules of namespace, or of all when it is "".
func (r *Registry) ImmutabilityRules(ctx context.Context, namespace string) ([]policy.ImmutabilityRule, error) {
	rules, err := r.meta.ImmutabilityRules(ctx, namespace)
	if err != nil {
		return nil, internal("list immutability rules", err)
	}
	return policyRules(rules), nil
}

// DeleteImmutabilityRule removes rule id.
func (r *Registry) DeleteImmutabilityRule(ctx context.Context, id int64) error {
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		rules, err := tx.ImmutabilityRules(ctx, "")
		if err != nil {
			return err
		}
		i := slices.IndexFunc(rules, func(r meta.ImmutabilityRule) bool { return r.ID == id })
		if i < 0 {
			return meta.ErrNotFound
		}
		if err := tx.DeleteImmutabilityRule(ctx, id); err != nil {
			return err
		}
		return policyChanged(ctx, tx, events.PolicyImmutability, events.ChangeDeleted, id, rules[i].Namespace, rules[i].Pattern)
	})
	if errors.Is(err, meta.ErrNotFound) {
		return unknownRecord("no immutability rule %d", id)
	}
	if err != nil {
		return internal("delete immutability rule", err)
	}
	return nil
}

// AddRetentionPolicy validates and stores p, returning it with its ID.
func (r *Registry) AddRetentionPolicy(ctx context.Context, p policy.RetentionPolicy) (policy.RetentionPolicy, error) {
	if err := p.Validate(); err != nil {
		return policy.RetentionPolicy{}, invalid(err)
	}
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		rec, err := encodePolicy(p)
		if err != nil {
			return err
		}
		if p.ID, err = tx.AddRetentionPolicy(ctx, rec); err != nil {
			return err
		}
		return policyChanged(ctx, tx, events.PolicyRetention, events.ChangeCreated, p.ID, p.Scope, string(rec.Rules))
	})
	if err != nil {
		return policy.RetentionPolicy{}, internal("add retention policy", err)
	}
	return p, nil
}

// UpdateRetentionPolicy validates p and replaces policy p.ID with it.
func (r *Registry) UpdateRetentionPolicy(ctx context.Context, p policy.RetentionPolicy) error {
	if err := p.Validate(); err != nil {
		return invalid(err)
	}
	rec, err := encodePolicy(p)
	if err != nil {
		return internal("update retention policy", err)
	}
	err = r.meta.Update(ctx, func(tx meta.Tx) error {
		if err := tx.UpdateRetentionPolicy(ctx, rec); err != nil {
			return err
		}
		return policyChanged(ctx, tx, events.PolicyRetention, events.ChangeUpdated, p.ID, p.Scope, string(rec.Rules))
	})
	if errors.Is(err, meta.ErrNotFound) {
		return unknownRecord("no retention policy %d", p.ID)
	}
	if err != nil {
		return internal("update retention policy", err)
	}
	return nil
}

// RetentionPolicies lists every retention policy.
func (r *Registry) RetentionPolicies(ctx context.Context) ([]policy.RetentionPolicy, error) {
	recs, err := r.meta.RetentionPolicies(ctx)
	if err != nil {
		return nil, internal("list retention policies", err)
	}
	return decodePolicies(recs)
}

// RetentionPolicy returns policy id.
func (r *Registry) RetentionPolicy(ctx context.Context, id int64) (policy.RetentionPolicy, error) {
	rec, err := r.meta.RetentionPolicy(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return policy.RetentionPolicy{}, unknownRecord("no retention policy %d", id)
	}
	if err != nil {
		return policy.RetentionPolicy{}, internal("get retention policy", err)
	}
	ps, err := decodePolicies([]meta.RetentionPolicy{rec})
	if err != nil {
		return policy.RetentionPolicy{}, err
	}
	return ps[0], nil
}

// DeleteRetentionPolicy removes policy id.
func (r *Registry) DeleteRetentionPolicy(ctx context.Context, id int64) error {
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		old, err := tx.RetentionPolicy(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteRetentionPolicy(ctx, id); err != nil {
			return err
		}
		return policyChanged(ctx, tx, events.PolicyRetention, events.ChangeDeleted, id, old.Scope, "")
	})
	if errors.Is(err, meta.ErrNotFound) {
		return unknownRecord("no retention policy %d", id)
	}
	if err != nil {
		return internal("delete retention policy", err)
	}
	return nil
}

func encodePolicy(p policy.RetentionPolicy) (meta.RetentionPolicy, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return meta.RetentionPolicy{}, err
	}
	return meta.RetentionPolicy{ID: p.ID, Scope: p.Scope, Rules: b}, nil
}

func decodePolicies(recs []meta.RetentionPolicy) ([]policy.RetentionPolicy, error) {
	out := make([]policy.RetentionPolicy, 0, len(recs))
	for _, rec := range recs {
		var p policy.RetentionPolicy
		if err := json.Unmarshal(rec.Rules, &p); err != nil {
			return nil, internal("decode retention policy", fmt.Errorf("policy %d: %w", rec.ID, err))
		}
		p.ID, p.Scope = rec.ID, rec.Scope
		out = append(out, p)
	}
	return out, nil
}

// SetQuota sets the quota of namespace to limit bytes. A quota below what
// the namespace holds refuses further growth but removes nothing.
func (r *Registry) SetQuota(ctx context.Context, namespace string, limit int64) error {
	if err := policy.ValidateQuota(namespace, limit); err != nil {
		return invalid(err)
	}
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		if err := tx.SetQuota(ctx, meta.Quota{Namespace: namespace, LimitBytes: limit, UpdatedAt: time.Now().UTC()}); err != nil {
			return err
		}
		return policyChanged(ctx, tx, events.PolicyQuota, events.ChangeUpdated, 0, namespace, strconv.FormatInt(limit, 10))
	})
	if err == nil {
		// Counted in a transaction of its own, after the quota is visible:
		// a push committing meanwhile is either counted here or by the
		// store as it links (see meta.LifecycleWriter.RecountQuota).
		err = r.meta.Update(ctx, func(tx meta.Tx) error { return tx.RecountQuota(ctx, namespace) })
	}
	if err != nil {
		return internal("set quota", err)
	}
	return nil
}

// Quotas lists every quota.
func (r *Registry) Quotas(ctx context.Context) ([]meta.Quota, error) {
	qs, err := r.meta.Quotas(ctx)
	if err != nil {
		return nil, internal("list quotas", err)
	}
	return qs, nil
}

// DeleteQuota removes the quota of namespace.
func (r *Registry) DeleteQuota(ctx context.Context, namespace string) error {
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		if err := tx.DeleteQuota(ctx, namespace); err != nil {
			return err
		}
		return policyChanged(ctx, tx, events.PolicyQuota, events.ChangeDeleted, 0, namespace, "")
	})
	if errors.Is(err, meta.ErrNotFound) {
		return unknownRecord("namespace %s has no quota", namespace)
	}
	if err != nil {
		return internal("delete quota", err)
	}
	return nil
}

// policyChanged appends, in tx, the event of a change to a lifecycle
// record whose scope is a namespace or a retention scope.
func policyChanged(ctx context.Context, tx meta.Tx, kind, change string, id int64, scope, rule string) error {
	ns, _, _ := strings.Cut(scope, "/")
	e := events.New(ctx, "", &events.PolicyChanged{Policy: kind, Change: change, ID: id, Scope: scope, Rule: rule}).InNamespace(ns)
	return events.Append(ctx, tx, e)
}
