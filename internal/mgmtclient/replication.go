package mgmtclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// ReplicationRules lists the replication rules.
func (c *Client) ReplicationRules(ctx context.Context) ([]mgmt.ReplicationRule, error) {
	var out mgmt.List[mgmt.ReplicationRule]
	err := c.do(ctx, http.MethodGet, "/replication/rules", nil, nil, &out)
	return out.Items, err
}

// ReplicationRule returns rule id.
func (c *Client) ReplicationRule(ctx context.Context, id string) (mgmt.ReplicationRule, error) {
	var out mgmt.ReplicationRule
	err := c.do(ctx, http.MethodGet, "/replication/rules/"+seg(id), nil, nil, &out)
	return out, err
}

// CreateReplicationRule stores a rule and returns it with its id.
func (c *Client) CreateReplicationRule(ctx context.Context, in mgmt.ReplicationRulePut) (mgmt.ReplicationRule, error) {
	var out mgmt.ReplicationRule
	err := c.do(ctx, http.MethodPost, "/replication/rules", nil, in, &out)
	return out, err
}

// UpdateReplicationRule replaces rule id.
func (c *Client) UpdateReplicationRule(ctx context.Context, id string, in mgmt.ReplicationRulePut) (mgmt.ReplicationRule, error) {
	var out mgmt.ReplicationRule
	err := c.do(ctx, http.MethodPut, "/replication/rules/"+seg(id), nil, in, &out)
	return out, err
}

// DeleteReplicationRule removes rule id with its runs.
func (c *Client) DeleteReplicationRule(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/replication/rules/"+seg(id), nil, nil, nil)
}

// RunReplicationRule queues a run of rule id now.
func (c *Client) RunReplicationRule(ctx context.Context, id string) (mgmt.ReplicationRun, error) {
	var out mgmt.ReplicationRun
	err := c.do(ctx, http.MethodPost, "/replication/rules/"+seg(id)+"/run", nil, nil, &out)
	return out, err
}

// ReplicationRuns lists at most n runs, of rule id when it is not "",
// newest first.
func (c *Client) ReplicationRuns(ctx context.Context, rule string, n int) ([]mgmt.ReplicationRun, error) {
	q := url.Values{"n": {strconv.Itoa(n)}}
	if rule != "" {
		q.Set("rule", rule)
	}
	var out mgmt.List[mgmt.ReplicationRun]
	err := c.do(ctx, http.MethodGet, "/replication/runs", q, nil, &out)
	return out.Items, err
}

// ReplicationRun returns run id.
func (c *Client) ReplicationRun(ctx context.Context, id string) (mgmt.ReplicationRun, error) {
	var out mgmt.ReplicationRun
	err := c.do(ctx, http.MethodGet, "/replication/runs/"+seg(id), nil, nil, &out)
	return out, err
}

// ReplicationLog returns the whole log of run id.
func (c *Client) ReplicationLog(ctx context.Context, id string) ([]mgmt.ReplicationLogLine, error) {
	return all[mgmt.ReplicationLogLine](ctx, c, "/replication/runs/"+seg(id)+"/log", "after", nil)
}
