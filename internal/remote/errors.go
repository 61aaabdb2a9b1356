package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/regclient/regclient/types/errs"
)

// What went wrong with a call, as sentinels the errors of [Client] wrap.
var (
	// ErrNotFound: the registry has no such repository, manifest or blob.
	ErrNotFound = errors.New("not found on the remote registry")
	// ErrDenied: the registry refused the credentials, or refused access
	// with them (401 or 403 after its token flow).
	ErrDenied = errors.New("the remote registry refused access")
	// ErrRateLimited: the registry answered 429; see [RetryAfter].
	ErrRateLimited = errors.New("the remote registry is rate limiting")
	// ErrUnavailable: the registry could not be reached (refused
	// connection, unknown host, broken TLS, a timeout) or answered 5xx.
	ErrUnavailable = errors.New("the remote registry is unavailable")
)

// StatusError is the answer that ended a call: a status of 429 or 5xx,
// with the Retry-After the registry sent.
type StatusError struct {
	Status     int
	RetryAfter time.Duration // 0 when the registry did not say
	sentinel   error
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%v: HTTP %d", e.sentinel, e.Status)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(", retry after %s", e.RetryAfter)
	}
	return s
}

func (e *StatusError) Unwrap() error { return e.sentinel }

// RetryAfter returns how long the registry asked to wait before the next
// request, from the error of a call it rate limited; 0 if it did not say.
func RetryAfter(err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// callKey is the context key of a [call].
type callKey struct{}

// call follows one method of [Client] through the requests regclient makes
// for it (a token request, retries), so that the failure that ended it is
// known for what it was, and, with FailFast, ends it at once.
type call struct {
	cancel   context.CancelCauseFunc
	failFast bool

	mu   sync.Mutex
	last error // the last failure seen: a transport error or a status of 400 or more
}

// start begins a call: the returned context carries it, and end must be
// called when the call, or the stream it returned, is done.
func (c *Client) start(ctx context.Context) (_ context.Context, end func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	return context.WithValue(ctx, callKey{}, &call{cancel: cancel, failFast: c.failFast}), func() { cancel(nil) }
}

// observer is the transport under regclient: it sees every response and
// transport error of a call, remembers the last failure, and with FailFast
// ends the call at the first one worth no retry, with it as the cause.
type observer struct{ next http.RoundTripper }

func (o observer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(req)
	c, ok := req.Context().Value(callKey{}).(*call)
	if !ok {
		return resp, err
	}
	var failure error
	retry := false // worth another try in the same call
	switch {
	case err != nil:
		if req.Context().Err() != nil {
			return resp, err // the caller gave up
		}
		failure = fmt.Errorf("%w: %w", ErrUnavailable, err)
	case resp.StatusCode == http.StatusTooManyRequests:
		failure = &StatusError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header), sentinel: ErrRateLimited}
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		failure = &StatusError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header), sentinel: ErrUnavailable}
	case resp.StatusCode == http.StatusUnauthorized:
		// The first 401 starts the token flow; a later one is a refusal.
		failure, retry = fmt.Errorf("%w: HTTP %d", ErrDenied, resp.StatusCode), true
	case resp.StatusCode == http.StatusForbidden:
		failure = fmt.Errorf("%w: HTTP %d", ErrDenied, resp.StatusCode)
	case resp.StatusCode == http.StatusNotFound:
		failure, retry = fmt.Errorf("%w: HTTP %d", ErrNotFound, resp.StatusCode), true
	case resp.StatusCode >= 400:
		failure, retry = fmt.Errorf("the remote registry answered HTTP %d", resp.StatusCode), true
	default:
		c.mu.Lock()
		c.last = nil // a failure before it, such as the 401 that starts the token flow, is over
		c.mu.Unlock()
		return resp, err
	}
	c.mu.Lock()
	c.last = failure
	c.mu.Unlock()
	if c.failFast && !retry {
		c.cancel(failure)
	}
	return resp, err
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t).Round(time.Second), 0)
	}
	return 0
}

// wrap classifies the error of a call made under ctx by the last failure
// the transport saw (which, with FailFast, is what ended the call), or, if
// it saw none, by regclient's error; the cause is kept. A call the
// caller's context ended says so.
func wrap(ctx context.Context, op string, err error) error {
	if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
		return fmt.Errorf("%s: %w", op, cause) // ended by the observer
	}
	var last error
	if c, ok := ctx.Value(callKey{}).(*call); ok {
		c.mu.Lock()
		last = c.last
		c.mu.Unlock()
	}
	if ctx.Err() != nil {
		if last != nil {
			return fmt.Errorf("%s: %w (the last answer: %w)", op, err, last)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	switch {
	case errors.Is(err, errs.ErrNotFound):
		return fmt.Errorf("%s: %w: %w", op, ErrNotFound, err)
	case last != nil:
		return fmt.Errorf("%s: %w (%w)", op, last, err)
	case unreachable(err):
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unreachable reports whether err is a failure to reach the registry at
// all: the network, DNS or TLS.
func unreachable(err error) bool {
	var ne net.Error
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	return errors.As(err, &ne) || errors.As(err, &dnsErr) || errors.As(err, &opErr) ||
		errors.As(err, &certErr) || errors.As(err, &unknownCA)
}

// newTransport is the HTTP transport of a client: Go's default one, with
// connections that let blob bodies send themselves (body.go), the
// registry's certificate authority (a file, or PEM text) added to the
// system's and as many idle connections kept as requests may be in
// flight.
func newTransport(caFile, caPEM string, maxConcurrent int) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialSendConn()
	tr.MaxIdleConnsPerHost = max(maxConcurrent, http.DefaultMaxIdleConnsPerHost)
	if caFile == "" && caPEM == "" {
		return tr, nil
	}
	pem := []byte(caPEM)
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("registry CA file: %w", err)
		}
		pem = append(b, pem...)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("registry CA: no PEM certificate in it")
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}
