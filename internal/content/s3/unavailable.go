package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/wharf-dev/wharf/internal/content"
)

// markUnavailable adds a step to every request of the client that wraps
// errors saying the store could not be reached or could not serve with
// content.ErrUnavailable. It sits outside the SDK's retries, so it sees
// only what is left once they have given up, and classifies every call in
// one place.
func markUnavailable(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("WharfUnavailable",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			return out, md, unavailable(err)
		}), middleware.Before)
}

// unavailable wraps err with content.ErrUnavailable when the store failed
// rather than refused the request.
func unavailable(err error) error {
	if err == nil || errors.Is(err, content.ErrUnavailable) || !storeFailed(err) {
		return err
	}
	return fmt.Errorf("%w: %w", content.ErrUnavailable, err)
}

// storeFailed reports whether err is a transport failure, a server error
// or throttling: something a later retry can get past. A 4xx other than
// throttling (a missing key, denied access, a missing bucket) is about the
// request or the configuration, and 501 says the store lacks a feature.
func storeFailed(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false // the caller gave up; nothing says the store is gone
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		code := status.HTTPStatusCode()
		if code >= 500 && code != http.StatusNotImplemented {
			return true
		}
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if _, ok := retry.DefaultThrottleErrorCodes[apiErr.ErrorCode()]; ok {
			return true // SlowDown and its kin, whatever the status
		}
	}
	// The SDK marks failures to send a request or read its answer.
	var conn interface{ ConnectionError() bool }
	if errors.As(err, &conn) && conn.ConnectionError() {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || // an answer cut short
		errors.Is(err, context.DeadlineExceeded) // no answer within the caller's deadline
}
