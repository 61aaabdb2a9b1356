package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPatternMatch(t *testing.T) {
	sha := strings.Repeat("a1", 20)
	tests := []struct {
		pattern string
		match   []string
		miss    []string
	}{
		{"v*", []string{"v1", "v1.2.3", "v"}, []string{"latest", "V1", "1.0"}},
		{"release-?", []string{"release-1", "release-a"}, []string{"release-10", "release-"}},
		{"latest", []string{"latest"}, []string{"latest2", "Latest"}},
		{"[0-9]*", []string{"1", "2024.01"}, []string{"v1"}},
		{"semver", []string{"1.2.3", "v1.2.3", "v2.0.0-rc.1", "0.0.0", "10.20.30-alpha-2"},
			[]string{"v1", "1.2", "01.2.3", "v1.2.3.4", "latest", "v1.2.3-", "v1.2.3-rc..1"}},
		{"semver:>=1.25 <2", []string{"1.25.0", "v1.27.3", "1.99.0"}, []string{"1.24.9", "2.0.0", "1.26", "latest", "v1.26.0-rc.1"}},
		{"semver:^3.19", []string{"3.19.0", "3.20.1"}, []string{"3.18.9", "4.0.0"}},
		{"semver:~1.27 || ~1.26", []string{"1.27.4", "1.26.0"}, []string{"1.28.0", "1.25.9"}},
		{"semver:>=2.0.0-rc.1 <2.0.0", []string{"2.0.0-rc.1", "2.0.0-rc.2"}, []string{"2.0.0", "1.9.0"}},
		{"re:[0-9a-f]{40}", []string{sha}, []string{sha[:39], sha + "0", "v" + sha[1:]}},
		{"re:main|dev", []string{"main", "dev"}, []string{"main-1", "xdev"}},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tt.pattern, err)
		}
		if p.String() != tt.pattern {
			t.Errorf("String() = %q, want %q", p.String(), tt.pattern)
		}
		for _, tag := range tt.match {
			if !p.Match(tag) {
				t.Errorf("%q does not match %q; want a match", tt.pattern, tag)
			}
		}
		for _, tag := range tt.miss {
			if p.Match(tag) {
				t.Errorf("%q matches %q; want no match", tt.pattern, tag)
			}
		}
	}
}

func TestParsePatternErrors(t *testing.T) {
	tests := []struct{ pattern, want string }{
		{"", "must not be empty"},
		{"re:", "regular expression after"},
		{"re:([a-z]", "missing closing )"},
		{"v[1-", "malformed glob"},
		{"semver:", "version range after"},
		{"semver:not a range", "version range after"},
		{"a/b", `"/" cannot appear`},
		{"v 1", `" " cannot appear`},
		{strings.Repeat("a", 300), "longer than 256"},
	}
	for _, tt := range tests {
		_, err := ParsePattern(tt.pattern)
		if !errors.Is(err, ErrPattern) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePattern(%q) = %v; want ErrPattern saying %q", tt.pattern, err, tt.want)
		}
	}
}

func TestImmutable(t *testing.T) {
	rules := []ImmutabilityRule{
		{ID: 1, Namespace: "team", Pattern: "v*"},
		{ID: 2, Namespace: "team", Pattern: "semver"},
	}
	tests := []struct {
		tag  string
		rule int64 // 0: not immutable
	}{
		{"v1.0.0", 1}, {"1.0.0", 2}, {"latest", 0}, {"main", 0}, {"vnext", 1},
	}
	for _, tt := range tests {
		r, ok := Immutable(rules, tt.tag)
		if ok != (tt.rule != 0) || r.ID != tt.rule {
			t.Errorf("Immutable(%q) = %v, %v; want rule %d", tt.tag, r, ok, tt.rule)
		}
	}
	if _, ok := Immutable(nil, "v1"); ok {
		t.Error("no rules made a tag immutable")
	}
}

func TestImmutabilityRuleValidate(t *testing.T) {
	tests := []struct {
		rule ImmutabilityRule
		want string // "" for valid
	}{
		{ImmutabilityRule{Namespace: "team-a", Pattern: "v*"}, ""},
		{ImmutabilityRule{Namespace: "team-a", Pattern: "semver"}, ""},
		{ImmutabilityRule{Namespace: "", Pattern: "v*"}, "namespace: must not be empty"},
		{ImmutabilityRule{Namespace: "Team", Pattern: "v*"}, "namespace: \"Team\" is not a namespace"},
		{ImmutabilityRule{Namespace: "team", Pattern: "re:("}, "pattern: invalid tag pattern"},
	}
	for _, tt := range tests {
		err := tt.rule.Validate()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v.Validate() = %v; want %q", tt.rule, err, tt.want)
		}
	}
}

func TestCheckQuota(t *testing.T) {
	tests := []struct {
		limit, used, adding int64
		refused             bool
	}{
		{100, 0, 100, false},
		{100, 60, 40, false},
		{100, 60, 41, true},
		{0, 0, 1, true},
		{100, 150, 0, false}, // over a lowered quota, adding nothing
		{100, 150, 1, true},
	}
	for _, tt := range tests {
		err := CheckQuota("team", tt.limit, tt.used, tt.adding)
		var qe *QuotaError
		if errors.As(err, &qe) != tt.refused {
			t.Errorf("CheckQuota(%d, %d, %d) = %v; refused want %v", tt.limit, tt.used, tt.adding, err, tt.refused)
			continue
		}
		if tt.refused && (qe.Limit != tt.limit || qe.Used != tt.used || qe.Adding != tt.adding || qe.Namespace != "team") {
			t.Errorf("QuotaError = %+v", qe)
		}
	}
	if err := ValidateQuota("team", -1); err == nil || !strings.Contains(err.Error(), "limitBytes: must not be negative") {
		t.Errorf("ValidateQuota(-1) = %v", err)
	}
	if err := ValidateQuota("a/b", 1); err == nil || !strings.Contains(err.Error(), "namespace:") {
		t.Errorf("ValidateQuota(a/b) = %v", err)
	}
	if err := ValidateQuota("team", 0); err != nil {
		t.Errorf("ValidateQuota(0) = %v", err)
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "12h": 12 * time.Hour, "0d": 0, "90m": 90 * time.Minute} {
		d, err := ParseDuration(in)
		if err != nil || time.Duration(d) != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	for _, in := range []string{"", "d", "1.5d", "ten days", "1w"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", in)
		}
	}
	if s := Duration(48 * time.Hour).String(); s != "2d" {
		t.Errorf("String() = %q", s)
	}
}

func TestScope(t *testing.T) {
	tests := []struct {
		scope, repo string
		match       bool
	}{
		{"team", "team/app", true},
		{"team", "team", true},
		{"team", "team-b/app", false},
		{"team/app*", "team/app-api", true},
		{"team/app*", "team/app/sub", false},
		{"team/*/*", "team/svc/api", true},
		{"team/app", "team/app", true},
		{"team/app", "team/app2", false},
	}
	for _, tt := range tests {
		if err := validateScope(tt.scope); err != nil {
			t.Fatalf("validateScope(%q): %v", tt.scope, err)
		}
		if got := ScopeMatches(tt.scope, tt.repo); got != tt.match {
			t.Errorf("ScopeMatches(%q, %q) = %v", tt.scope, tt.repo, got)
		}
	}
	for _, bad := range []string{"", "Team", "team/", "team/[", "/app"} {
		if err := validateScope(bad); err == nil {
			t.Errorf("validateScope(%q) succeeded", bad)
		}
	}
}
