package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// manifestAccept is sent with every manifest request: registries answer a
// request that does not accept a manifest's media type with 404 or a
// converted manifest, neither of which is what the benchmark means to time.
var manifestAccept = strings.Join([]string{
	mediaTypeImageManifest,
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
}, ", ")

// Client speaks the OCI distribution API to one registry, anonymously or with
// HTTP basic auth. It holds no per-request state and is safe for concurrent use.
type Client struct {
	base     *url.URL
	hc       *http.Client
	username string
	password string
}

// NewClient returns a Client for the registry at rawURL (scheme and host, such
// as http://127.0.0.1:5000). A comma-separated list names replicas of one
// registry: requests then go to each in turn, round-robin, so that chunks of
// one upload and the pulls after a push land on different replicas. Username
// and password, when set, are sent as basic auth on every request.
func NewClient(rawURL, username, password string) (*Client, error) {
	var hosts []string
	var u *url.URL
	for _, raw := range strings.Split(rawURL, ",") {
		r, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(raw), "/"))
		if err != nil {
			return nil, fmt.Errorf("registry url: %w", err)
		}
		if (r.Scheme != "http" && r.Scheme != "https") || r.Host == "" {
			return nil, fmt.Errorf("registry url %q: want http://host:port or https://host:port", raw)
		}
		if u == nil {
			u = r
		}
		hosts = append(hosts, r.Host)
	}
	tr := &http.Transport{
		// No proxy from the environment: the numbers are the registry's alone.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute, // a 1 GiB commit may verify for a while
		DisableCompression:    true,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
	}
	var rt http.RoundTripper = tr
	if len(hosts) > 1 {
		rt = &roundRobin{next: tr, hosts: hosts}
	}
	return &Client{base: u, hc: &http.Client{Transport: rt}, username: username, password: password}, nil
}

// roundRobin sends each request to the next replica in turn.
type roundRobin struct {
	next  http.RoundTripper
	hosts []string
	n     atomic.Uint64
}

func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	host := rr.hosts[(rr.n.Add(1)-1)%uint64(len(rr.hosts))]
	if req.URL.Host == host {
		return rr.next.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.URL.Host, r.Host = host, ""
	return rr.next.RoundTrip(r)
}

// StatusError is a registry response with a status the call did not expect.
// It carries the start of the body, where registries put their error codes.
type StatusError struct {
	Method string
	URL    string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// isNotFound reports whether err is a 404 from the registry.
func isNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == http.StatusNotFound
}

// endpoint returns the absolute URL of a /v2 path under the registry.
func (c *Client) endpoint(path string, query url.Values) *url.URL {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	return &u
}

// newRequest builds a request with a known body length (0 for no body).
func (c *Client) newRequest(ctx context.Context, method string, u *url.URL, body io.Reader, n int64) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = n
	if n == 0 {
		req.Body = http.NoBody
	}
	if c.username != "" || c.password != "" {
		req.SetBasicAuth(c.username, c.password)
	}
	return req, nil
}

// do sends req and returns the response when its status is want; otherwise it
// returns a *StatusError with the start of the body. On success the caller
// closes the body.
func (c *Client) do(req *http.Request, want int) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == want {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return nil, &StatusError{
		Method: req.Method,
		URL:    req.URL.Redacted(),
		Status: resp.StatusCode,
		Body:   strings.TrimSpace(strings.ToValidUTF8(string(body), string(utf8.RuneError))),
	}
}

// discard reads the rest of a response body and closes it, so the connection
// goes back to the pool.
func discard(resp *http.Response) (int64, error) {
	n, err := io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// location returns the upload URL a registry sent in the Location header of
// resp, resolved against the request it answered.
func location(resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("%s %s: %d without a Location header", resp.Request.Method, resp.Request.URL.Redacted(), resp.StatusCode)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("%s %s: Location %q: %w", resp.Request.Method, resp.Request.URL.Redacted(), loc, err)
	}
	return resp.Request.URL.ResolveReference(u), nil
}

// StartUpload opens a blob upload session in repo and returns its URL.
func (c *Client) StartUpload(ctx context.Context, repo string) (*url.URL, error) {
	req, err := c.newRequest(ctx, http.MethodPost, c.endpoint("/v2/"+repo+"/blobs/uploads/", nil), nil, 0)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req, http.StatusAccepted)
	if err != nil {
		return nil, fmt.Errorf("start upload: %w", err)
	}
	if _, err := discard(resp); err != nil {
		return nil, fmt.Errorf("start upload: %w", err)
	}
	return location(resp)
}

// PatchChunk sends the n bytes of body as the chunk at offset start of the
// upload at loc and returns the upload's next URL.
func (c *Client) PatchChunk(ctx context.Context, loc *url.URL, body io.Reader, start, n int64) (*url.URL, error) {
	req, err := c.newRequest(ctx, http.MethodPatch, loc, body, n)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, start+n-1))
	resp, err := c.do(req, http.StatusAccepted)
	if err != nil {
		return nil, fmt.Errorf("upload chunk at %d: %w", start, err)
	}
	if _, err := discard(resp); err != nil {
		return nil, fmt.Errorf("upload chunk at %d: %w", start, err)
	}
	return location(resp)
}

// FinishUpload commits the upload at loc as blob dgst, sending the n bytes of
// body (none when n is 0) as its last part.
func (c *Client) FinishUpload(ctx context.Context, loc *url.URL, dgst string, body io.Reader, n int64) error {
	u := *loc
	q := u.Query()
	q.Set("digest", dgst)
	u.RawQuery = q.Encode()
	req, err := c.newRequest(ctx, http.MethodPut, &u, body, n)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.do(req, http.StatusCreated)
	if err != nil {
		return fmt.Errorf("commit blob %s: %w", dgst, err)
	}
	_, err = discard(resp)
	return err
}

// PushBlob uploads the n bytes of body as blob dgst in repo: a POST, then a
// single PUT carrying all the bytes.
func (c *Client) PushBlob(ctx context.Context, repo, dgst string, body io.Reader, n int64) error {
	loc, err := c.StartUpload(ctx, repo)
	if err != nil {
		return err
	}
	return c.FinishUpload(ctx, loc, dgst, body, n)
}

// HeadBlob returns the size the registry reports for blob dgst in repo.
func (c *Client) HeadBlob(ctx context.Context, repo, dgst string) (int64, error) {
	req, err := c.newRequest(ctx, http.MethodHead, c.endpoint("/v2/"+repo+"/blobs/"+dgst, nil), nil, 0)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(req, http.StatusOK)
	if err != nil {
		return 0, err
	}
	_, err = discard(resp)
	return resp.ContentLength, err
}

// GetBlob streams blob dgst of repo into w and returns the bytes copied.
func (c *Client) GetBlob(ctx context.Context, repo, dgst string, w io.Writer) (int64, error) {
	req, err := c.newRequest(ctx, http.MethodGet, c.endpoint("/v2/"+repo+"/blobs/"+dgst, nil), nil, 0)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(req, http.StatusOK)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.CopyBuffer(w, resp.Body, make([]byte, 1<<20))
	if err != nil {
		return n, fmt.Errorf("get blob %s: after %d bytes: %w", dgst, n, err)
	}
	return n, nil
}

// PutManifest pushes payload as the manifest ref (a tag or digest) of repo.
func (c *Client) PutManifest(ctx context.Context, repo, ref, mediaType string, payload []byte) error {
	req, err := c.newRequest(ctx, http.MethodPut, c.endpoint("/v2/"+repo+"/manifests/"+ref, nil), bytes.NewReader(payload), int64(len(payload)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := c.do(req, http.StatusCreated)
	if err != nil {
		return fmt.Errorf("put manifest %s:%s: %w", repo, ref, err)
	}
	_, err = discard(resp)
	return err
}

// Manifest sends a HEAD or GET for manifest ref of repo and returns the
// number of bytes the registry says (HEAD) or sent (GET).
func (c *Client) Manifest(ctx context.Context, method, repo, ref string) (int64, error) {
	req, err := c.newRequest(ctx, method, c.endpoint("/v2/"+repo+"/manifests/"+ref, nil), nil, 0)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := c.do(req, http.StatusOK)
	if err != nil {
		return 0, err
	}
	n, err := discard(resp)
	if method == http.MethodHead {
		n = resp.ContentLength
	}
	return n, err
}
