package events

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestGuardCheck(t *testing.T) {
	var g Guard
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1", false}, {"127.8.9.10", false}, {"::1", false}, {"::ffff:127.0.0.1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"fd00:ec2::254", false},
		{"10.1.2.3", false}, {"172.16.0.1", false}, {"172.31.255.255", false}, {"192.168.1.1", false},
		{"100.100.100.200", false}, {"0.0.0.0", false}, {"::", false}, {"224.0.0.1", false}, {"255.255.255.255", false},
		{"64:ff9b::7f00:1", false}, {"2002:7f00:1::", false}, {"::127.0.0.1", false},
		{"93.184.215.14", true}, {"172.32.0.1", true}, {"2606:2800:21f:cb07:6820:80da:af6b:8b2c", true}, {"64:ff9b::5db8:d70e", true},
	} {
		err := g.Check(netip.MustParseAddr(tc.addr))
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.addr, err)
		}
		if err != nil && !errors.Is(err, ErrAddressRefused) {
			t.Errorf("%s: %v does not wrap ErrAddressRefused", tc.addr, err)
		}
	}
	allow, err := ParseNetworks("10.0.0.0/8, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	g = Guard{Allow: allow}
	for addr, ok := range map[string]bool{"10.9.8.7": true, "127.0.0.1": true, "::ffff:127.0.0.1": true, "127.0.0.2": false, "192.168.0.1": false} {
		if err := g.Check(netip.MustParseAddr(addr)); (err == nil) != ok {
			t.Errorf("allowed %v, %s: %v", allow, addr, err)
		}
	}
	if _, err := ParseNetworks("10.0.0.0/33"); err == nil {
		t.Error("bad prefix accepted")
	}
}

// fakeResolver answers every name with its addresses.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	as, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range as {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func TestCheckURL(t *testing.T) {
	var g Guard
	res := fakeResolver{"hooks.example.com": {"93.184.215.14"}, "mixed.example.com": {"93.184.215.14", "10.0.0.1"}}
	for _, tc := range []struct {
		url, wantErr string
	}{
		{"https://hooks.example.com/wharf", ""},
		{"http://93.184.215.14:8080/x", ""},
		{"ftp://hooks.example.com/", "scheme"},
		{"https:///x", "no host"},
		{"https://u:secret@hooks.example.com/", "credentials"},
		{"https://hooks.example.com/#frag", "fragment"},
		{"http://93.184.215.14:99999/x", "not a port"},
		{"http://hooks.example.com:0/x", "not a port"},
		{"http://127.0.0.1:9/", "loopback"},
		{"http://[::1]:9/", "loopback"},
		{"http://169.254.169.254/latest/meta-data/", "link-local"},
		{"http://mixed.example.com/", "private"},
		{"http://nowhere.example.com/", "does not resolve"},
	} {
		err := g.CheckURL(context.Background(), res, tc.url)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: %v, want %q", tc.url, err, tc.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error repeats the password: %v", tc.url, err)
		}
	}
	// A name that resolves to loopback, from the real resolver.
	if err := g.CheckURL(context.Background(), net.DefaultResolver, "http://localhost:9/"); err == nil || !errors.Is(err, ErrAddressRefused) {
		t.Errorf("localhost: %v", err)
	}
}

// TestClientRefusesAtConnect: the check that counts is made as each
// connection is made, after resolution: a name that resolves to loopback
// (here localhost, as a name rebound to loopback would) is refused however
// it passed the check when the webhook was saved, and a redirect to an
// allowed server is not followed.
func TestClientRefusesAtConnect(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/target", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	url := func(host, path string) string { return "http://" + net.JoinHostPort(host, itoa(port)) + path }

	var refuse Guard
	for _, host := range []string{"localhost", "127.0.0.1"} {
		resp, err := refuse.Client(2*time.Second).Post(url(host, "/"), "text/plain", nil)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: connected", host)
		}
		if !errors.Is(err, ErrAddressRefused) {
			t.Errorf("%s: %v does not wrap ErrAddressRefused", host, err)
		}
	}
	if hits != 0 {
		t.Fatalf("the server was reached %d times", hits)
	}
	allow := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	resp, err := allow.Client(2*time.Second).Post(url("localhost", "/redirect"), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || hits != 1 {
		t.Errorf("redirect: status %d after %d requests; want 302 after 1", resp.StatusCode, hits)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
