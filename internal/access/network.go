package access

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// NetworkStore is what network rules need of the metadata store: to read
// them, and transactions to change them in with their event.
type NetworkStore interface {
	NetworkRules(ctx context.Context, namespace string) ([]meta.NetworkRule, error)
	Update(ctx context.Context, fn func(meta.Tx) error) error
}

// NetworkOptions configures [Network].
type NetworkOptions struct {
	Store NetworkStore
	// Pull and Push are the registry-wide allow-lists (network.pull,
	// network.push): when set, every pull, or every push and delete, must
	// come from one of them, whatever the namespace's own rules say.
	Pull, Push []netip.Prefix
	// TTL is how long a namespace's rules are kept in memory; 5 seconds if
	// zero. A change made on this process applies at once; one made on
	// another replica, within TTL.
	TTL time.Duration
	Now func() time.Time
}

// Network holds the CIDR allow-lists of pulls and pushes: registry-wide
// ones from the configuration and each namespace's own. A request must
// pass both. It is safe for concurrent use.
type Network struct {
	o     NetworkOptions
	mu    sync.Mutex
	cache map[string]networkEntry
}

type networkEntry struct {
	pull, push []netip.Prefix
	until      time.Time
}

// NewNetwork returns the network rules over o.
func NewNetwork(o NetworkOptions) *Network {
	if o.TTL == 0 {
		o.TTL = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Network{o: o, cache: map[string]networkEntry{}}
}

// NetworkError is a request refused by a network rule.
type NetworkError struct {
	Rule   string // "prod/pull" or "network.push"
	Action string
	Repo   string
	Client netip.Addr
	Allow  []netip.Prefix
}

func (e *NetworkError) Error() string {
	client := "an unknown address"
	if e.Client.IsValid() {
		client = e.Client.String()
	}
	allow := make([]string, len(e.Allow))
	for i, p := range e.Allow {
		allow[i] = p.String()
	}
	return fmt.Sprintf("%s of %s refused by network rule %s: the client, %s, is not in %s", e.Action, e.Repo, e.Rule,
		client, strings.Join(allow, ", "))
}

// Unwrap makes a NetworkError an ErrDenied.
func (e *NetworkError) Unwrap() error { return ErrDenied }

// Check returns a *NetworkError if a client at addr may not take the
// actions want on repo by the network rules: pull by the pull lists, push
// and delete by the push lists. An address that is not known (the zero
// Addr) passes no list.
func (n *Network) Check(ctx context.Context, repo string, want []auth.Action, addr netip.Addr) error {
	if n == nil {
		return nil
	}
	addr = addr.Unmap()
	for _, a := range want {
		action := meta.NetworkPush
		if a == auth.ActionPull {
			action = meta.NetworkPull
		} else if a != auth.ActionPush && a != auth.ActionDelete {
			continue
		}
		global := n.o.Pull
		if action == meta.NetworkPush {
			global = n.o.Push
		}
		if len(global) > 0 && !contains(global, addr) {
			return &NetworkError{Rule: "network." + action, Action: string(a), Repo: repo, Client: addr, Allow: global}
		}
		ns := oci.Namespace(repo)
		e, err := n.rules(ctx, ns)
		if err != nil {
			return err
		}
		local := e.pull
		if action == meta.NetworkPush {
			local = e.push
		}
		if len(local) > 0 && !contains(local, addr) {
			return &NetworkError{Rule: ns + "/" + action, Action: string(a), Repo: repo, Client: addr, Allow: local}
		}
	}
	return nil
}

// Refuse is [Network.Check] for the APIs beside /v2 (the management API,
// the Docker Hub API, the web UI), whose writes the push lists govern as
// much as a push's: a refusal is an *Error of kind ErrDenied naming the
// rule and the address.
func (n *Network) Refuse(ctx context.Context, repo string, want []auth.Action, addr netip.Addr) error {
	err := n.Check(ctx, repo, want, addr)
	var ne *NetworkError
	if errors.As(err, &ne) {
		return &Error{Kind: ErrDenied, Message: ne.Error()}
	}
	return err
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	return a.IsValid() && slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
}

// rules returns the rules of namespace ns, from memory when read within
// the TTL.
func (n *Network) rules(ctx context.Context, ns string) (networkEntry, error) {
	now := n.o.Now()
	n.mu.Lock()
	e, ok := n.cache[ns]
	n.mu.Unlock()
	if ok && now.Before(e.until) {
		return e, nil
	}
	if n.o.Store == nil {
		return networkEntry{}, nil
	}
	rules, err := n.o.Store.NetworkRules(ctx, ns)
	if err != nil {
		return networkEntry{}, fmt.Errorf("read the network rules of %s: %w", ns, err)
	}
	e = networkEntry{until: now.Add(n.o.TTL)}
	for _, r := range rules {
		ps, err := ParsePrefixes(r.CIDRs)
		if err != nil {
			return networkEntry{}, fmt.Errorf("network rule %s/%s: %w", ns, r.Action, err)
		}
		if r.Action == meta.NetworkPull {
			e.pull = ps
		} else {
			e.push = ps
		}
	}
	n.mu.Lock()
	n.cache[ns] = e
	if len(n.cache) > 10000 { // many namespaces: start over rather than grow
		n.cache = map[string]networkEntry{ns: e}
	}
	n.mu.Unlock()
	return e, nil
}

// NetworkRules are a namespace's allow-lists as the API shows them.
type NetworkRules struct {
	Pull []string `json:"pull"`
	Push []string `json:"push"`
}

// Rules returns the rules of namespace ns as stored.
func (n *Network) Rules(ctx context.Context, ns string) (NetworkRules, error) {
	out := NetworkRules{Pull: []string{}, Push: []string{}}
	rules, err := n.o.Store.NetworkRules(ctx, ns)
	if err != nil {
		return out, err
	}
	for _, r := range rules {
		if r.Action == meta.NetworkPull {
			out.Pull = r.CIDRs
		} else {
			out.Push = r.CIDRs
		}
	}
	return out, nil
}

// SetRules replaces the rules of namespace ns (an empty list removes one),
// for a caller who may manage it, and applies them on this process at once.
func (n *Network) SetRules(ctx context.Context, s *Service, c Caller, ns string, in NetworkRules) error {
	if err := oci.ValidateNamespace(ns); err != nil {
		return invalid("%v", err)
	}
	ok, err := s.MayManage(ctx, c, ns)
	if err != nil {
		return err
	}
	if !ok {
		return denied("%s may not manage namespace %s", c.Principal, ns)
	}
	// Both lists are checked before either is written, and both are
	// written with their event in one transaction: a refusal changes
	// nothing.
	rules := make([]meta.NetworkRule, 0, 2)
	for _, l := range []struct {
		action string
		cidrs  []string
	}{{meta.NetworkPull, in.Pull}, {meta.NetworkPush, in.Push}} {
		ps, err := ParsePrefixes(l.cidrs)
		if err != nil {
			return invalid("%s: %v", l.action, err)
		}
		norm := make([]string, len(ps))
		for i, p := range ps {
			norm[i] = p.String()
		}
		rules = append(rules, meta.NetworkRule{Namespace: ns, Action: l.action, CIDRs: norm,
			UpdatedBy: c.Principal.String(), UpdatedAt: n.o.Now().UTC()})
	}
	e := events.New(ctx, "", &events.PolicyChanged{Policy: events.PolicyNetwork, Change: events.ChangeUpdated, Scope: ns,
		Rule: "pull=" + strings.Join(rules[0].CIDRs, ",") + " push=" + strings.Join(rules[1].CIDRs, ",")}).InNamespace(ns)
	err = n.o.Store.Update(ctx, func(tx meta.Tx) error {
		for _, r := range rules {
			if err := tx.PutNetworkRule(ctx, r); err != nil {
				return err
			}
		}
		return events.Append(ctx, tx, e)
	})
	if err != nil {
		return err
	}
	n.mu.Lock()
	delete(n.cache, ns)
	n.mu.Unlock()
	return nil
}

// ParsePrefixes parses CIDRs ("10.0.0.0/8", "2001:db8::/32") or single
// addresses, which stand for themselves.
func ParsePrefixes(cidrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if p, err := netip.ParsePrefix(c); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(c); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		errs = append(errs, fmt.Errorf("%q is not a CIDR (10.0.0.0/8) or an address", truncate(c)))
	}
	if len(out) > 1000 {
		errs = append(errs, errors.New("at most 1000 CIDRs"))
	}
	return out, errors.Join(errs...)
}
