package access

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// A namespace has a kind, set when it is created (and changed by a system
// administrator), that says what it is for. The store keeps the name; the
// rules of each kind are here, one row each: who may create one, and how
// the kind changes what the roles grant (see [kind.adjust]). The policies a
// kind starts with (retention, immutable tags, the image policy) are
// ordinary policies, picked by package policy's KindDefaults and visible
// and editable like any other.

// kind is what is special about the namespaces of one kind.
type kind struct {
	// systemAdmin: only system administrators create namespaces of it.
	systemAdmin bool
	// why explains systemAdmin in a refusal.
	why string
	// byPush: a push into a namespace that does not exist may create one
	// of this kind. Only general namespaces come to be that way.
	byPush bool
	// signedIn are the actions every signed-in caller holds in it besides
	// its role's, as far as a token's scopes reach: sandbox lets everyone
	// push and delete, ci lets everyone read.
	signedIn []auth.Action
	// writers, when set, says who keeps the push its role grants; the
	// others lose it. why says who does, for the refusal.
	writers    func(p auth.Principal, role auth.Role, ns string) bool
	writersWhy string
}

// kinds are the namespace kinds, by name.
var kinds = map[string]kind{
	meta.NamespaceGeneral: {byPush: true},
	// A proxy namespace makes wharf fetch from the registry its upstream
	// names, with the credentials stored for it: setting that up is the
	// registry administrator's decision.
	meta.NamespaceProxy: {systemAdmin: true, why: "it makes the registry fetch from another registry"},
	// Sandbox: developers play; everyone signed in pushes and deletes.
	KindSandbox: {signedIn: []auth.Action{auth.ActionPull, auth.ActionPush, auth.ActionDelete}},
	// CI: written by pipelines only (the ci role, the namespace's robots and
	// workload identities, its admins), read by everyone signed in.
	KindCI: {signedIn: []auth.Action{auth.ActionPull}, writers: func(p auth.Principal, role auth.Role, ns string) bool {
		return p.SystemAdmin || role == auth.RoleCI || role == auth.RoleAdmin ||
			((p.Kind == auth.KindRobot || p.Kind == auth.KindWorkload) && p.Owner == ns)
	}, writersWhy: "only the ci role, the namespace's robots and workload identities, and its admins push to it"},
	// Prod: only promotion writes, administrators included, unless its
	// promotion policy allows direct pushes (directPush).
	KindProd: {writers: func(auth.Principal, auth.Role, string) bool { return false },
		writersWhy: "only promotion writes to it (wharf promote), unless its promotion policy allows direct pushes"},
	// Archive: filled by mirroring and promotion; its admins override.
	KindArchive: {writers: func(p auth.Principal, role auth.Role, _ string) bool { return p.SystemAdmin || role == auth.RoleAdmin },
		writersWhy: "it is filled by mirroring and promotion; only its admins push to it"},
}

// The kinds of scoped namespaces (issue 12; docs/promotion.md).
const (
	KindSandbox = "sandbox"
	KindCI      = "ci"
	KindProd    = "prod"
	KindArchive = "archive"
)

// adjust returns d, what p's role grants on repo in namespace ns of kind
// k, with what the kind adds and takes away. directPush reports whether the
// namespace allows direct pushes that the kind refuses; it is asked only
// when that matters.
func (k kind) adjust(p auth.Principal, role auth.Role, ns, repo string, want []auth.Action, d auth.Decision, directPush func() bool) (auth.Decision, string) {
	why := ""
	if k.writers != nil && !k.writers(p, role, ns) {
		var kept []auth.Action
		for _, a := range d.Granted {
			if a == auth.ActionPush && !directPush() {
				why = k.writersWhy
				continue
			}
			kept = append(kept, a)
		}
		d.Granted = kept
	}
	if p.Anonymous() {
		return d, why
	}
	for _, a := range k.signedIn {
		if !slices.Contains(want, a) || d.Allows(a) || (p.Scoped() && !p.Scopes.Allows(repo, a, p.At)) {
			continue
		}
		if a == auth.ActionPush && k.writers != nil && !k.writers(p, role, ns) {
			continue
		}
		d.Granted = append(d.Granted, a)
	}
	return d, why
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

// directPush reports whether namespace ns allows the direct pushes its
// kind refuses: its promotion policy says "directPush": true. Read only
// for a push the kind would refuse.
func (s *Service) directPush(ctx context.Context, ns string) bool {
	st, ok := s.store.(interface {
		PromotionPolicy(ctx context.Context, namespace string) (meta.PromotionPolicy, error)
	})
	if !ok {
		return false
	}
	p, err := st.PromotionPolicy(ctx, ns)
	if err != nil {
		return false // none, or unreadable: refuse, as the kind says
	}
	var v struct {
		DirectPush bool `json:"directPush"`
	}
	return json.Unmarshal(p.Spec, &v) == nil && v.DirectPush
}
