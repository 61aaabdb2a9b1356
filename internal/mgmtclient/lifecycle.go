package mgmtclient

import (
	"context"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// ImmutabilityRules lists the immutability rules of namespace ns.
func (c *Client) ImmutabilityRules(ctx context.Context, ns string) ([]mgmt.ImmutabilityRule, error) {
	var out mgmt.List[mgmt.ImmutabilityRule]
	err := c.do(ctx, "GET", "/namespaces/"+seg(ns)+"/immutability-rules", nil, nil, &out)
	return out.Items, err
}

// AddImmutabilityRule makes the tags of ns matching pattern immutable.
func (c *Client) AddImmutabilityRule(ctx context.Context, ns, pattern string) (mgmt.ImmutabilityRule, error) {
	var out mgmt.ImmutabilityRule
	err := c.do(ctx, "POST", "/namespaces/"+seg(ns)+"/immutability-rules", nil, mgmt.ImmutabilityRuleCreate{Pattern: pattern}, &out)
	return out, err
}

// DeleteImmutabilityRule removes rule id of ns.
func (c *Client) DeleteImmutabilityRule(ctx context.Context, ns, id string) error {
	return c.do(ctx, "DELETE", "/namespaces/"+seg(ns)+"/immutability-rules/"+seg(id), nil, nil, nil)
}

// RetentionPolicies lists the retention policies the caller manages.
func (c *Client) RetentionPolicies(ctx context.Context) ([]mgmt.RetentionPolicy, error) {
	var out mgmt.List[mgmt.RetentionPolicy]
	err := c.do(ctx, "GET", "/retention-policies", nil, nil, &out)
	return out.Items, err
}

// RetentionPolicy returns policy id.
func (c *Client) RetentionPolicy(ctx context.Context, id string) (mgmt.RetentionPolicy, error) {
	var out mgmt.RetentionPolicy
	err := c.do(ctx, "GET", "/retention-policies/"+seg(id), nil, nil, &out)
	return out, err
}

// CreateRetentionPolicy stores p and returns it with its id.
func (c *Client) CreateRetentionPolicy(ctx context.Context, p mgmt.RetentionPolicy) (mgmt.RetentionPolicy, error) {
	var out mgmt.RetentionPolicy
	err := c.do(ctx, "POST", "/retention-policies", nil, p, &out)
	return out, err
}

// UpdateRetentionPolicy replaces policy id with p.
func (c *Client) UpdateRetentionPolicy(ctx context.Context, id string, p mgmt.RetentionPolicy) (mgmt.RetentionPolicy, error) {
	var out mgmt.RetentionPolicy
	err := c.do(ctx, "PUT", "/retention-policies/"+seg(id), nil, p, &out)
	return out, err
}

// DeleteRetentionPolicy removes policy id.
func (c *Client) DeleteRetentionPolicy(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/retention-policies/"+seg(id), nil, nil, nil)
}

// PreviewRetentionPolicy reports what stored policy id alone would delete.
func (c *Client) PreviewRetentionPolicy(ctx context.Context, id string) (mgmt.RetentionReport, error) {
	var out mgmt.RetentionReport
	err := c.do(ctx, "POST", "/retention-policies/"+seg(id)+"/preview", nil, nil, &out)
	return out, err
}

// PreviewRetention reports what policy p, not stored, would delete.
func (c *Client) PreviewRetention(ctx context.Context, p mgmt.RetentionPolicy) (mgmt.RetentionReport, error) {
	var out mgmt.RetentionReport
	err := c.do(ctx, "POST", "/retention/preview", nil, p, &out)
	return out, err
}

// RunRetention runs every policy now, or reports what they would delete.
func (c *Client) RunRetention(ctx context.Context, dryRun bool) (mgmt.RetentionReport, error) {
	var out mgmt.RetentionReport
	err := c.do(ctx, "POST", "/retention/run", nil, mgmt.RetentionRun{DryRun: dryRun}, &out)
	return out, err
}

// Quotas lists every quota.
func (c *Client) Quotas(ctx context.Context) ([]mgmt.Quota, error) {
	var out mgmt.List[mgmt.Quota]
	err := c.do(ctx, "GET", "/quotas", nil, nil, &out)
	return out.Items, err
}

// Quota returns the quota of ns.
func (c *Client) Quota(ctx context.Context, ns string) (mgmt.Quota, error) {
	var out mgmt.Quota
	err := c.do(ctx, "GET", "/namespaces/"+seg(ns)+"/quota", nil, nil, &out)
	return out, err
}

// SetQuota sets the quota of ns to limit bytes.
func (c *Client) SetQuota(ctx context.Context, ns string, limit int64) (mgmt.Quota, error) {
	var out mgmt.Quota
	err := c.do(ctx, "PUT", "/namespaces/"+seg(ns)+"/quota", nil, mgmt.QuotaPut{LimitBytes: limit}, &out)
	return out, err
}

// DeleteQuota removes the quota of ns.
func (c *Client) DeleteQuota(ctx context.Context, ns string) error {
	return c.do(ctx, "DELETE", "/namespaces/"+seg(ns)+"/quota", nil, nil, nil)
}

// Usage returns what ns and its repositories hold and served.
func (c *Client) Usage(ctx context.Context, ns string) (mgmt.NamespaceUsage, error) {
	var out mgmt.NamespaceUsage
	err := c.do(ctx, "GET", "/namespaces/"+seg(ns)+"/usage", nil, nil, &out)
	return out, err
}

// RepositoryUsage returns what repo holds and served, and its tags' pulls.
func (c *Client) RepositoryUsage(ctx context.Context, repo string) (mgmt.RepositoryUsageDetail, error) {
	var out mgmt.RepositoryUsageDetail
	err := c.do(ctx, "GET", "/repositories/"+repoPath(repo)+"/usage", nil, nil, &out)
	return out, err
}

// StorageUsage returns what the whole registry and each namespace hold.
func (c *Client) StorageUsage(ctx context.Context) (mgmt.StorageUsage, error) {
	var out mgmt.StorageUsage
	err := c.do(ctx, "GET", "/usage", nil, nil, &out)
	return out, err
}
