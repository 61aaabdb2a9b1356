package access_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// rulesStore is a namespace's rules in memory, counting reads.
type rulesStore struct {
	rules map[string][]meta.NetworkRule
	reads int
}

func (s *rulesStore) NetworkRules(_ context.Context, ns string) ([]meta.NetworkRule, error) {
	s.reads++
	return s.rules[ns], nil
}

// Update is never called: these tests check rules, not change them.
func (s *rulesStore) Update(context.Context, func(meta.Tx) error) error {
	return errors.New("rulesStore is read-only")
}

// TestNetworkCheck: pull and push lists, registry-wide and per namespace,
// unknown addresses, IPv4 in IPv6, and the cache's lifetime.
func TestNetworkCheck(t *testing.T) {
	st := &rulesStore{rules: map[string][]meta.NetworkRule{"prod": {
		{Namespace: "prod", Action: meta.NetworkPull, CIDRs: []string{"10.0.0.0/8"}},
		{Namespace: "prod", Action: meta.NetworkPush, CIDRs: []string{"10.9.9.9/32"}},
	}}}
	now := time.Unix(0, 0)
	global, _ := access.ParsePrefixes([]string{"10.0.0.0/8", "2001:db8::/32"})
	n := access.NewNetwork(access.NetworkOptions{Store: st, Push: global, Now: func() time.Time { return now }})
	ctx := context.Background()
	check := func(repo string, a auth.Action, addr string) error {
		var ip netip.Addr
		if addr != "" {
			ip = netip.MustParseAddr(addr)
		}
		return n.Check(ctx, repo, []auth.Action{a}, ip)
	}
	for _, tc := range []struct {
		repo   string
		action auth.Action
		addr   string
		rule   string // "" allowed
	}{
		{"prod/app", auth.ActionPull, "10.1.2.3", ""},
		{"prod/app", auth.ActionPull, "::ffff:10.1.2.3", ""},
		{"prod/app", auth.ActionPull, "192.168.0.1", "prod/pull"},
		{"prod/app", auth.ActionPull, "", "prod/pull"},
		{"prod/app", auth.ActionPush, "10.9.9.9", ""},
		{"prod/app", auth.ActionPush, "10.1.2.3", "prod/push"},
		{"prod/app", auth.ActionDelete, "10.1.2.3", "prod/push"},
		{"ci/app", auth.ActionPull, "192.168.0.1", ""},
		{"ci/app", auth.ActionPush, "192.168.0.1", "network.push"},
		{"ci/app", auth.ActionPush, "2001:db8::1", ""},
	} {
		err := check(tc.repo, tc.action, tc.addr)
		var ne *access.NetworkError
		switch {
		case tc.rule == "" && err != nil:
			t.Errorf("%s %s from %q: %v", tc.action, tc.repo, tc.addr, err)
		case tc.rule != "" && (!errors.As(err, &ne) || ne.Rule != tc.rule || !errors.Is(err, access.ErrDenied)):
			t.Errorf("%s %s from %q: %v, want refused by %s", tc.action, tc.repo, tc.addr, err, tc.rule)
		case tc.rule != "" && !strings.Contains(err.Error(), "network rule "+tc.rule):
			t.Errorf("refusal %q does not name the rule", err)
		}
	}
	reads := st.reads
	check("prod/app", auth.ActionPull, "10.1.2.3")
	if st.reads != reads {
		t.Errorf("read the store again within the TTL")
	}
	now = now.Add(6 * time.Second)
	check("prod/app", auth.ActionPull, "10.1.2.3")
	if st.reads != reads+1 {
		t.Errorf("did not read the store again after the TTL")
	}
	if _, err := access.ParsePrefixes([]string{"10.0.0.0/33", "host"}); err == nil || !strings.Contains(err.Error(), `"host"`) {
		t.Errorf("bad CIDRs: %v", err)
	}
}

// BenchmarkNetworkCheck is what a namespace with rules adds to a request
// whose rules are cached.
func BenchmarkNetworkCheck(b *testing.B) {
	st := &rulesStore{rules: map[string][]meta.NetworkRule{"prod": {
		{Namespace: "prod", Action: meta.NetworkPull, CIDRs: []string{"10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12"}},
	}}}
	n := access.NewNetwork(access.NetworkOptions{Store: st})
	ctx := context.Background()
	addr := netip.MustParseAddr("172.16.5.4")
	want := []auth.Action{auth.ActionPull}
	for b.Loop() {
		if err := n.Check(ctx, "prod/app", want, addr); err != nil {
			b.Fatal(err)
		}
	}
}
