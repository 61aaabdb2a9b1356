package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrAuthorizationInvalid is returned for an Authorization header that does
// not parse, or uses a scheme wharf does not accept.
var ErrAuthorizationInvalid = errors.New("invalid Authorization header")

// maxAuthorizationLength bounds the header: a bearer token with
// MaxResourceScopes long scopes is the longest legitimate value.
const maxAuthorizationLength = 80 << 10

// BearerChallenge is the WWW-Authenticate challenge that sends a Docker
// client to the token endpoint.
type BearerChallenge struct {
	Realm   string // the token endpoint's URL
	Service string // the audience to ask a token for
	// Scopes the request needed; the client asks the token endpoint for them.
	Scopes []ResourceScope
	// Error is the RFC 6750 error code when a token was presented:
	// "invalid_token" or "insufficient_scope". Empty when none was.
	Error string
}

// String returns the header value, e.g.
//
//	Bearer realm="https://r.example/token",service="r.example",scope="repository:a/b:pull"
func (c BearerChallenge) String() string {
	var b strings.Builder
	b.WriteString("Bearer ")
	writeParam(&b, "realm", c.Realm, false)
	if c.Service != "" {
		writeParam(&b, "service", c.Service, true)
	}
	if len(c.Scopes) > 0 {
		writeParam(&b, "scope", FormatResourceScopes(c.Scopes), true)
	}
	if c.Error != "" {
		writeParam(&b, "error", c.Error, true)
	}
	return b.String()
}

// BasicChallenge returns the WWW-Authenticate value that asks for a user
// name and password, e.g. `Basic realm="wharf"`.
func BasicChallenge(realm string) string {
	var b strings.Builder
	b.WriteString("Basic ")
	writeParam(&b, "realm", realm, false)
	return b.String()
}

// writeParam writes name="value" as an RFC 9110 quoted-string. Quotes and
// backslashes are escaped, and control characters, which a quoted-string
// cannot hold and which would let a value split the header, are dropped.
func writeParam(b *strings.Builder, name, value string, comma bool) {
	if comma {
		b.WriteByte(',')
	}
	b.WriteString(name)
	b.WriteString(`="`)
	for _, r := range value {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == utf8.RuneError || unicode.IsControl(r):
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// Scheme is the authentication scheme of an Authorization header.
type Scheme string

// The schemes wharf accepts; SchemeNone for a request without the header.
const (
	SchemeNone   Scheme = ""
	SchemeBasic  Scheme = "basic"
	SchemeBearer Scheme = "bearer"
	// SchemeSession is a web session's cookie, not a header: the web UI's
	// way in (see access.Service.WebSessionCaller).
	SchemeSession Scheme = "session"
)

// Credentials are what an Authorization header carries.
type Credentials struct {
	Scheme   Scheme
	Username string // Basic
	Password string // Basic: a password, or an access token (see IsAccessToken)
	Token    string // Bearer
}

// ParseAuthorization parses an Authorization header value. An empty value
// is no credentials, not an error. The scheme is matched without regard to
// case and may be followed by any run of spaces and tabs; anything else that
// does not parse, or another scheme, is an error wrapping
// [ErrAuthorizationInvalid].
func ParseAuthorization(h string) (Credentials, error) {
	h = strings.Trim(h, " \t")
	if h == "" {
		return Credentials{}, nil
	}
	if len(h) > maxAuthorizationLength {
		return Credentials{}, fmt.Errorf("%w: longer than %d bytes", ErrAuthorizationInvalid, maxAuthorizationLength)
	}
	i := strings.IndexAny(h, " \t")
	if i < 0 {
		return Credentials{}, fmt.Errorf("%w: want a scheme and credentials", ErrAuthorizationInvalid)
	}
	scheme, rest := h[:i], strings.TrimLeft(h[i:], " \t")
	switch {
	case strings.EqualFold(scheme, "basic"):
		user, pass, err := parseBasic(rest)
		if err != nil {
			return Credentials{}, err
		}
		return Credentials{Scheme: SchemeBasic, Username: user, Password: pass}, nil
	case strings.EqualFold(scheme, "bearer"):
		if !isToken68(rest) {
			return Credentials{}, fmt.Errorf("%w: bearer token is not token68", ErrAuthorizationInvalid)
		}
		return Credentials{Scheme: SchemeBearer, Token: rest}, nil
	}
	return Credentials{}, fmt.Errorf("%w: unsupported scheme %q", ErrAuthorizationInvalid, truncate(scheme))
}

func parseBasic(s string) (string, string, error) {
	if !isToken68(s) {
		return "", "", fmt.Errorf("%w: basic credentials are not base64", ErrAuthorizationInvalid)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// Some clients leave the padding off.
		raw, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return "", "", fmt.Errorf("%w: basic credentials are not base64", ErrAuthorizationInvalid)
	}
	if !utf8.Valid(raw) {
		return "", "", fmt.Errorf("%w: basic credentials are not UTF-8", ErrAuthorizationInvalid)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", fmt.Errorf("%w: basic credentials have no colon", ErrAuthorizationInvalid)
	}
	if user == "" || strings.ContainsFunc(user, unicode.IsControl) {
		return "", "", fmt.Errorf("%w: user name is empty or has control characters", ErrAuthorizationInvalid)
	}
	return user, pass, nil
}

// isToken68 reports whether s is an RFC 9110 token68: the characters of
// base64 and base64url, then any padding.
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := range len(body) {
		c := body[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
		if !ok {
			return false
		}
	}
	return true
}

// BasicAuthorization returns the Authorization value for user and password,
// as a client sends it.
func BasicAuthorization(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}
