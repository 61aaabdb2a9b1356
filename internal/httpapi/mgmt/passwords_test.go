package mgmt_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// TestPasswordRules: every way the API sets a password refuses one that is
// too short or is the user name, with a 400 saying which rule, and changes
// nothing. Before, a one-character password was accepted.
func TestPasswordRules(t *testing.T) {
	e := newEnv(t)
	refused := func(caller, method, path string, body any, says string) {
		t.Helper()
		p := e.want(http.StatusBadRequest, caller, method, path, body, nil).problem(t)
		if p.Code != "INVALID_REQUEST" || !strings.Contains(p.Detail, says) {
			t.Errorf("%s %s: problem %+v; want INVALID_REQUEST saying %q", method, path, p, says)
		}
	}
	refused("root", "POST", "/api/v1/users", mgmt.UserCreate{Name: "alice", Password: "x"}, "password refused: it has 1 characters; at least 8 are required")
	refused("root", "POST", "/api/v1/users", mgmt.UserCreate{Name: "alice", Password: "1234567"}, "at least 8 are required")
	refused("root", "POST", "/api/v1/users", mgmt.UserCreate{Name: "alexander", Password: "Alexander"}, "password refused: it is the user name")
	e.want(http.StatusNotFound, "root", "GET", "/api/v1/users/alice", nil, nil)
	e.want(http.StatusNotFound, "root", "GET", "/api/v1/users/alexander", nil, nil)

	e.want(http.StatusCreated, "root", "POST", "/api/v1/users", mgmt.UserCreate{Name: "alice", Password: "12345678"}, nil)
	e.principals["alice"] = auth.Principal{Kind: auth.KindUser, Name: "alice"}
	before, _ := e.store.User(t.Context(), "alice")
	refused("alice", "PATCH", "/api/v1/users/alice", map[string]any{"password": "short"}, "at least 8 are required")
	refused("alice", "PATCH", "/api/v1/users/alice", map[string]any{"password": "ALICE"}, "at least 8")
	refused("root", "PATCH", "/api/v1/users/alice", map[string]any{"password": "short", "disabled": true}, "at least 8 are required")
	after, _ := e.store.User(t.Context(), "alice")
	if after.PasswordHash != before.PasswordHash || after.Disabled {
		t.Error("a refused change changed the user")
	}
	// A token-only account stays possible: no password at all.
	e.want(http.StatusCreated, "root", "POST", "/api/v1/users", mgmt.UserCreate{Name: "robot-owner"}, nil)
}

// TestImportPasswordRules: an imported hash of the user's own name is
// refused (one bcrypt comparison finds it); the length of the password
// behind a hash cannot be known, so a short one is imported, and the rules
// apply when the user next sets a password.
func TestImportPasswordRules(t *testing.T) {
	e := newEnv(t)
	hash := func(pw string) string {
		h, err := auth.HashPassword(pw, 4)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	file := "mallory:" + hash("mallory") + "\ntrent:" + hash("ab") + "\nvictor:" + hash("a long password") + "\n"
	var res mgmt.ImportResult
	e.want(http.StatusOK, "root", "POST", "/api/v1/users/import", file, &res)
	if !slices.Equal(res.Created, []string{"trent", "victor"}) || len(res.Errors) != 1 ||
		!strings.Contains(res.Errors[0], `user "mallory": password refused: it is the user name`) {
		t.Errorf("import = %+v", res)
	}
	e.want(http.StatusNotFound, "root", "GET", "/api/v1/users/mallory", nil, nil)
}
