package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/wharf-dev/wharf/internal/content"
)

// Unavailable wraps err with content.ErrUnavailable when the store failed
// rather than refused the request: when storeFailed says so of the store's
// own answer, or when err is a failure of the transport. Each driver
// classifies its errors with it once its client's retries have given up.
func Unavailable(err error, storeFailed func(error) bool) error {
	if err == nil || errors.Is(err, content.ErrUnavailable) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err // the caller gave up; nothing says the store is gone
	}
	if !storeFailed(err) && !transportFailed(err) {
		return err
	}
	return fmt.Errorf("%w: %w", content.ErrUnavailable, err)
}

// transportFailed reports whether err says no answer came: a network
// error, an answer cut short, or none within the caller's deadline.
func transportFailed(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded)
}

// FailedStatus reports whether an HTTP status code says the store failed
// or is throttling, something a later retry can get past: 5xx other than
// 501 (the store lacks a feature), and 429. Any other 4xx is about the
// request or the configuration (a missing key, denied access, a missing
// bucket).
func FailedStatus(code int) bool {
	return (code >= 500 && code != http.StatusNotImplemented) || code == http.StatusTooManyRequests
}
