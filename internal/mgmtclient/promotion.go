package mgmtclient

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
)

// The promotion calls return the server's JSON as it is: the CLI prints
// it, and its shape is the OpenAPI document's (PromotionResult,
// PromotionRecord, PromotionPending, PromotionPolicy).

// Promote asks for the promotion of source to target (at remote, if not
// "").
func (c *Client) Promote(ctx context.Context, source, target, remote string) (json.RawMessage, error) {
	var out json.RawMessage
	in := map[string]string{"source": source, "target": target}
	if remote != "" {
		in["remote"] = remote
	}
	err := c.do(ctx, "POST", "/promotions", nil, in, &out)
	return out, err
}

// ApprovePromotion approves promotion request id.
func (c *Client) ApprovePromotion(ctx context.Context, id int64, comment string) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, "POST", "/promotion-requests/"+strconv.FormatInt(id, 10)+"/approve", nil, map[string]string{"comment": comment}, &out)
	return out, err
}

// PromotionRequests lists promotion requests in state ("" for all).
func (c *Client) PromotionRequests(ctx context.Context, state string) (json.RawMessage, error) {
	var out json.RawMessage
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	err := c.do(ctx, "GET", "/promotion-requests", q, nil, &out)
	return out, err
}

// Promotions lists promotion records; q holds the query's filters
// (namespace, repository, digest, tag, result, before, n).
func (c *Client) Promotions(ctx context.Context, q url.Values) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, "GET", "/promotions", q, nil, &out)
	return out, err
}

// Promotion returns promotion record id.
func (c *Client) Promotion(ctx context.Context, id string) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, "GET", "/promotions/"+seg(id), nil, nil, &out)
	return out, err
}

// PromotionPolicy returns the promotion policy of namespace ns.
func (c *Client) PromotionPolicy(ctx context.Context, ns string) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, "GET", "/namespaces/"+seg(ns)+"/promotion-policy", nil, nil, &out)
	return out, err
}

// SetPromotionPolicy replaces the promotion policy of namespace ns with
// policy, a JSON document.
func (c *Client) SetPromotionPolicy(ctx context.Context, ns string, policy json.RawMessage) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, "PUT", "/namespaces/"+seg(ns)+"/promotion-policy", nil, policy, &out)
	return out, err
}

// DeletePromotionPolicy removes the promotion policy of namespace ns.
func (c *Client) DeletePromotionPolicy(ctx context.Context, ns string) error {
	return c.do(ctx, "DELETE", "/namespaces/"+seg(ns)+"/promotion-policy", nil, nil, nil)
}

// NetworkRules returns the network rules of namespace ns.
func (c *Client) NetworkRules(ctx context.Context, ns string) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, "GET", "/namespaces/"+seg(ns)+"/network-rules", nil, nil, &out)
	return out, err
}

// SetNetworkRules replaces the network rules of namespace ns.
func (c *Client) SetNetworkRules(ctx context.Context, ns string, pull, push []string) (json.RawMessage, error) {
	var out json.RawMessage
	if pull == nil {
		pull = []string{}
	}
	if push == nil {
		push = []string{}
	}
	err := c.do(ctx, "PUT", "/namespaces/"+seg(ns)+"/network-rules", nil, map[string][]string{"pull": pull, "push": push}, &out)
	return out, err
}
