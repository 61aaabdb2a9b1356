package e2e

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestLocalAdministratorOverTheNetwork: a wharf without access control that
// listens on every interface serves the management API to a client on its
// own machine and refuses the same request arriving over the network, with
// real sockets and peer addresses.
func TestLocalAdministratorOverTheNetwork(t *testing.T) {
	external := externalAddr(t)
	const listen = "0.0.0.0:31203"
	p := startWharfAt(t, t.TempDir(), listen)
	port := strings.TrimPrefix(listen, "0.0.0.0:")
	if !strings.Contains(p.log.String(), "access control is off and wharf listens beyond loopback") {
		t.Errorf("no warning about an open registry on every interface:\n%s", p.log)
	}
	post := func(host string) (int, string) {
		t.Helper()
		resp, err := http.Post("http://"+net.JoinHostPort(host, port)+"/api/v1/namespaces", "application/json", strings.NewReader(`{"name":"team"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(external); code != http.StatusForbidden || !strings.Contains(body, "comes from "+external+", not from loopback") {
		t.Fatalf("from %s: %d %s, want 403", external, code, body)
	}
	if code, body := post("127.0.0.1"); code != http.StatusCreated {
		t.Fatalf("from loopback: %d %s, want 201", code, body)
	}
	// /v2 stays open to everyone, as it says in the warning.
	resp, err := http.Get("http://" + net.JoinHostPort(external, port) + "/v2/")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/v2/ from %s: %v %v", external, resp, err)
	}
	resp.Body.Close()
}

// externalAddr is an IPv4 address of this machine that is not loopback.
func externalAddr(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("this machine has no address but loopback to connect from")
	return ""
}
