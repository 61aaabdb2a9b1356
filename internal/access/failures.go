package access

import (
	"errors"
	"fmt"

	"github.com/wharf-dev/wharf/internal/auth"
)

// AuthFailure is why an authentication was refused, from a small fixed set
// fit for a metrics label; the audit log has the detail.
type AuthFailure string

// The reasons an authentication is refused.
const (
	FailUnknownUser   AuthFailure = "unknown_user"   // a password for a user that does not exist
	FailWrongPassword AuthFailure = "wrong_password" // a wrong password, or one for an account without
	FailDisabled      AuthFailure = "disabled"       // the account, or the owner of the token, is disabled
	FailTokenInvalid  AuthFailure = "token_invalid"  // an access or refresh token unknown, malformed, someone else's, or whose owner is gone
	FailTokenRevoked  AuthFailure = "token_revoked"  // an access or refresh token that was revoked
	FailTokenExpired  AuthFailure = "token_expired"  // an access or refresh token past its expiry
	FailBearerInvalid AuthFailure = "bearer_invalid" // a bearer token (JWT) that does not verify
	FailBearerExpired AuthFailure = "bearer_expired" // a bearer token (JWT) that expired
	FailLockedOut     AuthFailure = "locked_out"     // refused unchecked after too many failures
)

// AuthFailures lists every [AuthFailure].
var AuthFailures = []AuthFailure{
	FailUnknownUser, FailWrongPassword, FailDisabled, FailTokenInvalid, FailTokenRevoked,
	FailTokenExpired, FailBearerInvalid, FailBearerExpired, FailLockedOut,
}

// Hooks observe authentication, for metrics. Nil hooks are skipped.
type Hooks struct {
	// AuthFailed is called for every refused authentication: a login
	// (Basic, an access token, a refresh token) or a bearer token.
	AuthFailed func(reason AuthFailure)
}

// refusal is why a login was refused: the reason metrics count and the
// detail the audit log records. The zero refusal refuses nothing.
type refusal struct {
	reason AuthFailure
	detail string
}

func refuse(reason AuthFailure, format string, args ...any) refusal {
	return refusal{reason: reason, detail: fmt.Sprintf(format, args...)}
}

func (r refusal) refused() bool { return r.reason != "" }

// failed reports a refused authentication to the hook.
func (s *Service) failed(reason AuthFailure) {
	if s.opts.Hooks.AuthFailed != nil {
		s.opts.Hooks.AuthFailed(reason)
	}
}

// bearerFailure is the reason a bearer token that did not verify is
// refused.
func bearerFailure(err error) AuthFailure {
	if errors.Is(err, auth.ErrTokenExpired) {
		return FailBearerExpired
	}
	return FailBearerInvalid
}
