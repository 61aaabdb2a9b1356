package access

import (
	"errors"
	"fmt"

	"github.com/wharf-dev/wharf/internal/meta"
)

// The kinds of refusal of an account operation. Each comes as an [*Error]
// whose message says what was refused and why, in words for the caller;
// errors.Is tells the kind. The HTTP edges translate them: problem JSON on
// /api/v1 (403, 400, 404, 409), OCI error JSON on /v2. Any other error is a
// failure of the store (meta.ErrUnavailable when it is unreachable) and is
// returned wrapped.
var (
	// ErrDenied: the caller may not do it.
	ErrDenied = errors.New("denied")
	// ErrInvalid: the input breaks a rule (a name, a password, a role, a
	// scope, an expiry), or the change would (an administrator demoting
	// themselves).
	ErrInvalid = errors.New("invalid")
	// ErrNotFound: what the operation names does not exist, or the caller
	// may not see it.
	ErrNotFound = errors.New("not found")
	// ErrConflict: it exists already, or the change would leave the
	// registry without what it needs (its last administrator, its last
	// signing key).
	ErrConflict = errors.New("conflict")
)

// Error is a refusal of an account operation.
type Error struct {
	Kind    error // ErrDenied, ErrInvalid, ErrNotFound or ErrConflict
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the kind, for errors.Is.
func (e *Error) Unwrap() error { return e.Kind }

func newError(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func denied(format string, args ...any) error   { return newError(ErrDenied, format, args...) }
func invalid(format string, args ...any) error  { return newError(ErrInvalid, format, args...) }
func notFound(format string, args ...any) error { return newError(ErrNotFound, format, args...) }
func conflict(format string, args ...any) error { return newError(ErrConflict, format, args...) }

// storeError translates what the store said of what: not found and
// conflict become refusals saying what, anything else is wrapped with it.
func storeError(err error, what string) error {
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return err
	case errors.Is(err, meta.ErrNotFound):
		return notFound("%s not found", what)
	case errors.Is(err, meta.ErrConflict):
		return conflict("%s exists already", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// truncate cuts what a caller sent to a length fit for a message.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
