package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/wharf-dev/wharf/internal/oci"
)

// Blob uploads are wharf's own requests, not regclient's: regclient's
// chunked upload reads each chunk whole into memory before it sends it (so
// reading and sending never overlap) and hashes every byte it sends, which
// on a replication of a local blob cost the source more CPU than the whole
// push cost the target. Here every request streams its part of the blob
// from the caller's reader, nothing is hashed (the registry checks the
// digest it is given, and refuses a mismatch), and a reader that can send
// itself (the fs store's blob files: sendfile, or direct reads written
// straight to the socket) does so (see body.go). oras-go's auth client
// answers the registry's challenges (Basic, or the token flow).

const (
	// maxUploadFailures is how many failed requests in a row, with no
	// progress between them, end an upload.
	maxUploadFailures = 5
	// firstBackoff is the wait after the first failure; it doubles with
	// each further one, up to maxBackoff unless the registry asks for a
	// longer Retry-After (honoured up to maxRetryAfter).
	firstBackoff  = 200 * time.Millisecond
	maxBackoff    = 10 * time.Second
	maxRetryAfter = time.Minute
	// chunkMinHeader is the header in which a registry asks for chunks of
	// at least its size.
	chunkMinHeader = "OCI-Chunk-Min-Length"
)

// PutBlob uploads r as blob desc.Digest of repo; r must hold exactly
// desc.Size bytes, which the registry checks against the digest. The
// registry is first asked to mount the blob from wherever it holds it.
// Blobs larger than Options.ChunkSize go in chunks of that size, each
// acknowledged before the next; after a failure (a dropped connection, a
// 5xx, a 429) the upload goes on from what the registry says it holds,
// which needs r to be an io.Seeker when any of what was sent is to be
// sent again. A failed blob sent in one request goes on the same way.
func (c *Client) PutBlob(ctx context.Context, repo string, desc oci.Descriptor, r io.Reader) error {
	ctx, end := c.start(ctx)
	defer end()
	ctx = auth.AppendScopesForHost(ctx, c.host, auth.ScopeRepository(repo, auth.ActionPull, auth.ActionPush))
	u := &upload{c: c, repo: repo, desc: desc, src: r, chunk: c.chunkSize}
	if err := u.run(ctx); err != nil {
		return wrap(ctx, "upload blob "+desc.Digest.String()+" to "+repo, err)
	}
	return nil
}

// upload is the state of one blob upload.
type upload struct {
	c     *Client
	repo  string
	desc  oci.Descriptor
	src   io.Reader
	pos   int64 // the offset of src: bytes read from it
	chunk int64 // bytes per request; 0 or at least desc.Size: one request

	last    *blobBody // the body of the last request that had one
	noMount bool      // the registry refused a mount from any repository

	loc   *url.URL // the upload's location; nil before it starts
	off   int64    // bytes the registry acknowledged
	lost  bool     // a request failed: off is to be asked for again
	final bool     // a closing PUT was sent
	done  bool
}

func (u *upload) run(ctx context.Context) error {
	fails, best := 0, int64(0)
	for !u.done {
		err := u.step(ctx)
		if err == nil {
			if u.off > best {
				best, fails = u.off, 0
			}
			continue
		}
		if ctx.Err() != nil || !retriable(err) {
			return err
		}
		if fails++; fails >= maxUploadFailures {
			return fmt.Errorf("%d attempts failed, the last: %w", fails, err)
		}
		wait := min(firstBackoff<<(fails-1), maxBackoff)
		if ra := retryAfterOf(err); ra > 0 {
			wait = min(ra, maxRetryAfter)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		u.lost = u.loc != nil
	}
	return nil
}

// step makes the next request of the upload.
func (u *upload) step(ctx context.Context) error {
	size := u.desc.Size
	switch {
	case u.loc == nil:
		return u.begin(ctx)
	case u.lost:
		return u.status(ctx)
	case u.off == 0 && (u.chunk <= 0 || u.chunk >= size):
		return u.put(ctx, true)
	case u.off < size:
		n := size - u.off
		if u.chunk > 0 {
			n = min(n, u.chunk)
		}
		return u.patch(ctx, n)
	default:
		return u.put(ctx, false)
	}
}

// begin starts the upload, asking for a mount from any repository first
// (a registry that refuses the question is asked again without it).
func (u *upload) begin(ctx context.Context) error {
	ep := u.c.endpoint("/v2/" + u.repo + "/blobs/uploads/")
	if !u.noMount {
		ep.RawQuery = url.Values{"mount": {u.desc.Digest.String()}}.Encode()
	}
	resp, err := u.do(ctx, http.MethodPost, ep, nil, 0)
	if err != nil {
		return err
	}
	defer drain(resp)
	switch s := resp.StatusCode; {
	case s == http.StatusCreated:
		u.done = true
		return nil
	case s == http.StatusAccepted:
	case !u.noMount && s >= 400 && s < 500 && s != http.StatusUnauthorized && s != http.StatusTooManyRequests:
		u.noMount = true
		return u.begin(ctx)
	default:
		return responseError(resp)
	}
	if err := u.follow(resp); err != nil {
		return err
	}
	if u.loc == nil {
		return errors.New("the registry started an upload without a Location")
	}
	if v, err := strconv.ParseInt(resp.Header.Get(chunkMinHeader), 10, 64); err == nil && u.chunk > 0 && v > u.chunk {
		u.chunk = v
	}
	return nil
}

// status asks the registry how much of the upload it holds.
func (u *upload) status(ctx context.Context) error {
	resp, err := u.do(ctx, http.MethodGet, u.loc, nil, 0)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusNotFound && u.final {
		// The closing PUT may have been done, its answer lost.
		held, err := u.c.BlobExists(ctx, u.repo, u.desc.Digest)
		if err != nil {
			return err
		}
		if held {
			u.done = true
			return nil
		}
	}
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return responseError(resp)
	}
	end, ok, err := rangeEnd(resp.Header.Get("Range"))
	if err != nil {
		return err
	}
	u.off = 0
	if ok {
		u.off = end + 1
	}
	if u.off > u.desc.Size {
		return fmt.Errorf("the registry holds %d bytes of a blob of %d", u.off, u.desc.Size)
	}
	u.lost = false
	return u.follow(resp)
}

// patch sends the next n bytes.
func (u *upload) patch(ctx context.Context, n int64) error {
	body, err := u.body(ctx, n)
	if err != nil {
		return err
	}
	resp, err := u.do(ctx, http.MethodPatch, u.loc, body, n, "Content-Range", fmt.Sprintf("%d-%d", u.off, u.off+n-1))
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusCreated {
		return responseError(resp)
	}
	next := u.off + n
	if end, ok, err := rangeEnd(resp.Header.Get("Range")); err != nil {
		return err
	} else if ok {
		if end+1 > next {
			return fmt.Errorf("the registry holds %d bytes after %d were sent", end+1, next)
		}
		next = end + 1
	}
	u.off = next
	return u.follow(resp)
}

// put closes the upload with the blob's digest: with the whole blob as its
// body when whole, empty after the chunks.
func (u *upload) put(ctx context.Context, whole bool) error {
	ep := *u.loc // its query as the registry wrote it: some sign it
	if ep.RawQuery != "" {
		ep.RawQuery += "&"
	}
	ep.RawQuery += "digest=" + url.QueryEscape(u.desc.Digest.String())
	var body *blobBody
	var n int64
	if whole && u.desc.Size > 0 { // an empty blob goes with no body: net/http would send a length of 0 in chunks
		var err error
		if body, err = u.body(ctx, u.desc.Size); err != nil {
			return err
		}
		n = u.desc.Size
	}
	u.final = true
	resp, err := u.do(ctx, http.MethodPut, &ep, body, n)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
		return responseError(resp)
	}
	u.done = true
	return nil
}

// body is the body of a request that sends n bytes of src from u.off.
func (u *upload) body(ctx context.Context, n int64) (*blobBody, error) {
	return u.bodyAt(ctx, u.off, n)
}

// bodyAt is the body of a request that sends n bytes of src from off,
// once the body before it is closed: net/http may go on writing a body
// after the answer came (a registry that answered before it read it all),
// and the two would share src's offset.
func (u *upload) bodyAt(ctx context.Context, off, n int64) (*blobBody, error) {
	if u.last != nil {
		select {
		case <-u.last.closed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := u.seek(off); err != nil {
		return nil, err
	}
	u.last = newBlobBody(u.src, n, &u.pos)
	return u.last, nil
}

// seek puts src at offset off. A reader that cannot seek may go on only
// from where it is.
func (u *upload) seek(off int64) error {
	var err error
	if s, ok := u.src.(io.Seeker); ok {
		if _, err = s.Seek(off, io.SeekStart); err == nil {
			u.pos = off
			return nil
		}
	}
	if u.pos == off {
		return nil
	}
	if err == nil {
		err = errors.New("the blob's reader cannot seek")
	}
	return permanent{fmt.Errorf("go on with the upload from byte %d, the blob's reader at byte %d: %w", off, u.pos, err)}
}

// do sends a request of the upload, with the given header pairs, through
// the auth client, which answers the registry's challenges. A request
// with a body it must send again (with a fresh token) starts over from the
// same offset.
func (u *upload) do(ctx context.Context, method string, ep *url.URL, body *blobBody, n int64, header ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, ep.String(), nil)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return nil, permanent{err}
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Body, req.ContentLength = body, n
		start := u.off
		req.GetBody = func() (io.ReadCloser, error) { return u.bodyAt(ctx, start, n) }
	} else if method == http.MethodPut || method == http.MethodPatch {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	resp, err := u.c.up.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, ep.Path, err)
	}
	return resp, nil
}

// follow moves the upload to the Location resp names, if any.
func (u *upload) follow(resp *http.Response) error {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil
	}
	next, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return fmt.Errorf("the registry's upload location %q: %w", loc, err)
	}
	u.loc = next
	return nil
}

// endpoint is the registry's URL for path.
func (c *Client) endpoint(path string) *url.URL {
	return &url.URL{Scheme: c.scheme, Host: c.host, Path: path}
}

// rangeEnd reads the end of a Range header of an upload ("0-1023", or
// "bytes=0-1023"); ok is false when there is none, or when it is "0-0",
// which registries answer for an upload that holds nothing (and, the
// same, for one that holds a byte: an upload here never sends a first
// chunk of one byte).
func rangeEnd(h string) (end int64, ok bool, err error) {
	h = strings.TrimPrefix(h, "bytes=")
	if h == "" || h == "0-0" {
		return 0, false, nil
	}
	_, last, found := strings.Cut(h, "-")
	if !found {
		return 0, false, fmt.Errorf("the registry's upload Range %q is not start-end", h)
	}
	end, err = strconv.ParseInt(last, 10, 64)
	if err != nil || end < 0 {
		return 0, false, fmt.Errorf("the registry's upload Range %q is not start-end", h)
	}
	return end, true, nil
}

// permanent is a failure that trying again cannot mend.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// uploadError is an answer of the registry that failed a request.
type uploadError struct {
	method, path string
	status       int
	retryAfter   time.Duration
	body         string
}

func (e *uploadError) Error() string {
	s := fmt.Sprintf("%s %s: [http %d]", e.method, e.path, e.status)
	if e.body != "" {
		s += " " + e.body
	}
	return s
}

// responseError reads the answer that failed a request.
func responseError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return &uploadError{method: resp.Request.Method, path: resp.Request.URL.Path, status: resp.StatusCode,
		retryAfter: retryAfter(resp.Header), body: strings.TrimSpace(string(b))}
}

// retriable reports whether a failed request is worth another try: the
// registry (or its token server) could not be reached or dropped the
// connection, answered 5xx (not 501) or 429, or disagreed about the
// upload's range (416).
func retriable(err error) bool {
	var p permanent
	if errors.As(err, &p) {
		return false
	}
	var ue *uploadError
	if errors.As(err, &ue) {
		return ue.status == http.StatusRequestedRangeNotSatisfiable || retriableStatus(ue.status)
	}
	var te *errcode.ErrorResponse
	if errors.As(err, &te) {
		return retriableStatus(te.StatusCode)
	}
	var ne *url.Error
	return errors.As(err, &ne) // the transport's: a refused or dropped connection, a timeout
}

func retriableStatus(s int) bool {
	return s == http.StatusTooManyRequests || (s >= 500 && s != http.StatusNotImplemented)
}

func retryAfterOf(err error) time.Duration {
	var ue *uploadError
	if errors.As(err, &ue) {
		return ue.retryAfter
	}
	return 0
}

// drain reads what is left of a small answer, so that its connection can
// be used again, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
