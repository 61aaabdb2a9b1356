package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer  = "wharf-auth"
	testService = "registry.example.com"
)

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustIssuer(t testing.TB, k *ecdsa.PrivateKey) *Issuer {
	t.Helper()
	i, err := NewIssuer(k, IssuerOptions{Issuer: testIssuer, Service: testService})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func mustVerifier(t testing.TB, keys ...*ecdsa.PrivateKey) *Verifier {
	t.Helper()
	var pubs []*ecdsa.PublicKey
	for _, k := range keys {
		pubs = append(pubs, &k.PublicKey)
	}
	v, err := NewVerifier(VerifierOptions{Issuer: testIssuer, Service: testService, Keys: pubs})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIssueVerify(t *testing.T) {
	k := mustKey(t)
	iss, v := mustIssuer(t, k), mustVerifier(t, k)
	access := []ResourceScope{
		{Type: TypeRepository, Name: "team-a/app", Actions: []Action{ActionPull, ActionPush}},
		{Type: TypeRepository, Class: "plugin", Name: "team-a/none"},
	}
	now := t0.Add(123 * time.Millisecond)
	tok, claims, err := iss.Issue("alice", access, now)
	if err != nil {
		t.Fatal(err)
	}
	want := TokenClaims{
		Issuer: testIssuer, Subject: "alice", Audience: []string{testService},
		ExpiresAt: t0.Add(DefaultTokenTTL), NotBefore: t0, IssuedAt: t0, ID: claims.ID,
		Access: []ResourceScope{
			{Type: TypeRepository, Name: "team-a/app", Actions: []Action{ActionPull, ActionPush}},
			{Type: TypeRepository, Name: "team-a/none", Actions: []Action{}},
		},
	}
	if !reflect.DeepEqual(claims, want) {
		t.Errorf("issued claims\n%+v\nwant\n%+v", claims, want)
	}
	got, err := v.Verify(tok, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("verified claims\n%+v\nwant\n%+v", got, want)
	}
	if !got.Allows(TypeRepository, "team-a/app", ActionPush) || got.Allows(TypeRepository, "team-a/app", ActionDelete) ||
		got.Allows(TypeRepository, "team-a/none", ActionPull) || got.Allows(TypeRegistry, "team-a/app", ActionPull) {
		t.Error("TokenClaims.Allows is wrong")
	}

	// The wire form is the spec's: a kid header and the access claim.
	parts := strings.Split(tok, ".")
	var hdr map[string]any
	var body map[string]any
	decodeSegment(t, parts[0], &hdr)
	decodeSegment(t, parts[1], &body)
	if hdr["alg"] != "ES256" || hdr["kid"] != iss.KeyID() || hdr["typ"] != "JWT" {
		t.Errorf("header %v", hdr)
	}
	for _, c := range []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"} {
		if _, ok := body[c]; !ok {
			t.Errorf("claim %s missing from %v", c, body)
		}
	}
	b, _ := json.Marshal(body["access"])
	if string(b) != `[{"actions":["pull","push"],"name":"team-a/app","type":"repository"},{"actions":[],"name":"team-a/none","type":"repository"}]` {
		t.Errorf("access claim %s", b)
	}

	// Each token has its own id.
	_, c2, _ := iss.Issue("alice", access, now)
	if c2.ID == claims.ID || len(claims.ID) < 20 {
		t.Errorf("jti %q then %q", claims.ID, c2.ID)
	}
	if _, ok := body["wharf_creates"]; ok {
		t.Errorf("a token that creates nothing carries wharf_creates: %v", body)
	}

	// A provisional grant names the namespaces it would create.
	tok, _, err = iss.IssueCreating("alice", access, []string{"team-a"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.Verify(tok, now); err != nil || !reflect.DeepEqual(got.Creates, []string{"team-a"}) {
		t.Errorf("verified Creates %v, %v", got.Creates, err)
	}
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// sign signs arbitrary claims with key under kid and method, to forge the
// tokens an attacker or a misconfigured peer could send.
func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func goodClaims() *jwtClaims {
	return &jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: testIssuer, Subject: "alice", Audience: jwt.ClaimStrings{testService},
			ExpiresAt: jwt.NewNumericDate(t0.Add(5 * time.Minute)), NotBefore: jwt.NewNumericDate(t0),
			IssuedAt: jwt.NewNumericDate(t0), ID: "x",
		},
		Access: []ResourceScope{{Type: TypeRepository, Name: "a", Actions: []Action{ActionPull}}},
	}
}

// TestIssueIdentity: an identity token carries its audience beside the
// registry's service, so it verifies, and grants nothing.
func TestIssueIdentity(t *testing.T) {
	k := mustKey(t)
	iss, v := mustIssuer(t, k), mustVerifier(t, k)
	tok, _, err := iss.IssueIdentity("user:alice", "hub", t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(tok, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Audience, []string{testService, "hub"}) || got.Subject != "user:alice" || len(got.Access) != 0 ||
		!got.ExpiresAt.Equal(t0.Add(DefaultTokenTTL)) {
		t.Errorf("identity token claims %+v", got)
	}
}

func TestVerifyRejects(t *testing.T) {
	k, other := mustKey(t), mustKey(t)
	kid, _ := KeyID(&k.PublicKey)
	otherKid, _ := KeyID(&other.PublicKey)
	v := mustVerifier(t, k)
	pubPEM, _ := MarshalPublicKey(&k.PublicKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	with := func(f func(c *jwtClaims)) *jwtClaims { c := goodClaims(); f(c); return c }
	good := sign(t, jwt.SigningMethodES256, k, kid, goodClaims())
	if _, err := v.Verify(good, t0); err != nil {
		t.Fatalf("the control token fails: %v", err)
	}
	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, goodClaims())
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"wharf-auth","sub":"root","aud":["registry.example.com"],"exp":1900000000,"iat":1748779200}`)) + "." + parts[2]

	for _, tc := range []struct {
		name  string
		token string
		now   time.Time
		also  error
	}{
		{"expired", good, t0.Add(5*time.Minute + DefaultLeeway), ErrTokenExpired},
		{"not yet valid", good, t0.Add(-DefaultLeeway - time.Second), nil},
		{"issued in the future", sign(t, jwt.SigningMethodES256, k, kid, with(func(c *jwtClaims) {
			c.NotBefore = nil
			c.IssuedAt = jwt.NewNumericDate(t0.Add(time.Hour))
		})), t0, nil},
		{"no expiry", sign(t, jwt.SigningMethodES256, k, kid, with(func(c *jwtClaims) { c.ExpiresAt = nil })), t0, nil},
		{"wrong audience", sign(t, jwt.SigningMethodES256, k, kid, with(func(c *jwtClaims) { c.Audience = jwt.ClaimStrings{"other"} })), t0, nil},
		{"no audience", sign(t, jwt.SigningMethodES256, k, kid, with(func(c *jwtClaims) { c.Audience = nil })), t0, nil},
		{"wrong issuer", sign(t, jwt.SigningMethodES256, k, kid, with(func(c *jwtClaims) { c.Issuer = "evil" })), t0, nil},
		{"unknown kid", sign(t, jwt.SigningMethodES256, other, otherKid, goodClaims()), t0, ErrUnknownKey},
		{"no kid", sign(t, jwt.SigningMethodES256, k, "", goodClaims()), t0, ErrUnknownKey},
		{"trusted kid, other key's signature", sign(t, jwt.SigningMethodES256, other, kid, goodClaims()), t0, nil},
		{"alg none", noneTok, t0, nil},
		{"alg none, no signature part", strings.TrimSuffix(noneTok, "."), t0, nil},
		{"HS256 keyed with the public key PEM", sign(t, jwt.SigningMethodHS256, pubPEM, kid, goodClaims()), t0, nil},
		{"HS256 keyed with the public point", sign(t, jwt.SigningMethodHS256, mustBytes(k.PublicKey.Bytes()), kid, goodClaims()), t0, nil},
		{"ES384", sign(t, jwt.SigningMethodES384, p384, kid, goodClaims()), t0, nil},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, kid, goodClaims()), t0, nil},
		{"tampered claims", tampered, t0, nil},
		{"empty", "", t0, nil},
		{"garbage", "a.b.c", t0, nil},
		{"too long", strings.Repeat("a", maxTokenLength+1), t0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(tc.token, tc.now)
			if !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("Verify = %+v, %v; want ErrTokenInvalid", c, err)
			}
			if tc.also != nil && !errors.Is(err, tc.also) {
				t.Errorf("error %v does not wrap %v", err, tc.also)
			}
		})
	}
}

func mustBytes(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestVerifyLeeway(t *testing.T) {
	k := mustKey(t)
	tok, c, _ := mustIssuer(t, k).Issue("", nil, t0)
	v := mustVerifier(t, k)
	if _, err := v.Verify(tok, c.ExpiresAt.Add(DefaultLeeway-time.Second)); err != nil {
		t.Errorf("within the leeway after expiry: %v", err)
	}
	if _, err := v.Verify(tok, t0.Add(-DefaultLeeway+time.Second)); err != nil {
		t.Errorf("within the leeway before nbf (another replica's clock): %v", err)
	}
	if c.Subject != "" || c.Access == nil {
		t.Errorf("anonymous token claims %+v", c)
	}
}

func TestKeyRotation(t *testing.T) {
	old, cur := mustKey(t), mustKey(t)
	oldTok, _, _ := mustIssuer(t, old).Issue("alice", nil, t0)
	curTok, _, _ := mustIssuer(t, cur).Issue("alice", nil, t0)
	both := mustVerifier(t, cur, old)
	for _, tok := range []string{oldTok, curTok} {
		if _, err := both.Verify(tok, t0); err != nil {
			t.Errorf("during rotation: %v", err)
		}
	}
	retired := mustVerifier(t, cur)
	if _, err := retired.Verify(curTok, t0); err != nil {
		t.Errorf("current key after retirement: %v", err)
	}
	if _, err := retired.Verify(oldTok, t0); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("retired key still verifies: %v", err)
	}
	if ids := both.KeyIDs(); len(ids) != 2 || ids[0] > ids[1] {
		t.Errorf("KeyIDs = %v", ids)
	}
}

func TestNewIssuerVerifierOptions(t *testing.T) {
	k := mustKey(t)
	for _, o := range []IssuerOptions{{Service: "s"}, {Issuer: "i"}, {Issuer: "i", Service: "s", TTL: time.Millisecond}} {
		if _, err := NewIssuer(k, o); err == nil {
			t.Errorf("NewIssuer(%+v) accepted", o)
		}
	}
	if _, err := NewIssuer(nil, IssuerOptions{Issuer: "i", Service: "s"}); err == nil {
		t.Error("NewIssuer(nil) accepted")
	}
	i, _ := NewIssuer(k, IssuerOptions{Issuer: "i", Service: "s", TTL: time.Hour})
	if _, c, _ := i.Issue("a", nil, t0); !c.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("TTL ignored: %v", c.ExpiresAt)
	}
	for _, o := range []VerifierOptions{
		{Service: "s", Keys: []*ecdsa.PublicKey{&k.PublicKey}},
		{Issuer: "i", Keys: []*ecdsa.PublicKey{&k.PublicKey}},
		{Issuer: "i", Service: "s"},
	} {
		if _, err := NewVerifier(o); err == nil {
			t.Errorf("NewVerifier(%+v) accepted", o)
		}
	}
}

func FuzzVerify(f *testing.F) {
	k, err := GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	iss := mustIssuer(f, k)
	v := mustVerifier(f, k)
	tok, want, err := iss.Issue("alice", []ResourceScope{{Type: TypeRepository, Name: "a/b", Actions: []Action{ActionPull}}}, t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := v.Verify(s, t0)
		if err != nil {
			if !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("error %v does not wrap ErrTokenInvalid", err)
			}
			return
		}
		// Nothing but the one token signed here may verify, whatever
		// encoding slack lets its text vary.
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("forged token %q verified with claims %+v", s, got)
		}
	})
}
