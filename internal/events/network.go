package events

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrAddressRefused is wrapped by every refusal of a webhook's target
// address.
var ErrAddressRefused = errors.New("webhook target address refused")

// refusedRanges are the addresses a webhook may not reach unless the
// administrator allows them (events.webhooks.allowNetworks): this host,
// link-local addresses (where cloud metadata services answer, such as
// 169.254.169.254), private networks, and addresses that are not
// unicast on the internet. A webhook is an HTTP request made on behalf of
// whoever created it, and these are where such a request could reach
// what its creator cannot.
var refusedRanges = func() []refusedRange {
	var out []refusedRange
	for _, r := range []struct{ prefix, why string }{
		{"0.0.0.0/8", "\"this network\""},
		{"127.0.0.0/8", "loopback"},
		{"::1/128", "loopback"},
		{"::/128", "unspecified"},
		{"::/96", "IPv4-compatible (deprecated)"},
		{"169.254.0.0/16", "link-local (cloud metadata services answer here)"},
		{"fe80::/10", "link-local"},
		{"10.0.0.0/8", "private (RFC 1918)"},
		{"172.16.0.0/12", "private (RFC 1918)"},
		{"192.168.0.0/16", "private (RFC 1918)"},
		{"fc00::/7", "unique local (private)"},
		{"100.64.0.0/10", "shared address space (carrier-grade NAT; some cloud metadata services)"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"198.18.0.0/15", "benchmarking"},
		{"224.0.0.0/4", "multicast"},
		{"ff00::/8", "multicast"},
		{"240.0.0.0/4", "reserved"},
	} {
		out = append(out, refusedRange{netip.MustParsePrefix(r.prefix), r.why})
	}
	return out
}()

type refusedRange struct {
	prefix netip.Prefix
	why    string
}

// IPv6 prefixes that embed an IPv4 address, which is checked in turn.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Guard decides which addresses webhooks may connect to. Its zero value
// refuses every range in refusedRanges.
type Guard struct {
	// Allow lists ranges the administrator lets webhooks reach although
	// they are refused by default (an internal network, or loopback for a
	// receiver on the same host).
	Allow []netip.Prefix
}

// Check returns nil if a webhook may connect to a, or an error wrapping
// ErrAddressRefused that says why not.
func (g *Guard) Check(a netip.Addr) error {
	a = a.Unmap()
	for _, p := range g.Allow {
		if p.Contains(a) {
			return nil
		}
	}
	if !a.IsValid() {
		return fmt.Errorf("%w: no address", ErrAddressRefused)
	}
	for _, r := range refusedRanges {
		if r.prefix.Contains(a) {
			return fmt.Errorf("%w: %s is %s; allow it with events.webhooks.allowNetworks", ErrAddressRefused, a, r.why)
		}
	}
	if embedded, ok := embeddedIPv4(a); ok {
		if err := g.Check(embedded); err != nil {
			return fmt.Errorf("%s embeds %s: %w", a, embedded, err)
		}
	}
	return nil
}

// embeddedIPv4 returns the IPv4 address a NAT64 or 6to4 address embeds.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

// control is the dialer's check of the address it is about to connect to,
// after name resolution: a name that resolved to a public address when the
// webhook was created and resolves to a refused one now (DNS rebinding) is
// refused here.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAddressRefused, err)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %q is not an address", ErrAddressRefused, host)
	}
	return g.Check(a)
}

// Client returns an HTTP client for webhook deliveries: every connection
// is checked by the guard as it is made, no proxy is used (the guard could
// not see where a proxy connects), redirects are not followed (the answer
// 3xx is a failed delivery), and a delivery takes at most timeout.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Resolver looks host names up; net.DefaultResolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckURL checks a webhook's target when it is created or changed: an
// http or https URL with a host and no credentials, whose host (an address,
// or every address its name resolves to now) the guard allows. It is a
// courtesy that says at once what delivery would refuse; the check that
// counts is made at every connection.
func (g *Guard) CheckURL(ctx context.Context, res Resolver, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: the scheme must be http or https", raw)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%q has no host", raw)
	case u.User != nil:
		return fmt.Errorf("%q holds credentials; webhooks are signed instead (docs/events.md)", redact(u))
	case u.Fragment != "":
		return fmt.Errorf("%q has a fragment, which is never sent", raw)
	case !validPort(u.Port()):
		return fmt.Errorf("%q: port %s is not a port (1 to 65535)", raw, u.Port())
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		return g.Check(a)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := res.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("host %s does not resolve: %w", host, err)
	}
	for _, a := range addrs {
		if err := g.Check(a); err != nil {
			return fmt.Errorf("host %s resolves to %s: %w", host, a, err)
		}
	}
	return nil
}

// validPort says whether p, a URL's port, is empty or 1 to 65535.
func validPort(p string) bool {
	if p == "" {
		return true
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// redact is u without the password of its user information.
func redact(u *url.URL) string {
	c := *u
	if _, ok := c.User.Password(); ok {
		c.User = url.UserPassword(c.User.Username(), "xxxxx")
	}
	return c.String()
}

// ParseNetworks parses a comma-separated list of addresses and CIDR
// prefixes, as events.webhooks.allowNetworks holds.
func ParseNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR prefix: %w", f, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or a CIDR prefix: %w", f, err)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
