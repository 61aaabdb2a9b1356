// Package testport gives tests free TCP ports on loopback for the servers
// they start (slapd, an OIDC provider, a registry): from the range in
// WHARF_TEST_PORTS ("32500-32599") when it is set, so that tests on a
// shared machine stay in theirs, otherwise one the kernel picks.
package testport

import (
	"crypto/rand"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Port returns a port on 127.0.0.1 that was free a moment ago.
func Port(t testing.TB) int {
	t.Helper()
	l := Listen(t)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Listen returns a listener on a free port of 127.0.0.1, which the caller
// closes.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	r := os.Getenv("WHARF_TEST_PORTS")
	if r == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	lo, hi, _ := strings.Cut(r, "-")
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || a > b {
		t.Fatalf("WHARF_TEST_PORTS=%q is not LOW-HIGH", r)
	}
	start, _ := rand.Int(rand.Reader, big.NewInt(int64(b-a+1)))
	for i := range b - a + 1 {
		p := a + (int(start.Int64())+i)%(b-a+1)
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			return l
		}
	}
	t.Fatalf("no free port in WHARF_TEST_PORTS=%s", r)
	return nil
}
