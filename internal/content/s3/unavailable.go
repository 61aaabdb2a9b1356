package s3

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/wharf-dev/wharf/internal/content/objects"
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
func unavailable(err error) error { return objects.Unavailable(err, storeFailed) }

// storeFailed reports whether S3 answered that it failed or is throttling:
// a 5xx other than 501, or SlowDown and its kin whatever the status, or the
// SDK marked the request as not sent or its answer as not read.
func storeFailed(err error) bool {
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && objects.FailedStatus(status.HTTPStatusCode()) {
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if _, ok := retry.DefaultThrottleErrorCodes[apiErr.ErrorCode()]; ok {
			return true
		}
	}
	var conn interface{ ConnectionError() bool }
	return errors.As(err, &conn) && conn.ConnectionError()
}
