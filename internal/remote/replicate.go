package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/ref"

	"github.com/wharf-dev/wharf/internal/oci"
)

// What replication needs beyond export and import: asking for a manifest
// without its payload, deleting tags and manifests, and an error's reason
// in a line.

// HeadManifest asks for manifest ref (a tag or a digest) of repo without
// its payload: the cheap request that tells whether a tag moved (Docker
// Hub does not count it against its pull limit). The descriptor's digest
// is empty when the registry did not send one.
func (c *Client) HeadManifest(ctx context.Context, repo, reference string) (oci.Descriptor, error) {
	ctx, end := c.start(ctx)
	defer end()
	m, err := c.rc.ManifestHead(ctx, c.refAt(repo, reference))
	if err != nil {
		return oci.Descriptor{}, wrap(ctx, "check manifest "+repo+":"+reference, err)
	}
	desc := m.GetDescriptor()
	return oci.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}, nil
}

// refAt is repo's reference to a tag or a digest.
func (c *Client) refAt(repo, reference string) ref.Ref {
	if d, err := digest.Parse(reference); err == nil {
		return c.ref(repo).SetDigest(d.String())
	}
	return c.ref(repo).SetTag(reference)
}

// DeleteTag removes tag from repo, leaving the manifest it named. Where
// the registry cannot delete a tag by name, regclient points the tag at a
// manifest of its own and deletes that.
func (c *Client) DeleteTag(ctx context.Context, repo, tag string) error {
	ctx, end := c.start(ctx)
	defer end()
	if err := c.rc.TagDelete(ctx, c.ref(repo).SetTag(tag)); err != nil {
		return wrap(ctx, "delete tag "+repo+":"+tag, err)
	}
	return nil
}

// DeleteManifest removes manifest d of repo and every tag naming it.
func (c *Client) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	ctx, end := c.start(ctx)
	defer end()
	if err := c.rc.ManifestDelete(ctx, c.ref(repo).SetDigest(d.String())); err != nil {
		return wrap(ctx, "delete manifest "+repo+"@"+d.String(), err)
	}
	return nil
}

// Ping checks that the registry answers its API's base endpoint with the
// client's credentials.
func (c *Client) Ping(ctx context.Context) error {
	ctx, end := c.start(ctx)
	defer end()
	if _, err := c.rc.Ping(ctx, c.ref("")); err != nil {
		return wrap(ctx, "reach "+c.host, err)
	}
	return nil
}

// Reason is err in one short line for a log a person reads: the
// registry's own error code and message when it sent the distribution
// API's error JSON ("DENIED: quota exceeded"), with the HTTP status, and
// the error's text otherwise.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if i := strings.Index(s, `{"errors":`); i >= 0 {
		var body struct {
			Errors []struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"errors"`
		}
		if json.NewDecoder(strings.NewReader(s[i:])).Decode(&body) == nil && len(body.Errors) > 0 {
			e := body.Errors[0]
			out := e.Code
			if e.Message != "" {
				out += ": " + e.Message
			}
			if status := httpStatus(s[:i]); status != "" {
				out += " (" + status + ")"
			}
			return out
		}
	}
	if errors.Is(err, errs.ErrHTTPUnauthorized) {
		return "the registry refused the credentials or the access (" + httpStatus(s) + "): " + s
	}
	return s
}

// httpStatus finds regclient's "[http NNN]" in s.
func httpStatus(s string) string {
	i := strings.LastIndex(s, "[http ")
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], "]")
	if j < 0 {
		return ""
	}
	return fmt.Sprintf("HTTP %s", strings.TrimPrefix(s[i:i+j], "[http "))
}
