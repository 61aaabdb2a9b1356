package mw

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
)

// forwardingHeaders are set by proxies that pass on requests from others.
var forwardingHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip", "Via"}

// localAdministrator is the authentication of a registry without access
// control (see [AuthOptions.LocalAdmin]): a request made on this machine
// is the local administrator ([auth.LocalAdmin]); any other is refused
// with access.ErrDenied saying why. "On this machine" means all of:
//
//   - the connection comes from a loopback address (127.0.0.0/8, ::1), and
//     not from one of proxies, the reverse proxies the configuration
//     trusts, which pass on requests from anywhere;
//   - no header says a proxy passed it on (Forwarded, X-Forwarded-For,
//     X-Forwarded-Host, X-Real-IP, Via);
//   - its Host is localhost or a loopback address, so a web page whose
//     name an attacker pointed at 127.0.0.1 (DNS rebinding) gets nothing;
//   - it is not a cross-origin request from a browser (Sec-Fetch-Site,
//     Origin; http.CrossOriginProtection), so a web page cannot make a
//     browser on this machine change anything.
//
// Credentials are not asked for and are ignored: without access control
// there are no accounts.
func localAdministrator(r *http.Request, proxies []netip.Prefix) (access.Caller, error) {
	refuse := func(why string) (access.Caller, error) {
		return access.Caller{}, &access.Error{Kind: access.ErrDenied, Message: "access control is off (auth.enabled), so the management API " +
			"serves only a local administrator on the registry's own machine, and " + why}
	}
	peer := peerAddr(r)
	switch {
	case !peer.IsValid() || !peer.IsLoopback():
		return refuse("this request comes from " + peer.String() + ", not from loopback")
	case trusted(peer, proxies):
		return refuse("this request comes through a reverse proxy (http.trustedProxies), which passes on requests from others")
	}
	for _, h := range forwardingHeaders {
		if r.Header.Get(h) != "" {
			return refuse("this request was passed on by a proxy (" + h + ")")
		}
	}
	if !loopbackHost(r.Host) {
		return refuse("this request names host " + quoteHost(r.Host) + "; use localhost or a loopback address")
	}
	// The check passes safe methods; here a cross-origin GET is refused
	// too, as an unsafe method would be: nothing is served to a page.
	asUnsafe := *r
	asUnsafe.Method = http.MethodPost
	if err := crossOrigin.Check(&asUnsafe); err != nil {
		return refuse("this is a cross-origin request from a web browser")
	}
	return access.Caller{Principal: auth.LocalAdmin, Client: peer.String()}, nil
}

// ForeignPage returns why request r, to a registry without access control,
// must be refused as a web page's, or "" when it is not one. Registry
// clients send neither Origin nor Sec-Fetch-Site; browsers do. Such a
// registry serves anyone who reaches it, so a page must not reach it
// through the visitor's browser: refused are a request from a browser
// naming a host that is not loopback (a page whose name an attacker
// pointed at 127.0.0.1, DNS rebinding, would otherwise read and delete on
// a laptop's registry), except an address typed in the browser
// (Sec-Fetch-Site: none), and a cross-origin request with an unsafe
// method (a form another site posts).
func ForeignPage(r *http.Request) string {
	site := r.Header.Get("Sec-Fetch-Site")
	fromBrowser := r.Header.Get("Origin") != "" || site != ""
	switch {
	case !fromBrowser:
		return ""
	case !loopbackHost(r.Host) && site != "none":
		return "this request from a web page names host " + quoteHost(r.Host) +
			"; without access control (auth.enabled) web pages are served only on localhost or a loopback address"
	case crossOrigin.Check(r) != nil:
		return "this is a cross-origin request from a web page; without access control (auth.enabled) other sites' pages may not change this registry"
	}
	return ""
}

// crossOrigin tells a browser's cross-origin request by its headers.
var crossOrigin = http.NewCrossOriginProtection()

func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func quoteHost(h string) string {
	if h == "" {
		return "(none)"
	}
	if len(h) > 80 {
		return h[:80] + "..."
	}
	return h
}
