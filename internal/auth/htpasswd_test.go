package auth

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// htpasswdHash returns a bcrypt hash of pw as htpasswd -B writes it, $2y$.
func htpasswdHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return "$2y$" + string(h[4:])
}

func TestParseHtpasswdLine(t *testing.T) {
	y := htpasswdHash(t, "s3cret")
	for _, tc := range []struct {
		line   string
		user   string
		ok     bool
		errHas string
	}{
		{"alice:" + y, "alice", true, ""},
		{"alice:" + y + "\r\n", "alice", true, ""},
		{"ci-bot@example.com:" + y + "  ", "ci-bot@example.com", true, ""},
		{"bob:$2b$" + y[4:], "bob", true, ""},
		{"", "", false, ""},
		{"   ", "", false, ""},
		{"# comment", "", false, ""},
		{"  # indented comment", "", false, ""},
		{"alice", "", false, "want user:hash"},
		{":" + y, "", false, "user name"},
		{"al ice:" + y, "", false, "user name"},
		{"al\x00ice:" + y, "", false, "user name"},
		{"al\xffice:" + y, "", false, "user name"},
		{"alice:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/", "", false, "Apache MD5 ($apr1$) hashes are not supported"},
		{"alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "", false, "SHA-1 ({SHA})"},
		{"alice:$1$abc$def", "", false, "MD5-crypt"},
		{"alice:$6$abc$def", "", false, "SHA-crypt"},
		{"alice:rqXexS6ZhobKA", "", false, "crypt or plain-text"},
		{"alice:", "", false, "empty hashes"},
		{"alice:$2y$05$tooshort", "", false, "malformed bcrypt hash"},
		{"alice:$2y$99$" + y[7:], "", false, "malformed bcrypt hash"},
		{"alice:" + strings.Repeat("x", maxHtpasswdLine), "", false, "longer than"},
	} {
		e, ok, err := ParseHtpasswdLine(tc.line)
		if tc.errHas != "" {
			if !errors.Is(err, ErrHtpasswdInvalid) || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("ParseHtpasswdLine(%.40q) error = %v, want one mentioning %q", tc.line, err, tc.errHas)
			}
			continue
		}
		if err != nil || ok != tc.ok || e.User != tc.user {
			t.Errorf("ParseHtpasswdLine(%.40q) = %+v, %v, %v", tc.line, e, ok, err)
		}
	}
}

func TestHtpasswdHashVerifies(t *testing.T) {
	e, ok, err := ParseHtpasswdLine("alice:" + htpasswdHash(t, "s3cret"))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := VerifyPassword(e.Hash, "s3cret"); err != nil {
		t.Errorf("imported $2y$ hash: %v", err)
	}
	if err := VerifyPassword(e.Hash, "s3creT"); !errors.Is(err, ErrPasswordMismatch) {
		t.Errorf("wrong password against imported hash: %v", err)
	}
}

func TestParseHtpasswd(t *testing.T) {
	a, b := htpasswdHash(t, "a"), htpasswdHash(t, "b")
	file := strings.Join([]string{
		"# users",
		"alice:" + a,
		"",
		"bob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/",
		"carol:" + b,
		"alice:" + b,
		"dave",
	}, "\n")
	got, err := ParseHtpasswd(strings.NewReader(file))
	if len(got) != 2 || got[0].User != "alice" || got[0].Hash != a || got[1].User != "carol" {
		t.Errorf("entries %+v", got)
	}
	msg := err.Error()
	for _, want := range []string{"line 4", "bob", "line 6", `"alice" already on line 2`, "line 7"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if !errors.Is(err, ErrHtpasswdInvalid) {
		t.Errorf("error does not wrap ErrHtpasswdInvalid")
	}
	if got, err := ParseHtpasswd(strings.NewReader("alice:" + a + "\r\n")); err != nil || len(got) != 1 {
		t.Errorf("clean file: %v, %v", got, err)
	}
	if _, err := ParseHtpasswd(strings.NewReader(strings.Repeat("x", 3*maxHtpasswdLine))); err == nil {
		t.Error("an endless line is accepted")
	}
}

func FuzzParseHtpasswdLine(f *testing.F) {
	f.Add("alice:" + htpasswdHash(f, "pw"))
	f.Add("# c")
	f.Add("a:$apr1$x$y")
	f.Add("a:$2y$04$")
	f.Fuzz(func(t *testing.T, line string) {
		e, ok, err := ParseHtpasswdLine(line)
		if err != nil {
			if !errors.Is(err, ErrHtpasswdInvalid) || ok {
				t.Fatalf("error %v (ok %v)", err, ok)
			}
			return
		}
		if !ok {
			return
		}
		if e.User == "" || strings.ContainsAny(e.User, ": \t\r\n") {
			t.Fatalf("user %q", e.User)
		}
		if _, err := bcrypt.Cost([]byte(e.Hash)); err != nil {
			t.Fatalf("hash %q accepted: %v", e.Hash, err)
		}
	})
}
