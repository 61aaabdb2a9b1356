package auth

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors of bearer token verification. Every refusal wraps [ErrTokenInvalid];
// the more specific ones are wrapped beside it so the edge can say why.
var (
	ErrTokenInvalid = errors.New("invalid token")
	ErrTokenExpired = errors.New("token expired")
	ErrUnknownKey   = errors.New("token signed by an unknown key")
	ErrKeyInvalid   = errors.New("invalid signing key")
)

// Defaults of the token service.
const (
	// DefaultTokenTTL is how long an issued bearer token lives. Clients ask
	// for a new one when it runs out, so short is cheap.
	DefaultTokenTTL = 5 * time.Minute
	// DefaultLeeway is the clock skew allowed between the replica that
	// issued a token and the one that checks it.
	DefaultLeeway = 10 * time.Second
	// maxTokenLength bounds what Verify will parse: MaxResourceScopes
	// scopes of the longest names fit with room to spare.
	maxTokenLength = 64 << 10
)

// signingMethod is the one algorithm wharf signs and accepts: ECDSA P-256
// with SHA-256, as the Docker token specification's example uses.
var signingMethod = jwt.SigningMethodES256

// TokenClaims are the claims of a bearer token, as the Docker token
// specification lays them out.
type TokenClaims struct {
	Issuer    string
	Subject   string // the principal's name; empty for anonymous
	Audience  []string
	ExpiresAt time.Time
	NotBefore time.Time
	IssuedAt  time.Time
	ID        string
	Access    []ResourceScope
	// Creates names the namespaces that did not exist when the token was
	// issued, on which Access holds only because its subject may create
	// them by pushing. Such a grant is provisional: the registry judges
	// requests in these namespaces by the subject's role at the time, so
	// that a token issued before someone else created the namespace does
	// not reach into it.
	Creates []string
}

// Allows reports whether c grants a on the resource of type typ and name,
// e.g. ("repository", "team-a/app", "push").
func (c TokenClaims) Allows(typ, name string, a Action) bool {
	for _, r := range c.Access {
		if r.Type == typ && r.Name == name && r.Allows(a) {
			return true
		}
	}
	return false
}

// jwtClaims is the wire form of TokenClaims.
type jwtClaims struct {
	jwt.RegisteredClaims
	Access []ResourceScope `json:"access"`
	// Creates is wharf's own claim (see [TokenClaims.Creates]); other
	// verifiers ignore it.
	Creates []string `json:"wharf_creates,omitempty"`
}

func (c *jwtClaims) tokenClaims() TokenClaims {
	t := func(d *jwt.NumericDate) time.Time {
		if d == nil {
			return time.Time{}
		}
		return d.UTC()
	}
	return TokenClaims{
		Issuer:    c.Issuer,
		Subject:   c.Subject,
		Audience:  slices.Clone(c.Audience),
		ExpiresAt: t(c.ExpiresAt),
		NotBefore: t(c.NotBefore),
		IssuedAt:  t(c.IssuedAt),
		ID:        c.ID,
		Access:    c.Access,
		Creates:   c.Creates,
	}
}

// IssuerOptions configure an [Issuer].
type IssuerOptions struct {
	Issuer  string        // the "iss" claim: who signs; required
	Service string        // the "aud" claim: the registry the token is for; required
	TTL     time.Duration // how long tokens live; DefaultTokenTTL if zero
}

// Issuer signs bearer tokens with one private key.
type Issuer struct {
	key  *ecdsa.PrivateKey
	kid  string
	opts IssuerOptions
}

// NewIssuer returns an Issuer that signs with key.
func NewIssuer(key *ecdsa.PrivateKey, opts IssuerOptions) (*Issuer, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no key", ErrKeyInvalid)
	}
	kid, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	if opts.Issuer == "" || opts.Service == "" {
		return nil, errors.New("token issuer: issuer and service must be set")
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTokenTTL
	}
	if opts.TTL < time.Second {
		return nil, fmt.Errorf("token issuer: ttl %v is shorter than a second", opts.TTL)
	}
	return &Issuer{key: key, kid: kid, opts: opts}, nil
}

// KeyID returns the kid the issuer stamps on its tokens.
func (i *Issuer) KeyID() string { return i.kid }

// Issue signs a token for subject granting access, valid from now for the
// issuer's TTL. It returns the token and the claims it carries; the claims'
// times are whole seconds, as in the token.
func (i *Issuer) Issue(subject string, access []ResourceScope, now time.Time) (string, TokenClaims, error) {
	return i.IssueCreating(subject, access, nil, now)
}

// IssueCreating is [Issuer.Issue] for a grant that holds in the namespaces
// creates only because subject would create them (see
// [TokenClaims.Creates]).
func (i *Issuer) IssueCreating(subject string, access []ResourceScope, creates []string, now time.Time) (string, TokenClaims, error) {
	return i.issue(subject, access, creates, nil, now)
}

// IssueIdentity signs a token that grants nothing of the token flow's and
// names subject to the surfaces of this registry that judge a caller by
// its rights rather than by a grant, and that look for audience among its
// "aud" (beside the registry's service, so that the token verifies).
func (i *Issuer) IssueIdentity(subject, audience string, now time.Time) (string, TokenClaims, error) {
	return i.issue(subject, nil, nil, []string{audience}, now)
}

func (i *Issuer) issue(subject string, access []ResourceScope, creates, audience []string, now time.Time) (string, TokenClaims, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", TokenClaims{}, fmt.Errorf("issue token: %w", err)
	}
	now = now.Truncate(time.Second)
	acc := make([]ResourceScope, len(access))
	for n, r := range access {
		acc[n] = ResourceScope{Type: r.Type, Name: r.Name, Actions: append([]Action{}, r.Actions...)}
	}
	c := &jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.opts.Issuer,
			Subject:   subject,
			Audience:  append(jwt.ClaimStrings{i.opts.Service}, audience...),
			ExpiresAt: jwt.NewNumericDate(now.Add(i.opts.TTL)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        base64.RawURLEncoding.EncodeToString(jti),
		},
		Access:  acc,
		Creates: slices.Clone(creates),
	}
	t := jwt.NewWithClaims(signingMethod, c)
	t.Header["kid"] = i.kid
	s, err := t.SignedString(i.key)
	if err != nil {
		return "", TokenClaims{}, fmt.Errorf("issue token: %w", err)
	}
	return s, c.tokenClaims(), nil
}

// VerifierOptions configure a [Verifier].
type VerifierOptions struct {
	Issuer  string // the only "iss" accepted; required
	Service string // this registry's name, which "aud" must hold; required
	// Keys are the public keys whose tokens are trusted. To rotate, add the
	// new key, start signing with it, and retire the old one once the
	// tokens it signed have expired.
	Keys   []*ecdsa.PublicKey
	Leeway time.Duration // allowed clock skew; DefaultLeeway if zero
}

// Verifier checks bearer tokens against a set of trusted public keys. It is
// immutable and safe for concurrent use; to change the key set, build a new
// one.
type Verifier struct {
	keys map[string]*ecdsa.PublicKey
	opts VerifierOptions
}

// NewVerifier returns a Verifier for opts.
func NewVerifier(opts VerifierOptions) (*Verifier, error) {
	if opts.Issuer == "" || opts.Service == "" {
		return nil, errors.New("token verifier: issuer and service must be set")
	}
	if len(opts.Keys) == 0 {
		return nil, errors.New("token verifier: no trusted keys")
	}
	if opts.Leeway == 0 {
		opts.Leeway = DefaultLeeway
	}
	v := &Verifier{keys: map[string]*ecdsa.PublicKey{}, opts: opts}
	for _, k := range opts.Keys {
		kid, err := KeyID(k)
		if err != nil {
			return nil, fmt.Errorf("token verifier: %w", err)
		}
		v.keys[kid] = k
	}
	return v, nil
}

// KeyIDs returns the kids of the trusted keys, sorted.
func (v *Verifier) KeyIDs() []string {
	ids := make([]string, 0, len(v.keys))
	for id := range v.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Verify checks token at now: its signature by a trusted key named by its
// kid, with ES256 and nothing else; its issuer and audience; and that now
// lies between its not-before and expiry (with the leeway). It returns the
// token's claims, or an error wrapping [ErrTokenInvalid].
func (v *Verifier) Verify(token string, now time.Time) (TokenClaims, error) {
	if len(token) > maxTokenLength {
		return TokenClaims{}, fmt.Errorf("%w: longer than %d bytes", ErrTokenInvalid, maxTokenLength)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{signingMethod.Alg()}),
		jwt.WithIssuer(v.opts.Issuer),
		jwt.WithAudience(v.opts.Service),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.opts.Leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var c jwtClaims
	_, err := p.ParseWithClaims(token, &c, v.key)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return TokenClaims{}, fmt.Errorf("%w: %w: %w", ErrTokenInvalid, ErrTokenExpired, err)
		}
		return TokenClaims{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	return c.tokenClaims(), nil
}

// key finds the trusted key a token names. The algorithm was already
// checked against the one allowed, so an HS256 token keyed with a public
// key's bytes never reaches here; the type check is a second lock.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if _, ok := t.Method.(*jwt.SigningMethodECDSA); !ok {
		return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
	}
	kid, _ := t.Header["kid"].(string)
	k, ok := v.keys[kid]
	if !ok {
		return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, truncate(kid))
	}
	return k, nil
}
