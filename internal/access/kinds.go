package access

import (
	"slices"
	"strings"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// A namespace has a kind, fixed when it is created, that says what it is
// for. The store keeps the name; the rules of each kind are here, one row
// each, so that a kind to come (sandbox, ci, prod, archive) is a row more.

// kind is what is special about the namespaces of one kind.
type kind struct {
	// systemAdmin: only system administrators create namespaces of it.
	systemAdmin bool
	// why explains systemAdmin in a refusal.
	why string
	// byPush: a push into a namespace that does not exist may create one
	// of this kind. Only general namespaces come to be that way.
	byPush bool
}

// kinds are the namespace kinds, by name.
var kinds = map[string]kind{
	meta.NamespaceGeneral: {byPush: true},
	// A proxy namespace makes wharf fetch from the registry its upstream
	// names, with the credentials stored for it: setting that up is the
	// registry administrator's decision.
	meta.NamespaceProxy: {systemAdmin: true, why: "it makes the registry fetch from another registry"},
}

// Kinds lists the names of the namespace kinds, sorted.
func Kinds() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// mayCreateKind says why p may not create a namespace of kind name (by a
// push when byPush), or nil.
func mayCreateKind(p auth.Principal, name string, byPush bool) error {
	k, ok := kinds[name]
	switch {
	case !ok:
		return invalid("namespace kind %q: want one of %s", truncate(name), strings.Join(Kinds(), ", "))
	case byPush && !k.byPush:
		return denied("a namespace of kind %s is not created by a push", name)
	case k.systemAdmin && !p.SystemAdmin:
		return denied("creating a namespace of kind %s needs a system administrator: %s", name, k.why)
	}
	return nil
}
