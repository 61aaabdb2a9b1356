package mw

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.1:1234", nil, "192.0.2.1"},
		{"192.0.2.1:1234", []string{"203.0.113.9"}, "192.0.2.1"},                        // not a proxy: header ignored
		{"127.0.0.1:1", []string{"203.0.113.9"}, "203.0.113.9"},                         // one proxy
		{"127.0.0.1:1", []string{"198.51.100.1, 203.0.113.9, 10.0.0.2"}, "203.0.113.9"}, // forged first hop
		{"127.0.0.1:1", []string{"198.51.100.1", "203.0.113.9"}, "203.0.113.9"},         // two header lines
		{"127.0.0.1:1", []string{"garbage"}, "127.0.0.1"},                               // malformed: the proxy
		{"127.0.0.1:1", []string{"10.0.0.3"}, "10.0.0.3"},                               // only proxies: the first
		{"[::ffff:127.0.0.1]:1", []string{"2001:db8::1"}, "2001:db8::1"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/v2/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientAddr(r, proxies).String(); got != tc.want {
			t.Errorf("%s %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}
