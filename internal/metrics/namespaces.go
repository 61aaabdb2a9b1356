package metrics

import (
	"sync"
	"sync/atomic"
)

// OtherNamespace is the namespace label of every namespace beyond the
// limit of [Namespaces]. No namespace can be called this: repository name
// components never start with an underscore.
const OtherNamespace = "_other"

// Namespaces bounds the values of the namespace label, so that a registry
// with thousands of namespaces, or a client inventing names, cannot blow up
// the number of series. The first Limit namespaces admitted keep their own
// label for the life of the process; any other is counted under
// [OtherNamespace]. A namespace is admitted only when something real
// happened in it (a pull or push that succeeded, a quota refusal), so
// requests for names that do not exist never take a label.
type Namespaces struct {
	limit    int64
	admitted sync.Map // namespace -> struct{}
	n        atomic.Int64
	mu       sync.Mutex // serialises admissions and onAdmit
	onAdmit  []func(label string)
}

// NewNamespaces returns a label set that admits at most limit namespaces;
// 0 labels every namespace [OtherNamespace].
func NewNamespaces(limit int) *Namespaces {
	return &Namespaces{limit: int64(max(limit, 0))}
}

// Label returns ns if it was admitted, else [OtherNamespace]. It takes no
// lock.
func (n *Namespaces) Label(ns string) string {
	if _, ok := n.admitted.Load(ns); ok {
		return ns
	}
	return OtherNamespace
}

// Admit admits ns if there is room and returns its label: ns when it is
// (or already was) admitted, else [OtherNamespace]. Once the limit is
// reached it takes no lock.
func (n *Namespaces) Admit(ns string) string {
	if _, ok := n.admitted.Load(ns); ok {
		return ns
	}
	if ns == "" || n.n.Load() >= n.limit {
		return OtherNamespace
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.admitted.Load(ns); ok {
		return ns
	}
	if n.n.Load() >= n.limit {
		return OtherNamespace
	}
	for _, fn := range n.onAdmit {
		fn(ns)
	}
	n.admitted.Store(ns, struct{}{})
	n.n.Add(1)
	return ns
}

// OnAdmit calls fn with every label there is and will be: at once for
// [OtherNamespace] and the namespaces already admitted, then for each
// namespace as it is admitted, before Admit returns it. Collectors use it
// to create their series at zero, so that the first event in a namespace
// shows as an increase rather than as a series that starts at one.
func (n *Namespaces) OnAdmit(fn func(label string)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fn(OtherNamespace)
	n.admitted.Range(func(k, _ any) bool {
		fn(k.(string))
		return true
	})
	n.onAdmit = append(n.onAdmit, fn)
}

// Len returns how many namespaces were admitted.
func (n *Namespaces) Len() int { return int(n.n.Load()) }
