// Package remote reaches a registry over the OCI distribution API: another
// wharf, or any registry. It is a thin layer over regclient, the one client
// library wharf uses to talk to registries (see docs/design.md), shaped by
// what wharf needs: manifests as descriptors and payloads, blobs as streams,
// referrers through the referrers API, and not-found told apart from
// failure.
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/scheme"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/manifest"
	"github.com/regclient/regclient/types/ref"

	"github.com/wharf-dev/wharf/internal/oci"
)

// ErrNotFound is returned, wrapped, when the registry has no such
// repository, manifest or blob.
var ErrNotFound = errors.New("not found on the remote registry")

// Options says which registry to reach and how.
type Options struct {
	// URL is the registry's base URL, http:// or https://host[:port].
	URL string
	// Username and Password log in with Basic credentials (a password or,
	// with wharf, an access token); the registry's token flow is followed.
	// Empty for anonymous access.
	Username string
	Password string
	// CAFile, if set, is a PEM file with the certificate authority that
	// signed the registry's certificate, besides the system's.
	CAFile string
	// CACert, if set, is that certificate authority as PEM text.
	CACert string
	// UserAgent names the caller in the registry's logs.
	UserAgent string
	Logger    *slog.Logger
	// ChunkSize, if positive, sends blobs larger than it in chunks of
	// that size, each acknowledged before the next, so that a failure
	// resumes from the last chunk the registry holds rather than from the
	// start; a chunk is held in memory while it is sent. 0 sends every
	// blob in one request.
	ChunkSize int64
}

// Client is a connection to one registry. It is safe for concurrent use.
type Client struct {
	rc   *regclient.RegClient
	host string
}

// New returns a Client for the registry o.URL names.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("registry URL %q: want http:// or https://host[:port]", o.URL)
	}
	h := config.Host{Name: u.Host, Hostname: u.Host, User: o.Username, Pass: o.Password, TLS: config.TLSEnabled}
	if u.Scheme == "http" {
		h.TLS = config.TLSDisabled
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("registry CA file: %w", err)
		}
		h.RegCert = string(pem)
	}
	if o.CACert != "" {
		h.RegCert = o.CACert
	}
	opts := []regclient.Opt{regclient.WithConfigHost(h), regclient.WithRetryLimit(3)}
	if o.ChunkSize > 0 {
		opts = append(opts, regclient.WithBlobSize(o.ChunkSize, o.ChunkSize))
	}
	if o.UserAgent != "" {
		opts = append(opts, regclient.WithUserAgent(o.UserAgent))
	}
	if o.Logger != nil {
		opts = append(opts, regclient.WithSlog(o.Logger))
	}
	return &Client{rc: regclient.New(opts...), host: u.Host}, nil
}

// Host is the registry's host[:port].
func (c *Client) Host() string { return c.host }

func (c *Client) ref(repo string) ref.Ref {
	return ref.Ref{Scheme: "reg", Registry: c.host, Repository: repo, Reference: c.host + "/" + repo}
}

// wrap turns regclient's not-found into ErrNotFound, keeping the cause.
func wrap(op string, err error) error {
	if errors.Is(err, errs.ErrNotFound) {
		return fmt.Errorf("%s: %w: %w", op, ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Repositories lists the repositories the catalog shows whose names are
// prefix or start with prefix + "/"; every repository when prefix is "".
func (c *Client) Repositories(ctx context.Context, prefix string) ([]string, error) {
	const page = 1000
	var out []string
	last := ""
	for {
		opts := []scheme.RepoOpts{scheme.WithRepoLimit(page)}
		if last != "" {
			opts = append(opts, scheme.WithRepoLast(last))
		}
		rl, err := c.rc.RepoList(ctx, c.host, opts...)
		if err != nil {
			return nil, wrap("list repositories", err)
		}
		names, err := rl.GetRepos()
		if err != nil {
			return nil, wrap("list repositories", err)
		}
		for _, n := range names {
			if prefix == "" || n == prefix || strings.HasPrefix(n, prefix+"/") {
				out = append(out, n)
			}
		}
		if len(names) < page || names[len(names)-1] <= last {
			return out, nil
		}
		last = names[len(names)-1]
	}
}

// Tags lists the tags of repo.
func (c *Client) Tags(ctx context.Context, repo string) ([]string, error) {
	tl, err := c.rc.TagList(ctx, c.ref(repo))
	if err != nil {
		return nil, wrap("list tags of "+repo, err)
	}
	tags, err := tl.GetTags()
	if err != nil {
		return nil, wrap("list tags of "+repo, err)
	}
	return tags, nil
}

// Manifest fetches manifest ref (a tag or a digest) of repo and returns its
// descriptor and payload. The payload's digest is checked.
func (c *Client) Manifest(ctx context.Context, repo, reference string) (oci.Descriptor, []byte, error) {
	r := c.ref(repo)
	if d, err := digest.Parse(reference); err == nil {
		r = r.SetDigest(d.String())
	} else {
		r = r.SetTag(reference)
	}
	m, err := c.rc.ManifestGet(ctx, r)
	if err != nil {
		return oci.Descriptor{}, nil, wrap("get manifest "+repo+":"+reference, err)
	}
	raw, err := m.RawBody()
	if err != nil {
		return oci.Descriptor{}, nil, wrap("get manifest "+repo+":"+reference, err)
	}
	desc := m.GetDescriptor()
	got := digest.FromBytes(raw)
	if desc.Digest != "" && desc.Digest.Algorithm() != digest.Canonical {
		got = desc.Digest.Algorithm().FromBytes(raw)
	}
	if (desc.Digest != "" && got != desc.Digest) || (r.Digest != "" && got.String() != r.Digest) {
		return oci.Descriptor{}, nil, fmt.Errorf("get manifest %s:%s: the registry sent a payload with digest %s, not %s", repo, reference, got, desc.Digest)
	}
	return oci.Descriptor{MediaType: manifest.GetMediaType(m), Digest: got, Size: int64(len(raw))}, raw, nil
}

// Referrers lists the manifests of repo whose subject is d.
func (c *Client) Referrers(ctx context.Context, repo string, d digest.Digest) ([]oci.Descriptor, error) {
	rl, err := c.rc.ReferrerList(ctx, c.ref(repo).SetDigest(d.String()))
	if err != nil {
		return nil, wrap("list referrers of "+repo+"@"+d.String(), err)
	}
	out := make([]oci.Descriptor, 0, len(rl.Descriptors))
	for _, rd := range rl.Descriptors {
		out = append(out, oci.Descriptor{MediaType: rd.MediaType, ArtifactType: rd.ArtifactType, Digest: rd.Digest, Size: rd.Size, Annotations: rd.Annotations})
	}
	return out, nil
}

// OpenBlob streams blob d of repo. The caller checks the bytes' digest.
func (c *Client) OpenBlob(ctx context.Context, repo string, d digest.Digest) (io.ReadCloser, error) {
	br, err := c.rc.BlobGet(ctx, c.ref(repo), descriptor.Descriptor{Digest: d})
	if err != nil {
		return nil, wrap("get blob "+d.String()+" of "+repo, err)
	}
	return br, nil
}

// BlobExists reports whether repo holds blob d.
func (c *Client) BlobExists(ctx context.Context, repo string, d digest.Digest) (bool, error) {
	br, err := c.rc.BlobHead(ctx, c.ref(repo), descriptor.Descriptor{Digest: d})
	if errors.Is(err, errs.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, wrap("check blob "+d.String()+" of "+repo, err)
	}
	_ = br.Close()
	return true, nil
}

// MountBlob links blob d of repository from into repo without moving its
// bytes; ErrNotFound if the registry would not mount it.
func (c *Client) MountBlob(ctx context.Context, repo, from string, d digest.Digest) error {
	err := c.rc.BlobMount(ctx, c.ref(from), c.ref(repo), descriptor.Descriptor{Digest: d})
	if errors.Is(err, errs.ErrMountReturnedLocation) {
		return fmt.Errorf("mount blob %s into %s: %w", d, repo, ErrNotFound)
	}
	if err != nil {
		return wrap("mount blob "+d.String()+" into "+repo, err)
	}
	return nil
}

// PutBlob uploads r as blob desc.Digest of repo; r must hold exactly
// desc.Size bytes, which the registry checks against the digest.
func (c *Client) PutBlob(ctx context.Context, repo string, desc oci.Descriptor, r io.Reader) error {
	_, err := c.rc.BlobPut(ctx, c.ref(repo), descriptor.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}, r)
	if err != nil {
		return wrap("upload blob "+desc.Digest.String()+" to "+repo, err)
	}
	return nil
}

// PutManifest uploads payload as manifest desc of repo, under tag when tag
// is not empty and by its digest otherwise.
func (c *Client) PutManifest(ctx context.Context, repo, tag string, desc oci.Descriptor, payload []byte) error {
	m, err := manifest.New(manifest.WithRaw(payload), manifest.WithDesc(descriptor.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}))
	if err != nil {
		return fmt.Errorf("put manifest %s of %s: %w", desc.Digest, repo, err)
	}
	r := c.ref(repo).SetDigest(desc.Digest.String())
	if tag != "" {
		r = c.ref(repo).SetTag(tag)
	}
	if err := c.rc.ManifestPut(ctx, r, m); err != nil {
		return wrap("put manifest "+desc.Digest.String()+" of "+repo, err)
	}
	return nil
}
