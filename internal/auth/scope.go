package auth

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/wharf-dev/wharf/internal/oci"
)

// ErrResourceScopeInvalid is returned for a Docker resource scope that does
// not follow the grammar of the token scope specification.
var ErrResourceScopeInvalid = errors.New("invalid resource scope")

// The resource types wharf grants access to.
const (
	TypeRepository = "repository"
	TypeRegistry   = "registry"
)

// Limits that keep a hostile scope parameter cheap to reject.
const (
	// MaxResourceScopes bounds the scopes of one token request. A push with
	// cross-repository mounts asks for a handful; build tools with caches a
	// few dozen.
	MaxResourceScopes = 64
	maxScopeLength    = 2 * oci.MaxNameLength
)

// ResourceScope is one scope of the Docker token flow,
// "TYPE[(CLASS)]:NAME:ACTION[,ACTION]*", as in
// "repository:team-a/app:pull,push" or "registry:catalog:*". It is also the
// shape of one entry of a token's "access" claim, so it marshals to the
// claim's JSON.
type ResourceScope struct {
	Type string `json:"type"`
	// Class is the deprecated resource class, "plugin" in
	// "repository(plugin)". It is kept so a scope prints as it was asked for,
	// and ignored when authorising: the spec makes repository(plugin) and
	// repository the same resource.
	Class   string   `json:"-"`
	Name    string   `json:"name"`
	Actions []Action `json:"actions"`
}

// The spec's grammar, piece by piece.
const (
	hostComponentRE = `([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	hostnameRE      = hostComponentRE + `(\.` + hostComponentRE + `)*(:[0-9]+)?`
	componentRE     = `[a-z0-9]+(([_.]|__|-+)[a-z0-9]+)*`
)

var (
	scopeTypeRE   = regexp.MustCompile(`^[a-z0-9]+(\([a-z0-9]+\))?$`)
	scopeActionRE = regexp.MustCompile(`^[a-z*]+$`)
	// scopeNameRE is the spec's resourcename: an optional host[:port], then
	// path components. The host is accepted because the grammar allows it;
	// no wharf repository has one, so Decide never grants it anything.
	scopeNameRE = regexp.MustCompile(`^(` + hostnameRE + `/)?` + componentRE + `(/` + componentRE + `)*$`)
)

// ParseResourceScope parses one resource scope. The name may hold a colon
// (a host's port), so the actions are what follows the last colon and the
// type what precedes the first. Actions the grammar allows but wharf does not
// know parse; [Decide] never grants them.
func ParseResourceScope(s string) (ResourceScope, error) {
	bad := func(why string) (ResourceScope, error) {
		return ResourceScope{}, fmt.Errorf("%w: %q: %s", ErrResourceScopeInvalid, truncate(s), why)
	}
	if len(s) > maxScopeLength {
		return bad("too long")
	}
	typ, rest, ok := strings.Cut(s, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i < 0 {
		return bad("want TYPE:NAME:ACTIONS")
	}
	name, list := rest[:i], rest[i+1:]
	if !scopeTypeRE.MatchString(typ) {
		return bad("resource type must be lower-case letters and digits, with an optional (class)")
	}
	var r ResourceScope
	r.Type, r.Class, _ = strings.Cut(strings.TrimSuffix(typ, ")"), "(")
	if len(name) > oci.MaxNameLength || !scopeNameRE.MatchString(name) {
		return bad("invalid resource name")
	}
	r.Name = name
	for a := range strings.SplitSeq(list, ",") {
		if !scopeActionRE.MatchString(a) {
			return bad("actions must be lower-case words or *, separated by commas")
		}
		r.Actions = append(r.Actions, Action(a))
	}
	return r, nil
}

// ParseResourceScopes parses the scope parameters of a token request. Each
// parameter may hold several scopes separated by spaces (the POST form sends
// one parameter; the GET form may repeat it). Empty parameters are skipped.
func ParseResourceScopes(params ...string) ([]ResourceScope, error) {
	var out []ResourceScope
	for _, p := range params {
		for f := range strings.FieldsSeq(p) {
			if len(out) == MaxResourceScopes {
				return nil, fmt.Errorf("%w: more than %d scopes in one request", ErrResourceScopeInvalid, MaxResourceScopes)
			}
			r, err := ParseResourceScope(f)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// String returns r in the form [ParseResourceScope] reads.
func (r ResourceScope) String() string {
	var b strings.Builder
	b.WriteString(r.Type)
	if r.Class != "" {
		b.WriteString("(" + r.Class + ")")
	}
	b.WriteString(":" + r.Name + ":")
	for i, a := range r.Actions {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(a))
	}
	return b.String()
}

// FormatResourceScopes returns scopes separated by spaces, the form of one
// scope parameter and of the scope in a Bearer challenge.
func FormatResourceScopes(scopes []ResourceScope) string {
	parts := make([]string, len(scopes))
	for i, r := range scopes {
		parts[i] = r.String()
	}
	return strings.Join(parts, " ")
}

// Allows reports whether r grants a: it lists a or the wildcard "*".
func (r ResourceScope) Allows(a Action) bool {
	return slices.Contains(r.Actions, a) || slices.Contains(r.Actions, ActionAll)
}

// MergeResourceScopes joins scopes on the same resource, type and name,
// into one with the union of their actions, in first-seen order. The class
// is dropped, as the spec asks of authorisation services.
func MergeResourceScopes(scopes []ResourceScope) []ResourceScope {
	var out []ResourceScope
	for _, r := range scopes {
		i := slices.IndexFunc(out, func(o ResourceScope) bool { return o.Type == r.Type && o.Name == r.Name })
		if i < 0 {
			out = append(out, ResourceScope{Type: r.Type, Name: r.Name, Actions: []Action{}})
			i = len(out) - 1
		}
		for _, a := range r.Actions {
			if !slices.Contains(out[i].Actions, a) {
				out[i].Actions = append(out[i].Actions, a)
			}
		}
	}
	return out
}

// IntersectActions returns the requested actions that granted covers, in
// the requested order, each once; a granted "*" covers every action. It is
// never nil, so an empty intersection marshals as [] in a token.
func IntersectActions(requested, granted []Action) []Action {
	out := []Action{}
	wild := slices.Contains(granted, ActionAll)
	for _, a := range requested {
		if (wild || slices.Contains(granted, a)) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// Grant answers a token request the way the token specification asks: it
// merges the requested scopes, asks decide which of each resource's
// requested actions the caller holds, and returns the intersection. A
// resource with nothing granted stays in the result with no actions: lacking
// access is not an error at the token server, only later at the registry.
func Grant(requested []ResourceScope, decide func(ResourceScope) ([]Action, error)) ([]ResourceScope, error) {
	merged := MergeResourceScopes(requested)
	for i, r := range merged {
		granted, err := decide(r)
		if err != nil {
			return nil, fmt.Errorf("grant %s: %w", r, err)
		}
		merged[i].Actions = IntersectActions(r.Actions, granted)
	}
	return merged, nil
}
