package policy

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// componentRE is one path component of a repository name, as the
// distribution spec defines it.
var componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

func validateNamespace(ns string) error {
	if ns == "" {
		return errors.New("must not be empty")
	}
	if !componentRE.MatchString(ns) {
		return fmt.Errorf("%q is not a namespace name (lower-case letters, digits and separators . _ __ -)", truncate(ns))
	}
	return nil
}

// A retention policy's scope is a namespace ("team-a": every repository in
// it) or a namespace and a glob over the rest of the repository name
// ("team-a/app", "team-a/services/*"). The glob's "*" does not cross "/".

// validateScope reports what is wrong with scope.
func validateScope(scope string) error {
	ns, rest, nested := strings.Cut(scope, "/")
	if err := validateNamespace(ns); err != nil {
		return err
	}
	if !nested {
		return nil
	}
	if rest == "" {
		return fmt.Errorf("%q: nothing after the namespace's \"/\"", truncate(scope))
	}
	if _, err := path.Match(rest, ""); err != nil {
		return fmt.Errorf("%q: malformed repository glob: %v", truncate(scope), err)
	}
	return nil
}

// ScopeMatches reports whether repository repo is in scope.
func ScopeMatches(scope, repo string) bool {
	ns, rest, nested := strings.Cut(scope, "/")
	if Namespace(repo) != ns {
		return false
	}
	if !nested {
		return true
	}
	ok, _ := path.Match(ns+"/"+rest, repo)
	return ok
}
