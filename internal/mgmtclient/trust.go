package mgmtclient

import (
	"context"
	"net/url"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// KeySet returns the key set of namespace ns.
func (c *Client) KeySet(ctx context.Context, ns string) (mgmt.KeySet, error) {
	var out mgmt.KeySet
	err := c.do(ctx, "GET", "/namespaces/"+seg(ns)+"/trust", nil, nil, &out)
	return out, err
}

// SetKeySet makes keySet (a trust.KeySetConfig as JSON) what ns trusts.
func (c *Client) SetKeySet(ctx context.Context, ns string, keySet any) (mgmt.KeySet, error) {
	var out mgmt.KeySet
	err := c.do(ctx, "PUT", "/namespaces/"+seg(ns)+"/trust", nil, keySet, &out)
	return out, err
}

// DeleteKeySet removes the key set of ns.
func (c *Client) DeleteKeySet(ctx context.Context, ns string) error {
	return c.do(ctx, "DELETE", "/namespaces/"+seg(ns)+"/trust", nil, nil, nil)
}

// ImagePolicy returns the image policy of namespace ns.
func (c *Client) ImagePolicy(ctx context.Context, ns string) (mgmt.ImagePolicy, error) {
	var out mgmt.ImagePolicy
	err := c.do(ctx, "GET", "/namespaces/"+seg(ns)+"/image-policy", nil, nil, &out)
	return out, err
}

// SetImagePolicy makes p (a policy.ImagePolicy as JSON) the image policy
// of ns.
func (c *Client) SetImagePolicy(ctx context.Context, ns string, p any) (mgmt.ImagePolicy, error) {
	var out mgmt.ImagePolicy
	err := c.do(ctx, "PUT", "/namespaces/"+seg(ns)+"/image-policy", nil, p, &out)
	return out, err
}

// DeleteImagePolicy removes the image policy of ns.
func (c *Client) DeleteImagePolicy(ctx context.Context, ns string) error {
	return c.do(ctx, "DELETE", "/namespaces/"+seg(ns)+"/image-policy", nil, nil, nil)
}

// CheckImage says what the image policy of namespace (repo's own when "")
// makes of image reference (a tag or digest) of repo.
func (c *Client) CheckImage(ctx context.Context, repo, reference, namespace string) (mgmt.PolicyCheck, error) {
	var q url.Values
	if namespace != "" {
		q = url.Values{"namespace": {namespace}}
	}
	var out mgmt.PolicyCheck
	err := c.do(ctx, "GET", "/repositories/"+repoPath(repo)+"/manifests/"+seg(reference)+"/check", q, nil, &out)
	return out, err
}
