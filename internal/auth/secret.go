package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Errors of password and opaque-token handling.
var (
	ErrPasswordMismatch = errors.New("password does not match")
	ErrPasswordInvalid  = errors.New("password refused")
)

// DefaultBcryptCost is the bcrypt cost new passwords are hashed at: about a
// quarter of a second on a current server core, slow enough to make an
// offline guess expensive and fast enough for an interactive login.
const DefaultBcryptCost = 12

// maxPasswordLength is bcrypt's limit: it reads no more than 72 bytes, and
// x/crypto refuses longer passwords rather than silently ignore the rest.
const maxPasswordLength = 72

// HashPassword hashes password with bcrypt at cost, or at
// [DefaultBcryptCost] when cost is zero.
func HashPassword(password string, cost int) (string, error) {
	if cost == 0 {
		cost = DefaultBcryptCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return "", fmt.Errorf("bcrypt cost %d is outside %d..%d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if password == "" {
		return "", fmt.Errorf("%w: empty", ErrPasswordInvalid)
	}
	if len(password) > maxPasswordLength {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrPasswordInvalid, maxPasswordLength)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// VerifyPassword reports whether password matches hash, returning
// [ErrPasswordMismatch] if not, or if hash is empty. Logins use a
// [PasswordVerifier], which makes every refusal cost the same.
func VerifyPassword(hash, password string) error {
	if hash == "" {
		return ErrPasswordMismatch
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) || errors.Is(err, bcrypt.ErrPasswordTooLong) {
		return ErrPasswordMismatch
	}
	if err != nil {
		return fmt.Errorf("verify password: %w", err)
	}
	return nil
}

// NeedsRehash reports whether hash was made at a cost other than cost (or
// [DefaultBcryptCost] when cost is zero), so that the caller, holding the
// password after a successful login, can store a fresh hash.
func NeedsRehash(hash string, cost int) bool {
	if cost == 0 {
		cost = DefaultBcryptCost
	}
	c, err := bcrypt.Cost([]byte(hash))
	return err != nil || c != cost
}

// Opaque tokens are a prefix and randomBase62Length characters of base62:
// 40 characters carry 238 bits, and the prefix lets secret scanners and the
// Basic-auth path tell a token from a password.
const (
	// AccessTokenPrefix starts every personal access token and robot secret.
	AccessTokenPrefix = "wharf_"
	// RefreshTokenPrefix starts every refresh token of the OAuth2 flow.
	RefreshTokenPrefix = "wharfrt_"
	// SessionPrefix starts the secret of every web session cookie.
	SessionPrefix = "wharfs_"

	randomBase62Length = 40
	base62             = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// NewAccessToken returns a new personal access token or robot secret, to be
// shown to its owner once, and the hash to store in its place.
func NewAccessToken() (token, hash string, err error) {
	return newOpaque(AccessTokenPrefix)
}

// NewRefreshToken returns a new refresh token, to be returned to the client,
// and the hash to store in its place.
func NewRefreshToken() (token, hash string, err error) {
	return newOpaque(RefreshTokenPrefix)
}

// NewSessionSecret returns the secret of a new web session, for its
// cookie, and the hash to store in its place.
func NewSessionSecret() (token, hash string, err error) {
	return newOpaque(SessionPrefix)
}

func newOpaque(prefix string) (string, string, error) {
	r, err := randomBase62(randomBase62Length)
	if err != nil {
		return "", "", fmt.Errorf("new token: %w", err)
	}
	t := prefix + r
	return t, HashSecret(t), nil
}

// randomBase62 returns n uniformly random base62 characters. Bytes of 248
// and above are dropped rather than reduced mod 62, which would favour the
// first characters.
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out), nil
}

// IsAccessToken reports whether s has the form of an access token. It
// checks the form only; whether the token exists is the store's question.
func IsAccessToken(s string) bool { return isOpaque(s, AccessTokenPrefix) }

// IsRefreshToken reports whether s has the form of a refresh token.
func IsRefreshToken(s string) bool { return isOpaque(s, RefreshTokenPrefix) }

// IsSessionSecret reports whether s has the form of a web session's secret.
func IsSessionSecret(s string) bool { return isOpaque(s, SessionPrefix) }

func isOpaque(s, prefix string) bool {
	r, ok := strings.CutPrefix(s, prefix)
	if !ok || len(r) != randomBase62Length {
		return false
	}
	for i := range len(r) {
		if strings.IndexByte(base62, r[i]) < 0 {
			return false
		}
	}
	return true
}

// HashSecret returns the hex SHA-256 of an opaque token, the form stored and
// looked up. Tokens carry enough randomness that a fast hash is safe; bcrypt
// would only slow down every request that presents one.
func HashSecret(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// SecretMatches reports whether token hashes to stored, comparing in
// constant time.
func SecretMatches(token, stored string) bool {
	got := HashSecret(token)
	return subtle.ConstantTimeCompare([]byte(got), []byte(stored)) == 1
}
