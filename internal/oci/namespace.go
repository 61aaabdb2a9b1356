package oci

import (
	"errors"
	"fmt"
	"strings"
)

// A namespace is the first path component of a repository name: "team-a"
// of "team-a/app" and of "team-a/tools/lint", and "alpine" of "alpine". It
// is the unit of membership, visibility, quotas and immutability rules, and
// this file is the one place that says which namespace a repository is in.
// SQL that selects a namespace's repositories encodes the same rule as a
// range (see [NamespaceRange]).

// ErrNamespaceInvalid is returned by [ValidateNamespace], wrapped with the
// rule the name breaks.
var ErrNamespaceInvalid = errors.New("invalid namespace")

// Namespace returns the namespace of repository repo: its first path
// component.
func Namespace(repo string) string {
	ns, _, _ := strings.Cut(repo, "/")
	return ns
}

// InNamespace reports whether repository repo is in namespace ns.
func InNamespace(repo, ns string) bool { return Namespace(repo) == ns }

// NamespaceRange returns the bounds of the repositories of namespace ns in
// byte-wise order, for a range scan: the repository named ns itself, and
// every name from lo (ns + "/") up to, not including, hi (ns + "0"; '0'
// is the byte after '/'). A name in the range is in ns exactly when
// [InNamespace] says so.
func NamespaceRange(ns string) (lo, hi string) { return ns + "/", ns + "0" }

// ValidateNamespace reports whether name may name a namespace: one valid
// path component of a repository name. Its errors wrap
// [ErrNamespaceInvalid] and say which rule the name breaks.
func ValidateNamespace(name string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrNamespaceInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case name == "":
		return bad("must not be empty")
	case len(name) > MaxNameLength:
		return bad("%q is not a namespace name: it is %d characters long; the limit is %d", truncate(name), len(name), MaxNameLength)
	case strings.Contains(name, "/"):
		return bad("%q is not a namespace name: a namespace is one path component, without '/'", truncate(name))
	case nameComponentRE.MatchString(name):
		return nil
	case strings.ToLower(name) != name:
		return bad("%q is not a namespace name: namespaces are lower case", truncate(name))
	}
	return bad("%q is not a namespace name: %s", truncate(name), nameRule)
}
