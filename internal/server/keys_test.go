package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// TestSigningKeyRotation drives /api/v1/keys: after a rotation new tokens
// are signed with the new key and tokens of the old one still verify; after
// the old key is retired its tokens are refused. Only system administrators
// may, and every change is audited.
func TestSigningKeyRotation(t *testing.T) {
	ar := newAuthRegistry(t, nil)
	ar.user("alice", false)
	admin := []string{"Authorization", auth.BasicAuthorization("admin", adminPassword)}
	type key struct {
		ID        string `json:"id"`
		RetiredAt string `json:"retiredAt"`
		Signing   bool   `json:"signing"`
	}
	list := func() []key {
		t.Helper()
		r := ar.do("GET", "/api/v1/keys", nil, admin...)
		if r.status != http.StatusOK {
			t.Fatalf("list keys: %d %s", r.status, r.body)
		}
		if strings.Contains(strings.ToLower(string(r.body)), "private") {
			t.Fatalf("the key list shows a private key: %s", r.body)
		}
		var ks []key
		if err := json.Unmarshal(r.body, &ks); err != nil {
			t.Fatal(err)
		}
		return ks
	}
	bearer := func() (tok, kid string) {
		t.Helper()
		r, body := ar.tokenFor("admin", adminPassword, nil)
		tok, _ = body["token"].(string)
		if r.status != http.StatusOK || tok == "" {
			t.Fatalf("/token: %d %s", r.status, r.body)
		}
		hdr, err := decodeSegment(strings.Split(tok, ".")[0])
		if err != nil {
			t.Fatal(err)
		}
		var h struct {
			Kid string `json:"kid"`
		}
		if err := json.Unmarshal(hdr, &h); err != nil {
			t.Fatal(err)
		}
		return tok, h.Kid
	}
	ping := func(tok string) int {
		return ar.do("GET", "/v2/", nil, "Authorization", "Bearer "+tok).status
	}

	ks := list()
	if len(ks) != 1 || !ks[0].Signing || ks[0].RetiredAt != "" {
		t.Fatalf("keys at first start: %+v, want one signing key", ks)
	}
	first := ks[0].ID
	oldTok, kid := bearer()
	if kid != first {
		t.Fatalf("token signed by %q, want %q", kid, first)
	}

	alice := []string{"Authorization", auth.BasicAuthorization("alice", "alice-pw")}
	problem(t, "list as a user", ar.do("GET", "/api/v1/keys", nil, alice...), http.StatusForbidden, "DENIED")
	problem(t, "rotate as a user", ar.do("POST", "/api/v1/keys/rotate", nil, alice...), http.StatusForbidden, "DENIED")
	problem(t, "retire as a user", ar.do("POST", "/api/v1/keys/"+first+"/retire", nil, alice...), http.StatusForbidden, "DENIED")
	problem(t, "rotate anonymously", ar.do("POST", "/api/v1/keys/rotate", nil), http.StatusUnauthorized, "UNAUTHORIZED")
	problem(t, "retire the only key", ar.do("POST", "/api/v1/keys/"+first+"/retire", nil, admin...), http.StatusConflict, "CONFLICT")
	problem(t, "retire an unknown key", ar.do("POST", "/api/v1/keys/nope/retire", nil, admin...), http.StatusNotFound, "NOT_FOUND")

	r := ar.do("POST", "/api/v1/keys/rotate", nil, admin...)
	var rotated key
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &rotated) != nil || rotated.ID == first || !rotated.Signing {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	newTok, kid := bearer()
	if kid != rotated.ID {
		t.Fatalf("after rotation a token is signed by %q, want the new key %q", kid, rotated.ID)
	}
	if s := ping(oldTok); s != http.StatusOK {
		t.Fatalf("a token of the old key after rotation: %d, want 200", s)
	}
	if ks = list(); len(ks) != 2 || ks[0].Signing || !ks[1].Signing {
		t.Fatalf("keys after rotation: %+v", ks)
	}

	r = ar.do("POST", "/api/v1/keys/"+first+"/retire", nil, admin...)
	var retired key
	if r.status != http.StatusOK || json.Unmarshal(r.body, &retired) != nil || retired.ID != first || retired.RetiredAt == "" {
		t.Fatalf("retire: %d %s", r.status, r.body)
	}
	if s := ping(oldTok); s != http.StatusUnauthorized {
		t.Fatalf("a token of the retired key: %d, want 401", s)
	}
	if s := ping(newTok); s != http.StatusOK {
		t.Fatalf("a token of the new key after retiring the old: %d, want 200", s)
	}
	problem(t, "retire the last live key", ar.do("POST", "/api/v1/keys/"+rotated.ID+"/retire", nil, admin...), http.StatusConflict, "CONFLICT")

	for _, action := range []string{"key.rotate", "key.retire"} {
		ev := ar.auditEvents(meta.AuditQuery{Action: action}, 1)
		ok := false
		for _, e := range ev {
			ok = ok || (e.Actor == "user:admin" && e.Result == "ok")
		}
		if !ok {
			t.Errorf("audit of %s: %+v, want admin's success", action, ev)
		}
	}
}

// problem checks that r is problem JSON with status and code.
func problem(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.body, &p)
	if r.status != status || p.Code != code || r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("%s: %d %s, want %d with problem code %s", what, r.status, r.body, status, code)
	}
}
