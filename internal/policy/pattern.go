package policy

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Pattern syntax, shared by immutability and retention rules:
//
//   - "semver": a semantic version, with or without a leading "v" and with
//     an optional pre-release ("1.2.3", "v1.2.3", "v2.0.0-rc.1").
//   - "semver:RANGE": a semantic version (as above) within RANGE, in the
//     constraint syntax Helm and npm users know: comparisons joined by
//     spaces or commas (all must hold) and "||" (either), "~1.2" (patch
//     releases of 1.2), "^1.2" (minor and patch releases of 1), "1.x"
//     ("semver:>=1.25 <2", "semver:^3.19", "semver:~1.27 || ~1.26"). A
//     pre-release matches only a range that names one.
//   - "re:EXPR": the RE2 regular expression EXPR, matched against the whole
//     tag ("re:[0-9a-f]{40}" is a 40-character commit SHA).
//   - anything else: a glob over the whole tag, with "*" (any run of
//     characters), "?" (one character) and "[...]" classes ("v*", "release-?").
const (
	SemverPattern = "semver"
	SemverPrefix  = "semver:"
	RegexpPrefix  = "re:"
)

// semverRE is semantic versioning 2.0's core and pre-release, with the "v"
// prefix tags often carry. Build metadata ("+...") cannot appear in a tag.
var semverRE = regexp.MustCompile(`^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)

// globChars are the characters a glob may hold: those of the tag grammar
// and the glob operators.
const globChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-*?[]^!"

// maxPatternLen bounds a pattern, to keep stored rules and error messages sane.
const maxPatternLen = 256

// ErrPattern is wrapped by every error about a malformed pattern.
var ErrPattern = errors.New("invalid tag pattern")

// Pattern is a compiled tag pattern.
type Pattern struct {
	text   string
	re     *regexp.Regexp      // for semver and re: patterns; nil for a glob
	semver *semver.Constraints // for semver: patterns
}

// ParsePattern compiles s, or returns an error wrapping [ErrPattern] that
// says what is wrong.
func ParsePattern(s string) (Pattern, error) {
	bad := func(format string, args ...any) (Pattern, error) {
		return Pattern{}, fmt.Errorf("%w %q: %s", ErrPattern, truncate(s), fmt.Sprintf(format, args...))
	}
	switch {
	case s == "":
		return bad("must not be empty")
	case len(s) > maxPatternLen:
		return bad("longer than %d characters", maxPatternLen)
	case s == SemverPattern:
		return Pattern{text: s, re: semverRE}, nil
	case strings.HasPrefix(s, SemverPrefix):
		c, err := semver.NewConstraint(strings.TrimPrefix(s, SemverPrefix))
		if err != nil {
			return bad("the version range after %q: %v", SemverPrefix, err)
		}
		return Pattern{text: s, re: semverRE, semver: c}, nil
	case strings.HasPrefix(s, RegexpPrefix):
		expr := strings.TrimPrefix(s, RegexpPrefix)
		if expr == "" {
			return bad("the regular expression after %q is empty", RegexpPrefix)
		}
		re, err := regexp.Compile(`^(?:` + expr + `)$`)
		if err != nil {
			return bad("%v", err)
		}
		return Pattern{text: s, re: re}, nil
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune(globChars, r) }); i >= 0 {
		return bad("%q cannot appear in a tag or a glob (use %q for a regular expression)", s[i:i+1], RegexpPrefix)
	}
	if _, err := path.Match(s, ""); err != nil {
		return bad("malformed glob: %v", err)
	}
	return Pattern{text: s}, nil
}

// Match reports whether tag matches the pattern.
func (p Pattern) Match(tag string) bool {
	if p.semver != nil {
		if !p.re.MatchString(tag) {
			return false
		}
		v, err := semver.NewVersion(tag)
		return err == nil && p.semver.Check(v)
	}
	if p.re != nil {
		return p.re.MatchString(tag)
	}
	ok, _ := path.Match(p.text, tag) // the glob was checked by ParsePattern
	return ok
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.text }

func truncate(s string) string {
	const n = 64
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
