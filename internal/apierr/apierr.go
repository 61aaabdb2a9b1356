// Package apierr is the one table of the errors wharf reports to clients: each
// [Code] carries its wire name, its HTTP status and a default message. Lower
// layers return or wrap these (or sentinels the edge maps to them); the HTTP
// packages translate them once, into OCI error JSON on /v2 and problem JSON on
// /api/v1.
package apierr

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Code is one kind of error clients can see.
type Code struct {
	Name    string // wire name, e.g. BLOB_UNKNOWN
	Status  int    // HTTP status
	Message string // default human message
}

// The OCI distribution-spec codes, plus the few distribution added that clients
// know (UNAVAILABLE, TOOMANYREQUESTS, RANGE_INVALID, UNKNOWN).
var (
	BlobUnknown         = Code{"BLOB_UNKNOWN", http.StatusNotFound, "blob unknown to registry"}
	BlobUploadInvalid   = Code{"BLOB_UPLOAD_INVALID", http.StatusBadRequest, "blob upload invalid"}
	BlobUploadUnknown   = Code{"BLOB_UPLOAD_UNKNOWN", http.StatusNotFound, "blob upload unknown to registry"}
	DigestInvalid       = Code{"DIGEST_INVALID", http.StatusBadRequest, "provided digest did not match uploaded content"}
	ManifestBlobUnknown = Code{"MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest, "manifest references a manifest or blob unknown to registry"}
	ManifestInvalid     = Code{"MANIFEST_INVALID", http.StatusBadRequest, "manifest invalid"}
	ManifestUnknown     = Code{"MANIFEST_UNKNOWN", http.StatusNotFound, "manifest unknown to registry"}
	NameInvalid         = Code{"NAME_INVALID", http.StatusBadRequest, "invalid repository name"}
	NameUnknown         = Code{"NAME_UNKNOWN", http.StatusNotFound, "repository name not known to registry"}
	SizeInvalid         = Code{"SIZE_INVALID", http.StatusBadRequest, "provided length did not match content length"}
	TagInvalid          = Code{"TAG_INVALID", http.StatusBadRequest, "manifest tag did not match URI"}
	Unauthorized        = Code{"UNAUTHORIZED", http.StatusUnauthorized, "authentication required"}
	Denied              = Code{"DENIED", http.StatusForbidden, "requested access to the resource is denied"}
	Unsupported         = Code{"UNSUPPORTED", http.StatusMethodNotAllowed, "the operation is unsupported"}
	UnsupportedMedia    = Code{"MANIFEST_INVALID", http.StatusUnsupportedMediaType, "unsupported manifest media type"}
	TooManyRequests     = Code{"TOOMANYREQUESTS", http.StatusTooManyRequests, "too many requests"}
	RangeInvalid        = Code{"RANGE_INVALID", http.StatusRequestedRangeNotSatisfiable, "invalid content range"}
	TooLarge            = Code{"SIZE_INVALID", http.StatusRequestEntityTooLarge, "request body too large"}
	Unavailable         = Code{"UNAVAILABLE", http.StatusServiceUnavailable, "service unavailable"}
	Unknown             = Code{"UNKNOWN", http.StatusInternalServerError, "unknown error"}
)

// Error is a [Code] with an optional message and detail for one occurrence.
type Error struct {
	Code    Code
	Message string // overrides Code.Message when set
	Detail  any    // JSON-encodable detail, e.g. the offending digest
	Err     error  // the cause, for logs; never shown to clients
	// RetryAfter, when set, is how long the client should wait before
	// trying again (a Retry-After header): what an upstream registry that
	// rate limits a pull-through cache asked for, say.
	RetryAfter time.Duration
}

// New returns an Error of code c with a message.
func New(c Code, format string, args ...any) *Error {
	msg := c.Message
	if format != "" {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: c, Message: msg}
}

// Wrap returns an Error of code c whose message is err's text and whose cause is err.
func Wrap(c Code, err error) *Error {
	return &Error{Code: c, Message: err.Error(), Err: err}
}

// WithRetryAfter sets RetryAfter and returns e.
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	e.RetryAfter = d
	return e
}

// WithDetail sets the detail and returns e.
func (e *Error) WithDetail(d any) *Error {
	e.Detail = d
	return e
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Code.Message
	}
	return e.Code.Name + ": " + msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// From finds the *Error in err's chain, or wraps err as Unknown.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Unknown, Message: Unknown.Message, Err: err}
}

// Is reports whether err carries code c.
func Is(err error, c Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == c
}

// Codes beyond the distribution spec's table.
var (
	PaginationInvalid = Code{"PAGINATION_NUMBER_INVALID", http.StatusBadRequest, "invalid number of results requested"}
	// RouteUnknown is a path the management API does not serve.
	RouteUnknown = Code{"NOT_FOUND", http.StatusNotFound, "no such endpoint"}
	// EndpointUnknown is a /v2 path the distribution API does not define.
	// The code is the spec's UNSUPPORTED; the status is 404, not
	// UNSUPPORTED's usual 405, because clients probe optional endpoints
	// (the referrers API, extensions) and fall back on a 404.
	EndpointUnknown = Code{"UNSUPPORTED", http.StatusNotFound, "no such endpoint in the OCI distribution API"}
	// TokenRequestInvalid is a request to the token endpoint that does not
	// follow the Docker token specification.
	TokenRequestInvalid = Code{"TOKEN_REQUEST_INVALID", http.StatusBadRequest, "invalid token request"}
)

// Codes of the management API (/api/v1), written as problem JSON. Refusals
// of authentication and authorisation, overload and outages reuse
// [Unauthorized], [Denied], [TooManyRequests] and [Unavailable].
var (
	RequestInvalid   = Code{"INVALID_REQUEST", http.StatusBadRequest, "the request is invalid"}
	NotFound         = Code{"NOT_FOUND", http.StatusNotFound, "no such resource"}
	Conflict         = Code{"CONFLICT", http.StatusConflict, "the resource exists already or was changed"}
	MethodNotAllowed = Code{"METHOD_NOT_ALLOWED", http.StatusMethodNotAllowed, "method not allowed on this resource"}
)
