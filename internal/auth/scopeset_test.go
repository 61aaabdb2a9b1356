package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, repo string
		want          bool
	}{
		{"*", "a", true},
		{"*", "team-a/app/sub", true},
		{"*", "", false},
		{"ci/*", "ci/app", true},
		{"ci/*", "ci/a/b", true},
		{"ci/*", "ci", false},
		{"ci/*", "ci/", false},
		{"ci/*", "cicd/app", false},
		{"ci/*", "c/app", false},
		{"ci/*", "team/ci/app", false},
		{"ci/app/*", "ci/app/x", true},
		{"ci/app/*", "ci/app", false},
		{"ci/app/*", "ci/apps/x", false},
		{"team-a/app", "team-a/app", true},
		{"team-a/app", "team-a/app/sub", false},
		{"team-a/app", "team-a/ap", false},
		{"team-a/app", "team-a/apps", false},
		{"ci*", "cicd", false},
		{"", "", false},
	} {
		if got := MatchPattern(tc.pattern, tc.repo); got != tc.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", tc.pattern, tc.repo, got, tc.want)
		}
	}
}

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in      string
		pattern string
		actions []Action
		errHas  string // "" for success
	}{
		{"ci/*:pull,push", "ci/*", []Action{ActionPull, ActionPush}, ""},
		{"team-a/app:pull", "team-a/app", []Action{ActionPull}, ""},
		{"*:*", "*", []Action{ActionAll}, ""},
		{"a/b/*:delete,manage", "a/b/*", []Action{ActionDelete, ActionManage}, ""},
		{"ci/*", "", nil, "want PATTERN:ACTIONS"},
		{"ci/*:", "", nil, "unknown action"},
		{"ci/*:pull,", "", nil, "unknown action"},
		{"ci/*:read", "", nil, "unknown action \"read\""},
		{"ci/*:pull,pull", "", nil, "given twice"},
		{":pull", "", nil, "invalid repository name"},
		{"ci*:pull", "", nil, "wildcard may only be a whole last segment"},
		{"*/app:pull", "", nil, "wildcard may only be a whole last segment"},
		{"ci/**:pull", "", nil, "wildcard may only be a whole last segment"},
		{"ci/*/x:pull", "", nil, "wildcard may only be a whole last segment"},
		{"/*:pull", "", nil, "invalid repository name"},
		{"Team/*:pull", "", nil, "invalid repository name"},
		{"ci//app:pull", "", nil, "invalid repository name"},
		{"ci/app:pull:push", "", nil, "unknown action"},
	} {
		s, err := ParseScope(tc.in)
		if tc.errHas != "" {
			if !errors.Is(err, ErrScopeInvalid) || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("ParseScope(%q) error = %v, want ErrScopeInvalid mentioning %q", tc.in, err, tc.errHas)
			}
			continue
		}
		if err != nil || s.Pattern != tc.pattern || !slices.Equal(s.Actions, tc.actions) {
			t.Errorf("ParseScope(%q) = %+v, %v", tc.in, s, err)
		}
		if s.String() != tc.in {
			t.Errorf("ParseScope(%q).String() = %q", tc.in, s.String())
		}
	}
}

func TestScopeSetValidate(t *testing.T) {
	ok := Scope{Pattern: "ci/*", Actions: []Action{ActionPull}}
	if err := (ScopeSet{ok, ok}).Validate(); err != nil {
		t.Errorf("valid set: %v", err)
	}
	err := ScopeSet{ok, {Pattern: "ci/*"}}.Validate()
	if !errors.Is(err, ErrScopeInvalid) || !strings.Contains(err.Error(), "scope 2") || !strings.Contains(err.Error(), "no actions") {
		t.Errorf("set with an empty scope: %v", err)
	}
}

func TestScopeSetAllows(t *testing.T) {
	later := t0.Add(time.Hour)
	ss := ScopeSet{
		{Pattern: "ci/*", Actions: []Action{ActionPull, ActionPush}},
		{Pattern: "team-a/app", Actions: []Action{ActionDelete}, Expires: later},
		{Pattern: "team-b/*", Actions: []Action{ActionAll}},
	}
	for _, tc := range []struct {
		repo string
		a    Action
		now  time.Time
		want bool
	}{
		{"ci/app", ActionPull, t0, true},
		{"ci/a/b", ActionPush, t0, true},
		{"ci/app", ActionDelete, t0, false},
		{"cicd/app", ActionPull, t0, false},
		{"team-a/app", ActionDelete, t0, true},
		{"team-a/app", ActionDelete, later.Add(-time.Nanosecond), true},
		{"team-a/app", ActionDelete, later, false},
		{"team-a/app", ActionDelete, time.Time{}, false},
		{"team-a/app", ActionPull, t0, false},
		{"team-b/x", ActionManage, t0, true},
		{"team-b/x", ActionAll, t0, true},
		{"ci/app", ActionAll, t0, false},
		{"team-b/x", "bogus", t0, false},
		{"team-b/x", "", t0, false},
	} {
		if got := ss.Allows(tc.repo, tc.a, tc.now); got != tc.want {
			t.Errorf("Allows(%q, %q, %v) = %v, want %v", tc.repo, tc.a, tc.now, got, tc.want)
		}
	}
	if (ScopeSet{}).Allows("ci/app", ActionPull, t0) {
		t.Error("empty set allows")
	}
	if (ScopeSet{}).Allows("ci/app", ActionAll, t0) {
		t.Error("empty set allows *")
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"ci/*:pull,push", "*:*", "team-a/app:delete", "ci*:pull", ":", "a/*:manage,*"} {
		f.Add(s, "ci/app/x")
	}
	f.Fuzz(func(t *testing.T, s, repo string) {
		sc, err := ParseScope(s)
		if err != nil {
			if !errors.Is(err, ErrScopeInvalid) {
				t.Fatalf("ParseScope(%q) error %v is not ErrScopeInvalid", s, err)
			}
			return
		}
		if sc.String() != s {
			t.Fatalf("ParseScope(%q).String() = %q", s, sc.String())
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("parsed scope %q does not validate: %v", s, err)
		}
		if !sc.Matches(repo) {
			return
		}
		// A match is exact or below the pattern's prefix, by whole segments.
		switch {
		case sc.Pattern == "*":
		case strings.HasSuffix(sc.Pattern, "/*"):
			prefix := strings.TrimSuffix(sc.Pattern, "*")
			if !strings.HasPrefix(repo, prefix) || len(repo) == len(prefix) {
				t.Fatalf("%q matches %q", sc.Pattern, repo)
			}
		case repo != sc.Pattern:
			t.Fatalf("%q matches %q", sc.Pattern, repo)
		}
	})
}
