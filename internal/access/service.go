// Package access is wharf's authentication, authorisation and account
// service. It joins the pure rules of package auth with what the metadata
// store knows: it turns credentials (a password, an access token, a bearer
// token) into a [Caller], decides what a caller may do to a repository
// (reading only: deciding creates nothing), issues the bearer tokens of the
// Docker token flow with keys it keeps in the store, bootstraps the first
// administrator, and manages users, namespaces, members, personal access
// tokens and robots: each change one transaction with its rules and its
// record (see change.go), for the management API, the web UI and identity
// provisioning alike.
//
// It knows nothing of HTTP: the authentication middleware and the handlers
// parse headers, forms and bodies, and translate its errors ([Error],
// [ErrUnauthenticated], ...) into their protocols.
package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// Errors of authentication. Handlers answer all of them 401, except
// [*LockedError], which is 429.
var (
	// ErrUnauthenticated: the credentials are wrong, belong to a disabled
	// account, or name a revoked or expired token. Which of these it was is
	// in the audit log and never in the answer.
	ErrUnauthenticated = errors.New("authentication failed")
	// ErrBearerInvalid: a bearer token that does not verify.
	ErrBearerInvalid = errors.New("invalid bearer token")
)

// LockedError refuses a login attempt because too many failed before it:
// for the user from this address, for the user from anywhere, or from
// this address for anyone (Scope says which).
type LockedError struct {
	RetryAfter time.Duration
	Scope      auth.LockScope
	User       string // as given, cut to a printable length; empty for a refresh token
}

func (e *LockedError) Error() string {
	var whose string
	switch e.Scope {
	case auth.LockUserAddress:
		whose = fmt.Sprintf(" for user %q from this address", e.User)
	case auth.LockUser:
		whose = fmt.Sprintf(" for user %q", e.User)
	case auth.LockAddress:
		whose = " from this address"
	}
	return fmt.Sprintf("too many failed logins%s; try again in %s", whose, e.RetryAfter.Round(time.Second))
}

// Options configure a [Service].
type Options struct {
	Access meta.Access
	Logger *slog.Logger
	// Issuer and Service are the "iss" and "aud" of bearer tokens. Service
	// is also the service the WWW-Authenticate challenge names.
	Issuer  string
	Service string
	// TokenTTL is how long a bearer token lives; auth.DefaultTokenTTL if zero.
	TokenTTL time.Duration
	// RefreshTokenTTL is how long a refresh token lives; 30 days if zero.
	RefreshTokenTTL time.Duration
	// KeyLifetime is how long a signing key signs before a new one takes
	// over (the old one is retired once its tokens have expired); zero
	// keeps keys until [Service.RotateKey].
	KeyLifetime time.Duration
	// Limiter configures the brute-force limiter.
	Limiter auth.LimiterOptions
	// CreateNamespaces lets a user who pushes to a namespace that does not
	// exist create it, and become its admin. System administrators always may.
	CreateNamespaces bool
	// AdminPassword is the password of the "admin" account created on first
	// start, when there are no users; empty generates one and logs it once.
	AdminPassword string
	// BcryptCost hashes new passwords, and every failed login costs a
	// bcrypt comparison at this cost; auth.DefaultBcryptCost if zero.
	BcryptCost int
	// MinPasswordLength is the fewest characters of AdminPassword;
	// auth.DefaultMinPasswordLength if zero.
	MinPasswordLength int
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Hooks observe authentication, for metrics.
	Hooks Hooks
	// Identity configures company sign-in (LDAP, OIDC, workload identity),
	// web sessions and the local accounts' passwords.
	Identity IdentityOptions
	// Record writes the events that record no change (logins, refusals)
	// off the request path (an events.Recorder's Record); nil drops them.
	// Changes write their events in their own transactions.
	Record func(events.Event)
}

// Service authenticates and authorises. It is safe for concurrent use.
type Service struct {
	store   meta.Access
	log     *slog.Logger
	opts    Options
	now     func() time.Time
	limiter *auth.Limiter
	keys    *keyRing
	// verifier checks passwords so that every refusal costs the same.
	verifier *auth.PasswordVerifier

	passwords passwordCache
	touches   touchCoalescer
	directory directoryCache
	workloads workloadCache
	ids       meta.Identities // nil if the store keeps no external identities

	nsCreate sync.Mutex // one namespace creation at a time in this process

	// local is set on the Service of a registry without access control
	// (see [NewLocal]).
	local bool
}

// NewLocal returns the Service of a registry without access control. It
// serves the local administrator ([auth.LocalAdmin]) of the management
// API: namespaces and the audit log, with the same rules and records as
// with access control. It keeps no accounts (users, members, tokens,
// robots and signing keys mean nothing without access control, and none may
// be planted for the day it is turned on), authenticates no one and issues
// no tokens.
func NewLocal(opts Options) (*Service, error) {
	if opts.Access == nil {
		return nil, errors.New("access: no store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{store: opts.Access, log: opts.Logger, opts: opts, now: opts.Now, local: true}, nil
}

// errNoAccounts refuses an account operation of a registry without access
// control.
var errNoAccounts = &Error{Kind: ErrDenied,
	Message: "users, members, tokens, robots and signing keys need access control: turn auth.enabled on (WHARF_AUTH_ENABLED=true) to manage them"}

// accounts refuses the account operations of a registry without access
// control.
func (s *Service) accounts() error {
	if s.local {
		return errNoAccounts
	}
	return nil
}

// New returns a Service over opts.Access. On first start it creates the
// admin account (when there are no users) and a signing key (when there is
// none).
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Access == nil {
		return nil, errors.New("access: no store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = auth.DefaultTokenTTL
	}
	if opts.RefreshTokenTTL == 0 {
		opts.RefreshTokenTTL = 30 * 24 * time.Hour
	}
	if opts.Issuer == "" || opts.Service == "" {
		return nil, errors.New("access: issuer and service must be set")
	}
	lim, err := auth.NewLimiter(opts.Limiter)
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	verifier, err := auth.NewPasswordVerifier(opts.BcryptCost, nil)
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	go verifier.Warm() // the first refusal of an unknown user costs no more than later ones
	s := &Service{
		store:    opts.Access,
		log:      opts.Logger,
		opts:     opts,
		now:      opts.Now,
		limiter:  lim,
		verifier: verifier,
	}
	s.passwords.init()
	s.touches.init()
	s.ids = opts.Identity.Store
	if s.ids == nil {
		s.ids, _ = opts.Access.(meta.Identities)
	}
	if err := s.bootstrapAdmin(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.keys = &keyRing{store: opts.Access, update: s.update, log: opts.Logger, now: opts.Now, issuer: opts.Issuer, service: opts.Service, ttl: opts.TokenTTL, lifetime: opts.KeyLifetime}
	if err := s.keys.load(ctx, true); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ServiceName is the service the challenge names and tokens are issued for.
func (s *Service) ServiceName() string { return s.opts.Service }

// TokenTTL is how long an issued bearer token lives.
func (s *Service) TokenTTL() time.Duration { return s.opts.TokenTTL }
