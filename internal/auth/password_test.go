package auth

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestPasswordPolicyCheck(t *testing.T) {
	p := PasswordPolicy{BcryptCost: bcrypt.MinCost}
	for _, tt := range []struct {
		user, pw string
		says     string // "" accepted
	}{
		{"alice", "", "it is empty"},
		{"alice", "x", "it has 1 characters; at least 8 are required"},
		{"alice", "1234567", "it has 7 characters; at least 8 are required"},
		{"alice", "ééééééé", "it has 7 characters"}, // 14 bytes, 7 characters
		{"alice", strings.Repeat("x", 73), "at most 72 are allowed"},
		{"alexander", "alexander", "it is the user name"},
		{"alexander", "ALEXANDER", "it is the user name"},
		{"alice", "12345678", ""},
		{"alexander", "alexander1", ""},
		{"alice", strings.Repeat("x", 72), ""},
	} {
		err := p.Check(tt.user, tt.pw)
		if tt.says == "" {
			if err != nil {
				t.Errorf("Check(%q, %q) = %v", tt.user, tt.pw, err)
			}
			continue
		}
		if !errors.Is(err, ErrPasswordInvalid) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("Check(%q, %q) = %v; want ErrPasswordInvalid saying %q", tt.user, tt.pw, err, tt.says)
		}
		if _, herr := p.Hash(tt.user, tt.pw); !errors.Is(herr, ErrPasswordInvalid) {
			t.Errorf("Hash(%q, %q) = %v; want the same refusal", tt.user, tt.pw, herr)
		}
	}
	if err := (PasswordPolicy{MinLength: 12}).Check("bob", "elevenchars"); err == nil || !strings.Contains(err.Error(), "at least 12") {
		t.Errorf("MinLength 12: %v", err)
	}
	h, err := p.Hash("alice", "a good password")
	if err != nil || VerifyPassword(h, "a good password") != nil {
		t.Fatalf("Hash: %q, %v", h, err)
	}
	if c, _ := bcrypt.Cost([]byte(h)); c != bcrypt.MinCost {
		t.Errorf("hash cost %d, want %d", c, bcrypt.MinCost)
	}
}

func TestPasswordPolicyCheckHash(t *testing.T) {
	p := PasswordPolicy{}
	own, _ := HashPassword("alice", bcrypt.MinCost)
	if err := p.CheckHash("alice", own); !errors.Is(err, ErrPasswordInvalid) || !strings.Contains(err.Error(), "user name") {
		t.Errorf("CheckHash of the user name = %v", err)
	}
	short, _ := HashPassword("x", bcrypt.MinCost) // its length cannot be known
	if err := p.CheckHash("alice", short); err != nil {
		t.Errorf("CheckHash = %v", err)
	}
	if err := p.CheckHash("alice", "$2y$05$broken"); err == nil || errors.Is(err, ErrPasswordInvalid) {
		t.Errorf("a broken hash = %v; want an error of its own", err)
	}
}

// work counts the bcrypt work of comparisons: 2^cost per comparison.
type work struct {
	mu    sync.Mutex
	total int
	costs []int
}

func (w *work) compare(hash, password []byte) error {
	c, err := bcrypt.Cost(hash)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.total += 1 << c
	w.costs = append(w.costs, c)
	w.mu.Unlock()
	return bcrypt.CompareHashAndPassword(hash, password)
}

func (w *work) take() (int, []int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, c := w.total, w.costs
	w.total, w.costs = 0, nil
	return t, c
}

// Every verification costs 2^cost rounds of bcrypt at the configured cost,
// whether the hash is empty (no such user), at that cost, or at a lower
// one (an imported hash): counted, so that a loaded machine cannot make
// the test flaky.
func TestPasswordVerifierCostsTheSame(t *testing.T) {
	const cost = 7
	var w work
	v, err := NewPasswordVerifier(cost, w.compare)
	if err != nil {
		t.Fatal(err)
	}
	same, _ := HashPassword("right password", cost)
	low, _ := HashPassword("right password", bcrypt.MinCost)
	cases := []struct {
		name, hash, pw string
		want           error
	}{
		{"no hash", "", "right password", ErrPasswordMismatch},
		{"wrong password", same, "wrong password", ErrPasswordMismatch},
		{"right password", same, "right password", nil},
		{"wrong password, low cost", low, "wrong password", ErrPasswordMismatch},
		{"right password, low cost", low, "right password", nil},
		{"too long", same, strings.Repeat("x", 100), ErrPasswordMismatch},
	}
	for _, tc := range cases {
		if err := v.Verify(tc.hash, tc.pw); !errors.Is(err, tc.want) && err != tc.want {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
		if total, costs := w.take(); total != 1<<cost {
			t.Errorf("%s: bcrypt work %d (comparisons at costs %v), want %d", tc.name, total, costs, 1<<cost)
		}
	}
	// The dummy follows the configured cost, not the default.
	v.Verify("", "x")
	if _, costs := w.take(); len(costs) != 1 || costs[0] != cost {
		t.Errorf("dummy comparison at costs %v, want [%d]", costs, cost)
	}
	if _, err := NewPasswordVerifier(3, nil); err == nil {
		t.Error("cost 3 accepted")
	}
}
