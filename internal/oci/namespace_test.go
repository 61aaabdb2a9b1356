package oci

import (
	"errors"
	"strings"
	"testing"
)

func TestNamespace(t *testing.T) {
	for repo, want := range map[string]string{
		"team-a/app":     "team-a",
		"team-a/app/sub": "team-a",
		"alpine":         "alpine",
		"":               "",
	} {
		if got := Namespace(repo); got != want {
			t.Errorf("Namespace(%q) = %q, want %q", repo, got, want)
		}
	}
}

// TestNamespaceRange: a name falls in the range (or is the namespace's own
// name) exactly when InNamespace says it is in the namespace, including the
// names that sort right beside the bounds.
func TestNamespaceRange(t *testing.T) {
	const ns = "team"
	lo, hi := NamespaceRange(ns)
	for _, repo := range []string{
		"team", "team/a", "team/z/y", "team-a", "team-a/app", "team.x/app", "team_x", "team0", "team0/app",
		"teal/app", "tea", "teams/app", "te/am", "a", "zzz", "team/", "team//x",
	} {
		inRange := repo == ns || (repo >= lo && repo < hi)
		if in := InNamespace(repo, ns); in != inRange {
			t.Errorf("%q: InNamespace = %v, in the range [%q, %q) = %v", repo, in, lo, hi, inRange)
		}
	}
}

func TestValidateNamespace(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string // a part of the error; "" for valid
	}{
		{"team-a", ""},
		{"a", ""},
		{"a.b_c__d--e", ""},
		{strings.Repeat("a", 255), ""},
		{"", "must not be empty"},
		{"Team", "lower case"},
		{"a/b", "one path component"},
		{"-x", "not a namespace name"},
		{"x-", "not a namespace name"},
		{"a___b", "not a namespace name"},
		{"a b", "not a namespace name"},
		{strings.Repeat("x", 300), "the limit is 255"},
	} {
		err := ValidateNamespace(tc.name)
		if (err == nil) != (tc.want == "") {
			t.Errorf("ValidateNamespace(%q) = %v, want error containing %q", truncate(tc.name), err, tc.want)
			continue
		}
		if err != nil && (!errors.Is(err, ErrNamespaceInvalid) || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("ValidateNamespace(%q) = %v, want ErrNamespaceInvalid containing %q", truncate(tc.name), err, tc.want)
		}
		// A valid namespace is a valid one-component repository name, and
		// the other way round.
		if (err == nil) != (ValidateName(tc.name) == nil && !strings.Contains(tc.name, "/")) {
			t.Errorf("ValidateNamespace(%q) and ValidateName disagree", truncate(tc.name))
		}
	}
}
