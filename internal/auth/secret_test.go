package auth

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashVerifyPassword(t *testing.T) {
	h, err := HashPassword("correct horse", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$2a$04$") {
		t.Errorf("hash %q is not bcrypt at cost 4", h)
	}
	if err := VerifyPassword(h, "correct horse"); err != nil {
		t.Errorf("right password: %v", err)
	}
	for _, pw := range []string{"", "correct hors", "correct horse ", "Correct horse", strings.Repeat("x", 100)} {
		if err := VerifyPassword(h, pw); !errors.Is(err, ErrPasswordMismatch) {
			t.Errorf("VerifyPassword(%q) = %v, want ErrPasswordMismatch", pw, err)
		}
	}
	if err := VerifyPassword("not a hash", "x"); err == nil || errors.Is(err, ErrPasswordMismatch) {
		t.Errorf("a corrupt stored hash must be an error of its own, got %v", err)
	}
	h2, _ := HashPassword("correct horse", bcrypt.MinCost)
	if h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
}

func TestHashPasswordLimits(t *testing.T) {
	for _, tc := range []struct {
		pw   string
		cost int
	}{
		{"", 4},
		{strings.Repeat("x", 73), 4},
		{"pw", 3},
		{"pw", 32},
		{"pw", -1},
	} {
		if _, err := HashPassword(tc.pw, tc.cost); err == nil {
			t.Errorf("HashPassword(%d bytes, cost %d) accepted", len(tc.pw), tc.cost)
		}
	}
	if _, err := HashPassword(strings.Repeat("x", 72), 4); err != nil {
		t.Errorf("72-byte password: %v", err)
	}
}

func TestDefaultCostAndRehash(t *testing.T) {
	h, err := HashPassword("pw", 0)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := bcrypt.Cost([]byte(h)); c != DefaultBcryptCost {
		t.Errorf("default cost %d, want %d", c, DefaultBcryptCost)
	}
	if NeedsRehash(h, 0) || NeedsRehash(h, DefaultBcryptCost) {
		t.Error("a hash at the default cost needs rehashing")
	}
	low, _ := HashPassword("pw", 4)
	if !NeedsRehash(low, 0) || NeedsRehash(low, 4) || !NeedsRehash("garbage", 4) {
		t.Error("NeedsRehash is wrong")
	}
}

func TestOpaqueTokens(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		tok, hash, err := NewAccessToken()
		if err != nil {
			t.Fatal(err)
		}
		if !IsAccessToken(tok) || IsRefreshToken(tok) {
			t.Fatalf("%q is not recognised as an access token only", tok)
		}
		if len(tok) != len(AccessTokenPrefix)+40 || seen[tok] {
			t.Fatalf("token %q has the wrong length or repeats", tok)
		}
		seen[tok] = true
		if len(hash) != 64 || hash != HashSecret(tok) || strings.Contains(hash, tok) {
			t.Fatalf("hash %q of %q", hash, tok)
		}
		if !SecretMatches(tok, hash) || SecretMatches(tok+"x", hash) || SecretMatches(tok, hash[:63]) || SecretMatches(tok, "") {
			t.Fatal("SecretMatches is wrong")
		}
	}
	rt, rh, err := NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	if !IsRefreshToken(rt) || IsAccessToken(rt) || !SecretMatches(rt, rh) || !strings.HasPrefix(rt, RefreshTokenPrefix) {
		t.Errorf("refresh token %q", rt)
	}
}

func TestIsAccessToken(t *testing.T) {
	ok := AccessTokenPrefix + strings.Repeat("aZ09", 10)
	for s, want := range map[string]bool{
		ok:                      true,
		ok[:len(ok)-1]:          false,
		ok + "a":                false,
		"WHARF_" + ok[6:]:       false,
		ok[:10] + "-" + ok[11:]: false,
		ok[:10] + "é" + ok[12:]: false,
		"":                      false,
		AccessTokenPrefix:       false,
		"hunter2":               false,
	} {
		if got := IsAccessToken(s); got != want {
			t.Errorf("IsAccessToken(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestRandomBase62Uniform is a coarse check that no character is favoured:
// with modulo bias the first characters would come up about 5% more often.
func TestRandomBase62Uniform(t *testing.T) {
	const n = 62 * 2000
	s, err := randomBase62(n)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[byte]int{}
	for i := range len(s) {
		counts[s[i]]++
	}
	if len(counts) != 62 {
		t.Fatalf("%d distinct characters", len(counts))
	}
	for c, k := range counts {
		if k < 1700 || k > 2300 {
			t.Errorf("%q came up %d times in %d, want about 2000", c, k, n)
		}
	}
}

func FuzzIsAccessToken(f *testing.F) {
	tok, _, _ := NewAccessToken()
	f.Add(tok)
	f.Add("wharf_")
	f.Fuzz(func(t *testing.T, s string) {
		if IsAccessToken(s) {
			if !strings.HasPrefix(s, AccessTokenPrefix) || len(s) != len(AccessTokenPrefix)+randomBase62Length ||
				strings.Trim(s[len(AccessTokenPrefix):], base62) != "" {
				t.Fatalf("%q accepted", s)
			}
		}
		if SecretMatches(s, HashSecret(s+"x")) {
			t.Fatalf("%q matches another token's hash", s)
		}
	})
}
