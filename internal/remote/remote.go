// Package remote reaches a registry over the OCI distribution API: another
// wharf, or any registry. It is a thin layer over regclient, the one client
// library wharf uses to talk to registries (see docs/design.md), shaped by
// what wharf needs: manifests as descriptors and payloads, blobs as streams,
// referrers through the referrers API, and failures told apart (see
// errors.go): not found, refused credentials, rate limited, unreachable.
//
// Export and import, and the pull-through cache, use it; replication and
// promotion to a remote registry are meant to.
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/scheme"
	"github.com/regclient/regclient/scheme/reg"
	"github.com/regclient/regclient/types/blob"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/manifest"
	"github.com/regclient/regclient/types/ref"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/wharf-dev/wharf/internal/oci"
)

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
	// that size, each a request of its own, acknowledged before the next,
	// so that after a failure what the registry acknowledged is not sent
	// again. Chunks stream from the blob's reader, which is not held in
	// memory. 0 sends every blob in one request (see PutBlob).
	ChunkSize int64
	// MaxConcurrent bounds the requests in flight to the registry at once;
	// a blob being read holds one until it is closed. 0 means 3,
	// regclient's default, which suits a one-off copy; a server that
	// streams many blobs at once needs more. Blob uploads (PutBlob) are
	// not counted: their callers bound them (replication by a rule's
	// concurrency).
	MaxConcurrent int
	// FailFast makes a request fail at once when the registry cannot be
	// reached or answers 429 or 5xx, with an error saying so (and the
	// Retry-After it asked for), instead of being retried after a delay:
	// for a caller that has something else to serve meanwhile. Without it
	// such requests are retried up to three times with backoff.
	FailFast bool
}

// Client is a connection to one registry. It is safe for concurrent use.
type Client struct {
	rc   *regclient.RegClient
	host string
	// failFast: see Options.FailFast; every call then runs under a
	// context the transport cancels on the first such answer.
	failFast bool
	tr       *http.Transport
	// up sends blob uploads (upload.go), answering the registry's
	// challenges itself; scheme is the registry's http or https.
	up        *auth.Client
	scheme    string
	chunkSize int64
}

// New returns a Client for the registry o.URL names.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("registry URL %q: want http:// or https://host[:port]", o.URL)
	}
	h := config.Host{Name: u.Host, Hostname: u.Host, User: o.Username, Pass: o.Password, TLS: config.TLSEnabled,
		ReqConcurrent: int64(o.MaxConcurrent)}
	if u.Scheme == "http" {
		h.TLS = config.TLSDisabled
	}
	tr, err := newTransport(o.CAFile, o.CACert, o.MaxConcurrent)
	if err != nil {
		return nil, err
	}
	regOpts := []reg.Opts{reg.WithHTTPClient(&http.Client{Transport: observer{tr}}), reg.WithRetryLimit(3)}
	if o.FailFast {
		// Failures end the call at once (see observer); what remains
		// retried is the token flow's second request.
		regOpts = append(regOpts, reg.WithDelay(50*time.Millisecond, time.Second))
	}
	opts := []regclient.Opt{regclient.WithConfigHost(h), regclient.WithRegOpts(regOpts...)}
	if o.UserAgent != "" {
		opts = append(opts, regclient.WithUserAgent(o.UserAgent))
	}
	if o.Logger != nil {
		opts = append(opts, regclient.WithSlog(o.Logger))
	}
	up := &auth.Client{Client: &http.Client{Transport: observer{tr}}, Cache: auth.NewCache(),
		Credential: auth.StaticCredential(u.Host, auth.Credential{Username: o.Username, Password: o.Password})}
	if o.UserAgent != "" {
		up.SetUserAgent(o.UserAgent)
	}
	return &Client{rc: regclient.New(opts...), host: u.Host, failFast: o.FailFast, tr: tr,
		up: up, scheme: u.Scheme, chunkSize: max(o.ChunkSize, 0)}, nil
}

// CloseIdleConnections closes the connections to the registry that no
// request is using, for a client no longer needed.
func (c *Client) CloseIdleConnections() { c.tr.CloseIdleConnections() }

// Host is the registry's host[:port].
func (c *Client) Host() string { return c.host }

func (c *Client) ref(repo string) ref.Ref {
	return ref.Ref{Scheme: "reg", Registry: c.host, Repository: repo, Reference: c.host + "/" + repo}
}

// Repositories lists the repositories the catalog shows whose names are
// prefix or start with prefix + "/"; every repository when prefix is "".
func (c *Client) Repositories(ctx context.Context, prefix string) ([]string, error) {
	ctx, end := c.start(ctx)
	defer end()
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
			return nil, wrap(ctx, "list repositories", err)
		}
		names, err := rl.GetRepos()
		if err != nil {
			return nil, wrap(ctx, "list repositories", err)
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
	ctx, end := c.start(ctx)
	defer end()
	tl, err := c.rc.TagList(ctx, c.ref(repo))
	if err != nil {
		return nil, wrap(ctx, "list tags of "+repo, err)
	}
	tags, err := tl.GetTags()
	if err != nil {
		return nil, wrap(ctx, "list tags of "+repo, err)
	}
	return tags, nil
}

// Manifest fetches manifest ref (a tag or a digest) of repo and returns its
// descriptor and payload. The payload's digest is checked.
func (c *Client) Manifest(ctx context.Context, repo, reference string) (oci.Descriptor, []byte, error) {
	ctx, end := c.start(ctx)
	defer end()
	r := c.refAt(repo, reference)
	m, err := c.rc.ManifestGet(ctx, r)
	if err != nil {
		return oci.Descriptor{}, nil, wrap(ctx, "get manifest "+repo+":"+reference, err)
	}
	raw, err := m.RawBody()
	if err != nil {
		return oci.Descriptor{}, nil, wrap(ctx, "get manifest "+repo+":"+reference, err)
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
	ctx, end := c.start(ctx)
	defer end()
	rl, err := c.rc.ReferrerList(ctx, c.ref(repo).SetDigest(d.String()))
	if err != nil {
		return nil, wrap(ctx, "list referrers of "+repo+"@"+d.String(), err)
	}
	out := make([]oci.Descriptor, 0, len(rl.Descriptors))
	for _, rd := range rl.Descriptors {
		out = append(out, oci.Descriptor{MediaType: rd.MediaType, ArtifactType: rd.ArtifactType, Digest: rd.Digest, Size: rd.Size, Annotations: rd.Annotations})
	}
	return out, nil
}

// OpenBlob streams blob d of repo. The caller checks the bytes' digest.
func (c *Client) OpenBlob(ctx context.Context, repo string, d digest.Digest) (io.ReadCloser, error) {
	rc, _, err := c.GetBlob(ctx, repo, oci.Descriptor{Digest: d})
	return rc, err
}

// GetBlob streams blob desc.Digest of repo and returns its size: desc.Size
// when set, which the registry's Content-Length must then agree with, or
// the registry's Content-Length, or -1 when it sent none. The stream ends
// with an error if the registry sends more than that, or less after
// regclient's attempts to resume it with range requests. The caller checks
// the bytes' digest.
func (c *Client) GetBlob(ctx context.Context, repo string, desc oci.Descriptor) (io.ReadCloser, int64, error) {
	ctx, end := c.start(ctx)
	br, err := c.rc.BlobGet(ctx, c.ref(repo), descriptor.Descriptor{Digest: desc.Digest, Size: desc.Size})
	if err != nil {
		end()
		return nil, 0, wrap(ctx, "get blob "+desc.Digest.String()+" of "+repo, err)
	}
	size := br.GetDescriptor().Size
	if size == 0 && br.RawHeaders().Get("Content-Length") != "0" {
		size = -1
	}
	return &blobReader{r: br, c: br, ctx: ctx, end: end, op: "read blob " + desc.Digest.String() + " of " + repo}, size, nil
}

// GetBlobStream is [Client.GetBlob] for a caller that hashes every byte
// itself and has its own way to resume a broken transfer (the pull-through
// cache): the body as the registry sends it, without regclient hashing
// every byte a second time nor trying to resume with range requests. A
// body shorter than the registry's Content-Length ends with
// [io.ErrUnexpectedEOF].
func (c *Client) GetBlobStream(ctx context.Context, repo string, desc oci.Descriptor) (io.ReadCloser, int64, error) {
	rc, size, err := c.GetBlob(ctx, repo, desc)
	if err != nil {
		return nil, 0, err
	}
	b := rc.(*blobReader)
	if br, ok := b.r.(*blob.BReader); ok && br.Response() != nil && br.Response().Body != nil {
		// Closing br closes this body and ends the request.
		b.r = br.Response().Body
	}
	return b, size, nil
}

// blobReader is a blob being read, with its call: errors are classified
// like those of the call that opened it, and closing it ends the call.
type blobReader struct {
	r   io.Reader
	c   io.Closer
	ctx context.Context
	end func()
	op  string
}

func (b *blobReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = wrap(b.ctx, b.op, err)
	}
	return n, err
}

func (b *blobReader) Close() error {
	err := b.c.Close()
	b.end()
	return err
}

// StatBlob returns the size of blob d of repo, asking with HEAD.
func (c *Client) StatBlob(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	ctx, end := c.start(ctx)
	defer end()
	br, err := c.rc.BlobHead(ctx, c.ref(repo), descriptor.Descriptor{Digest: d})
	if err != nil {
		return 0, wrap(ctx, "check blob "+d.String()+" of "+repo, err)
	}
	_ = br.Close()
	return br.GetDescriptor().Size, nil
}

// BlobExists reports whether repo holds blob d.
func (c *Client) BlobExists(ctx context.Context, repo string, d digest.Digest) (bool, error) {
	_, err := c.StatBlob(ctx, repo, d)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// MountBlob links blob d of repository from into repo without moving its
// bytes; ErrNotFound if the registry would not mount it.
func (c *Client) MountBlob(ctx context.Context, repo, from string, d digest.Digest) error {
	ctx, end := c.start(ctx)
	defer end()
	err := c.rc.BlobMount(ctx, c.ref(from), c.ref(repo), descriptor.Descriptor{Digest: d})
	if errors.Is(err, errs.ErrMountReturnedLocation) {
		return fmt.Errorf("mount blob %s into %s: %w", d, repo, ErrNotFound)
	}
	if err != nil {
		return wrap(ctx, "mount blob "+d.String()+" into "+repo, err)
	}
	return nil
}

// PutManifest uploads payload as manifest desc of repo, under tag when tag
// is not empty and by its digest otherwise.
func (c *Client) PutManifest(ctx context.Context, repo, tag string, desc oci.Descriptor, payload []byte) error {
	ctx, end := c.start(ctx)
	defer end()
	m, err := manifest.New(manifest.WithRaw(payload), manifest.WithDesc(descriptor.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}))
	if err != nil {
		return fmt.Errorf("put manifest %s of %s: %w", desc.Digest, repo, err)
	}
	r := c.ref(repo).SetDigest(desc.Digest.String())
	if tag != "" {
		r = c.ref(repo).SetTag(tag)
	}
	if err := c.rc.ManifestPut(ctx, r, m); err != nil {
		return wrap(ctx, "put manifest "+desc.Digest.String()+" of "+repo, err)
	}
	return nil
}
