package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// DefaultMinPasswordLength is the fewest characters a new password may
// have: the floor NIST SP 800-63B sets, and what GitLab, Harbor and Quay
// ask for. Lockouts bound online guessing; bcrypt slows offline guessing.
const DefaultMinPasswordLength = 8

// PasswordPolicy is what a new password must be, and how it is hashed. Every
// path that sets a password (the API, and so the CLI; the first
// administrator's) goes through [PasswordPolicy.Hash], so the rules hold
// everywhere. Imported htpasswd hashes cannot be checked for length; see
// [PasswordPolicy.CheckHash].
type PasswordPolicy struct {
	// MinLength is the fewest characters (not bytes) a password may have;
	// DefaultMinPasswordLength when zero.
	MinLength int
	// BcryptCost hashes new passwords; DefaultBcryptCost when zero.
	BcryptCost int
}

func (p PasswordPolicy) minLength() int {
	if p.MinLength <= 0 {
		return DefaultMinPasswordLength
	}
	return p.MinLength
}

// Check returns why password may not be user's new password, as an error
// wrapping [ErrPasswordInvalid] that says which rule it breaks, or nil.
func (p PasswordPolicy) Check(user, password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case password == "":
		return fmt.Errorf("%w: it is empty", ErrPasswordInvalid)
	case n < p.minLength():
		return fmt.Errorf("%w: it has %d characters; at least %d are required", ErrPasswordInvalid, n, p.minLength())
	case len(password) > maxPasswordLength:
		return fmt.Errorf("%w: it is %d bytes long; at most %d are allowed (bcrypt reads no more)", ErrPasswordInvalid, len(password), maxPasswordLength)
	case user != "" && strings.EqualFold(password, user):
		return fmt.Errorf("%w: it is the user name", ErrPasswordInvalid)
	}
	return nil
}

// Hash checks password against the rules for user and returns its bcrypt
// hash.
func (p PasswordPolicy) Hash(user, password string) (string, error) {
	if err := p.Check(user, password); err != nil {
		return "", err
	}
	return HashPassword(password, p.BcryptCost)
}

// CheckHash checks what can be checked of an imported hash for user: that
// the user name is not its password. It costs one bcrypt comparison at the
// hash's own cost. The length of the password behind a hash is unknown; the
// rules apply when the user next sets a password.
func (p PasswordPolicy) CheckHash(user, hash string) error {
	err := VerifyPassword(hash, user)
	switch {
	case err == nil:
		return fmt.Errorf("%w: it is the user name", ErrPasswordInvalid)
	case errors.Is(err, ErrPasswordMismatch):
		return nil
	}
	return err
}

// PasswordVerifier compares passwords with bcrypt hashes so that every
// comparison costs the same bcrypt work, 2^cost rounds at the configured
// cost, whatever the outcome: a login for a user who does not exist or has
// no password is compared with a dummy hash at that cost, and a hash made
// at a lower cost (an htpasswd import, or from before the cost was raised)
// is followed by dummy comparisons at each cost from its own up to one
// below the configured one, which add up to the difference exactly
// (2^c + 2^c + 2^(c+1) + ... + 2^(cost-1) = 2^cost). So the time of a
// refusal does not tell an attacker which user names exist. A hash made at
// a higher cost than the configured one costs more; setting the password
// again hashes it at the configured cost.
type PasswordVerifier struct {
	cost    int
	compare func(hash, password []byte) error
	dummies [bcrypt.MaxCost + 1]func() []byte
}

// NewPasswordVerifier returns a verifier for hashes made at cost
// (DefaultBcryptCost when zero). compare, when not nil, replaces bcrypt's
// comparison: tests count the work done with it.
func NewPasswordVerifier(cost int, compare func(hash, password []byte) error) (*PasswordVerifier, error) {
	if cost == 0 {
		cost = DefaultBcryptCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("bcrypt cost %d is outside %d..%d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if compare == nil {
		compare = bcrypt.CompareHashAndPassword
	}
	v := &PasswordVerifier{cost: cost, compare: compare}
	for c := bcrypt.MinCost; c <= cost; c++ {
		v.dummies[c] = sync.OnceValue(func() []byte { return dummyHash(c) })
	}
	return v, nil
}

// dummyHash is a bcrypt hash at cost of a random password nobody knows.
func dummyHash(cost int) []byte {
	pw := make([]byte, 32)
	_, _ = rand.Read(pw) // never fails on the platforms Go supports
	h, err := bcrypt.GenerateFromPassword(pw, cost)
	if err != nil {
		panic(fmt.Sprintf("auth: dummy bcrypt hash at cost %d: %v", cost, err))
	}
	return h
}

// Warm makes the dummy hash at the configured cost, so that the first
// refusal of an unknown user does not take twice as long as later ones.
func (v *PasswordVerifier) Warm() { v.dummies[v.cost]() }

// Verify reports whether password matches hash, returning
// [ErrPasswordMismatch] if not. An empty hash (no such user, or an account
// without a password) never matches, after the same work as a real check.
func (v *PasswordVerifier) Verify(hash, password string) error {
	if hash == "" {
		_ = v.compare(v.dummies[v.cost](), []byte(password))
		return ErrPasswordMismatch
	}
	err := v.compare([]byte(hash), []byte(password))
	if c, cerr := bcrypt.Cost([]byte(hash)); cerr == nil {
		for ; c < v.cost; c++ {
			_ = v.compare(v.dummies[c](), []byte(password))
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword), errors.Is(err, bcrypt.ErrPasswordTooLong):
		return ErrPasswordMismatch
	}
	return fmt.Errorf("verify password: %w", err)
}
