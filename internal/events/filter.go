package events

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// Repository patterns of a webhook select repositories by name, a "/"
// separated glob: "*" matches within one path component ("team/*" is
// "team/app" but not "team/tools/app"), "?" one character, "[...]" a
// class, and a component "**" any number of components ("team/**" is
// every repository of team).

// ValidateRepositoryPattern reports what is wrong with pattern.
func ValidateRepositoryPattern(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("a repository pattern must not be empty")
	}
	if len(pattern) > 255 {
		return fmt.Errorf("repository pattern %.64q...: longer than 255 characters", pattern)
	}
	for _, seg := range strings.Split(pattern, "/") {
		if seg == "" {
			return fmt.Errorf("repository pattern %q has an empty path component", pattern)
		}
		if seg == "**" {
			continue
		}
		if strings.Contains(seg, "**") {
			return fmt.Errorf("repository pattern %q: \"**\" must be a whole path component", pattern)
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("repository pattern %q: malformed glob: %v", pattern, err)
		}
	}
	return nil
}

// MatchRepository reports whether repository repo matches pattern.
func MatchRepository(pattern, repo string) bool {
	return matchSegments(strings.Split(pattern, "/"), strings.Split(repo, "/"))
}

func matchSegments(p, r []string) bool {
	for len(p) > 0 {
		if p[0] == "**" {
			for i := 0; i <= len(r); i++ {
				if matchSegments(p[1:], r[i:]) {
					return true
				}
			}
			return false
		}
		if len(r) == 0 {
			return false
		}
		if ok, _ := path.Match(p[0], r[0]); !ok {
			return false
		}
		p, r = p[1:], r[1:]
	}
	return len(r) == 0
}

// Matches reports whether webhook w is to be sent event e: w is enabled,
// e happened after w was created, e is in w's namespace (for a
// namespace's webhook), of one of w's kinds
// (any kind its format renders when it names none), and, when w names
// repository patterns, about a repository matching one of them.
func Matches(w *meta.Webhook, e *meta.Event) bool {
	if !w.Enabled || !Known(Kind(e.Kind)) {
		return false // a ping, an audit line, or a kind of a newer version
	}
	if w.Namespace != "" && e.Namespace != w.Namespace {
		return false
	}
	if e.At.Before(w.CreatedAt) {
		return false // it happened before the webhook existed
	}
	if !Format(w.Format).Supports(Kind(e.Kind)) {
		return false
	}
	if len(w.Kinds) > 0 && !slices.Contains(w.Kinds, e.Kind) {
		return false
	}
	if len(w.Repositories) == 0 {
		return true
	}
	if e.Repository == "" {
		return false
	}
	for _, p := range w.Repositories {
		if MatchRepository(p, e.Repository) {
			return true
		}
	}
	return false
}

// checkFilter checks a webhook's kinds and repository patterns against its
// format and namespace.
func checkFilter(w *meta.Webhook) error {
	f := Format(w.Format)
	for _, k := range w.Kinds {
		if !Known(Kind(k)) {
			return fmt.Errorf("kind %q is not an event kind (docs/events.md lists them)", k)
		}
		if !f.Supports(Kind(k)) {
			return fmt.Errorf("the %s format has no %s events; it has %s", f, k, kindList(f.SupportedKinds()))
		}
	}
	for _, p := range w.Repositories {
		if err := ValidateRepositoryPattern(p); err != nil {
			return err
		}
		if w.Namespace != "" {
			first, _, _ := strings.Cut(p, "/")
			if first != w.Namespace {
				return fmt.Errorf("repository pattern %q is outside namespace %s: start it with %q", p, w.Namespace, w.Namespace+"/")
			}
		}
	}
	if w.Namespace != "" {
		if err := oci.ValidateNamespace(w.Namespace); err != nil {
			return err
		}
	}
	return nil
}

func kindList(ks []Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
