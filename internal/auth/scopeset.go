package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/oci"
)

// ErrScopeInvalid is returned for a token or robot scope that does not parse
// or validate.
var ErrScopeInvalid = errors.New("invalid scope")

// Scope is one entry of what a personal access token or robot account may do:
// actions on the repositories a pattern matches, until an optional expiry.
//
// A pattern is a repository name ("team-a/app"), a name followed by "/*"
// ("ci/*": every repository below ci/, at any depth), or "*" alone (every
// repository). Matching goes by whole path segments, so "ci/*" matches
// "ci/app" and "ci/a/b" but neither "cicd/app" nor "ci" itself.
type Scope struct {
	Pattern string    `json:"pattern"`
	Actions []Action  `json:"actions"`
	Expires time.Time `json:"expires,omitzero"` // zero: never
}

// ScopeSet is every [Scope] of one token or robot. An action is allowed when
// any one scope allows it.
type ScopeSet []Scope

// ParseScope parses the textual form of a scope, "PATTERN:ACTION[,ACTION]*",
// e.g. "ci/*:pull,push", as typed on the command line. The expiry is not part
// of the text; set it on the result.
func ParseScope(s string) (Scope, error) {
	pattern, list, ok := strings.Cut(s, ":")
	if !ok {
		return Scope{}, fmt.Errorf("%w: %q: want PATTERN:ACTIONS, e.g. ci/*:pull,push", ErrScopeInvalid, truncate(s))
	}
	sc := Scope{Pattern: pattern}
	for a := range strings.SplitSeq(list, ",") {
		sc.Actions = append(sc.Actions, Action(a))
	}
	if err := sc.Validate(); err != nil {
		return Scope{}, err
	}
	return sc, nil
}

// String returns the textual form [ParseScope] reads; the expiry is left out.
func (s Scope) String() string {
	var b strings.Builder
	b.WriteString(s.Pattern)
	b.WriteByte(':')
	for i, a := range s.Actions {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(a))
	}
	return b.String()
}

// Validate reports whether s has a well-formed pattern and at least one
// known action, each once.
func (s Scope) Validate() error {
	if err := validatePattern(s.Pattern); err != nil {
		return err
	}
	if len(s.Actions) == 0 {
		return fmt.Errorf("%w: pattern %q has no actions", ErrScopeInvalid, truncate(s.Pattern))
	}
	for i, a := range s.Actions {
		if !a.Valid() {
			return fmt.Errorf("%w: pattern %q: unknown action %q (want pull, push, delete, manage or *)", ErrScopeInvalid, truncate(s.Pattern), truncate(string(a)))
		}
		if slices.Contains(s.Actions[:i], a) {
			return fmt.Errorf("%w: pattern %q: action %q given twice", ErrScopeInvalid, truncate(s.Pattern), a)
		}
	}
	return nil
}

func validatePattern(p string) error {
	if p == "*" {
		return nil
	}
	base := strings.TrimSuffix(p, "/*")
	if strings.Contains(base, "*") {
		return fmt.Errorf("%w: pattern %q: a wildcard may only be a whole last segment, as in ci/*, or * alone", ErrScopeInvalid, truncate(p))
	}
	if err := oci.ValidateName(base); err != nil {
		return fmt.Errorf("%w: pattern %q: %w", ErrScopeInvalid, truncate(p), err)
	}
	return nil
}

// Matches reports whether the pattern of s matches repo, by whole segments.
func (s Scope) Matches(repo string) bool { return MatchPattern(s.Pattern, repo) }

// MatchPattern reports whether pattern matches repo, by whole segments: "*"
// matches every repository, "ci/*" every repository below "ci/", and any
// other pattern only the repository of that name.
func MatchPattern(pattern, repo string) bool {
	if repo == "" {
		return false
	}
	if pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok && strings.HasSuffix(prefix, "/") {
		return len(repo) > len(prefix) && strings.HasPrefix(repo, prefix)
	}
	return pattern == repo
}

// Expired reports whether s has expired at now. A scope with an expiry
// counts as expired at the zero time, so forgetting to pass the clock fails
// closed.
func (s Scope) Expired(now time.Time) bool {
	return !s.Expires.IsZero() && (now.IsZero() || !now.Before(s.Expires))
}

// allows reports whether s alone allows concrete action a on repo at now.
func (s Scope) allows(repo string, a Action, now time.Time) bool {
	if s.Expired(now) || !s.Matches(repo) {
		return false
	}
	return slices.Contains(s.Actions, a) || slices.Contains(s.Actions, ActionAll)
}

// Allows reports whether any scope in ss allows action a on repo at now.
// [ActionAll] is allowed when every concrete action is, possibly by
// different scopes; an unknown action never is.
func (ss ScopeSet) Allows(repo string, a Action, now time.Time) bool {
	if a == ActionAll {
		for _, c := range concreteActions {
			if !ss.Allows(repo, c, now) {
				return false
			}
		}
		return true
	}
	if !a.Valid() {
		return false
	}
	for _, s := range ss {
		if s.allows(repo, a, now) {
			return true
		}
	}
	return false
}

// Validate reports the first invalid scope in ss, by position.
func (ss ScopeSet) Validate() error {
	for i, s := range ss {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("scope %d: %w", i+1, err)
		}
	}
	return nil
}
