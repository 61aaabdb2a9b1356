package policy

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/wharf-dev/wharf/internal/oci"
)

// validateNamespace reports what is wrong with a namespace name, in the
// words of the field errors: "must not be empty", "\"Team\" is not a
// namespace name: ...".
func validateNamespace(ns string) error {
	if err := oci.ValidateNamespace(ns); err != nil {
		_, why, _ := strings.Cut(err.Error(), ": ")
		return errors.New(why)
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
	if oci.Namespace(repo) != ns {
		return false
	}
	if !nested {
		return true
	}
	ok, _ := path.Match(ns+"/"+rest, repo)
	return ok
}
