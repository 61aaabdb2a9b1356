package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"unicode"
)

func TestBearerChallenge(t *testing.T) {
	scopes, _ := ParseResourceScopes("repository:team-a/app:pull,push repository:team-b/base:pull")
	for _, tc := range []struct {
		c    BearerChallenge
		want string
	}{
		{BearerChallenge{Realm: "https://r.example/token", Service: "r.example", Scopes: scopes},
			`Bearer realm="https://r.example/token",service="r.example",scope="repository:team-a/app:pull,push repository:team-b/base:pull"`},
		{BearerChallenge{Realm: "https://r.example/token", Service: "r.example"},
			`Bearer realm="https://r.example/token",service="r.example"`},
		{BearerChallenge{Realm: "https://r.example/token", Service: "r.example", Scopes: scopes[:1], Error: "insufficient_scope"},
			`Bearer realm="https://r.example/token",service="r.example",scope="repository:team-a/app:pull,push",error="insufficient_scope"`},
		{BearerChallenge{Realm: `a"b\c`, Service: "x\r\nSet-Cookie: y"},
			`Bearer realm="a\"b\\c",service="xSet-Cookie: y"`},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
	if got := BasicChallenge("wharf"); got != `Basic realm="wharf"` {
		t.Errorf("BasicChallenge = %s", got)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParseAuthorization(t *testing.T) {
	for _, tc := range []struct {
		h    string
		want Credentials
	}{
		{"", Credentials{}},
		{"   ", Credentials{}},
		{"Basic " + b64("alice:s3cret"), Credentials{Scheme: SchemeBasic, Username: "alice", Password: "s3cret"}},
		{"basic " + b64("alice:s3cret"), Credentials{Scheme: SchemeBasic, Username: "alice", Password: "s3cret"}},
		{"BASIC \t  " + b64("alice:s3cret") + "  ", Credentials{Scheme: SchemeBasic, Username: "alice", Password: "s3cret"}},
		{"Basic " + b64("alice:pa:ss:word"), Credentials{Scheme: SchemeBasic, Username: "alice", Password: "pa:ss:word"}},
		{"Basic " + b64("alice:"), Credentials{Scheme: SchemeBasic, Username: "alice"}},
		{"Basic " + strings.TrimRight(b64("alice:pw"), "="), Credentials{Scheme: SchemeBasic, Username: "alice", Password: "pw"}},
		{"Basic " + b64("jörg:pässwörd"), Credentials{Scheme: SchemeBasic, Username: "jörg", Password: "pässwörd"}},
		{BasicAuthorization("ci", "wharf_abc"), Credentials{Scheme: SchemeBasic, Username: "ci", Password: "wharf_abc"}},
		{"Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", Credentials{Scheme: SchemeBearer, Token: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"}},
		{"bearer  abc-._~+/==", Credentials{Scheme: SchemeBearer, Token: "abc-._~+/=="}},
	} {
		got, err := ParseAuthorization(tc.h)
		if err != nil || got != tc.want {
			t.Errorf("ParseAuthorization(%q) = %+v, %v; want %+v", tc.h, got, err, tc.want)
		}
	}
}

func TestParseAuthorizationErrors(t *testing.T) {
	for _, h := range []string{
		"Basic",
		"Basic ",
		"Bearer",
		"Basic" + b64("alice:pw"),
		"Basic " + b64("alicepw"),
		"Basic " + b64(":pw"),
		"Basic " + b64("al\x00ice:pw"),
		"Basic " + b64("al\nice:pw"),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("al\xffice:pw")),
		"Basic " + b64("alice:pw") + " extra",
		"Basic " + b64("alice:pw") + "\r\nX: y",
		"Basic !!!!",
		"Basic ====",
		"Basic YWxpY2U6cHc=====x",
		"Bearer a b",
		"Bearer a\"b",
		"Bearer =abc",
		"Bearer ===",
		"Bearer a,b",
		"Digest username=\"alice\"",
		"Negotiate abc",
		"Basicx " + b64("alice:pw"),
		"Bearer " + strings.Repeat("a", maxAuthorizationLength),
	} {
		if c, err := ParseAuthorization(h); !errors.Is(err, ErrAuthorizationInvalid) {
			t.Errorf("ParseAuthorization(%.60q) = %+v, %v; want ErrAuthorizationInvalid", h, c, err)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		BasicAuthorization("alice", "pw"), "Bearer abc.def.ghi", "basic\t" + b64("a:b"), "Basic YQ", "Bearer ==", "", "Digest x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		c, err := ParseAuthorization(h)
		if err != nil {
			if !errors.Is(err, ErrAuthorizationInvalid) || c != (Credentials{}) {
				t.Fatalf("error %v with credentials %+v", err, c)
			}
			return
		}
		switch c.Scheme {
		case SchemeNone:
			if strings.Trim(h, " \t") != "" {
				t.Fatalf("%q parsed as no credentials", h)
			}
		case SchemeBasic:
			if c.Username == "" || strings.ContainsFunc(c.Username, unicode.IsControl) || strings.Contains(c.Username, ":") {
				t.Fatalf("%q gave user %q", h, c.Username)
			}
			again, err := ParseAuthorization(BasicAuthorization(c.Username, c.Password))
			if err != nil || again != c {
				t.Fatalf("round trip of %+v: %+v, %v", c, again, err)
			}
		case SchemeBearer:
			if !isToken68(c.Token) || strings.ContainsAny(c.Token, " \t\r\n\",") {
				t.Fatalf("%q gave token %q", h, c.Token)
			}
		default:
			t.Fatalf("scheme %q", c.Scheme)
		}
	})
}

// FuzzBearerChallenge checks that no realm, service or error can break out
// of its quoted string or the header line.
func FuzzBearerChallenge(f *testing.F) {
	f.Add("https://r/token", "r", "insufficient_scope")
	f.Add(`a"b\`, "x\r\ny", "\x00")
	f.Fuzz(func(t *testing.T, realm, service, e string) {
		h := BearerChallenge{Realm: realm, Service: service, Error: e}.String()
		if strings.ContainsFunc(h, unicode.IsControl) {
			t.Fatalf("control character in %q", h)
		}
		params := splitChallengeParams(t, strings.TrimPrefix(h, "Bearer "))
		if len(params) < 1 || params[0][0] != "realm" {
			t.Fatalf("%q parsed to %v", h, params)
		}
		clean := func(s string) string {
			return strings.Map(func(r rune) rune {
				if r == unicode.ReplacementChar || unicode.IsControl(r) {
					return -1
				}
				return r
			}, s)
		}
		if params[0][1] != clean(realm) {
			t.Fatalf("realm %q came back as %q", realm, params[0][1])
		}
	})
}

// splitChallengeParams parses name="value",... with backslash escapes, the
// way a client reads a challenge.
func splitChallengeParams(t *testing.T, s string) [][2]string {
	var out [][2]string
	for s != "" {
		name, rest, ok := strings.Cut(s, `="`)
		if !ok {
			t.Fatalf("no quoted value in %q", s)
		}
		var v strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] == '\\' {
				i++
			}
			if i < len(rest) {
				v.WriteByte(rest[i])
			}
		}
		if i >= len(rest) {
			t.Fatalf("unterminated quoted string in %q", s)
		}
		out = append(out, [2]string{name, v.String()})
		s = strings.TrimPrefix(rest[i+1:], ",")
	}
	return out
}
