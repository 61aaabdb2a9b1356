package oidctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testport"
)

// ProviderModule is the version of the npm package oidc-provider the tests
// run (.ci/run installs it globally): the last line that supports the
// Node.js of Debian 12's neighbours, 20.
const ProviderModule = "oidc-provider@8.8.1"

// Provider is a real OpenID Connect provider on loopback: the npm package
// oidc-provider under Node.js, configured by test/oidcprovider/provider.mjs
// with one client. Its development login pages accept any password for an
// account the test made.
type Provider struct {
	// URL is the issuer.
	URL string
	// ClientID and ClientSecret are the client wharf signs in as.
	ClientID, ClientSecret string

	t        testing.TB
	cmd      *exec.Cmd
	done     chan struct{}
	accounts string
	mu       sync.Mutex
	users    map[string]Account
}

// Account is a user of the provider.
type Account struct {
	Email    string   `json:"email"`
	Groups   []string `json:"groups"`
	Disabled bool     `json:"disabled"`
}

// RequireProvider returns the path of oidc-provider's module, or fails the
// test (in CI) or skips it (elsewhere) when Node.js or the module is
// missing.
func RequireProvider(t testing.TB) (node, module string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		module = os.Getenv("WHARF_TEST_OIDC_PROVIDER_MODULE")
		if module == "" {
			out, _ := exec.Command("npm", "root", "-g").Output()
			module = filepath.Join(strings.TrimSpace(string(out)), "oidc-provider", "lib", "index.js")
		}
		if _, err = os.Stat(module); err == nil {
			return node, module
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("node and the npm package %s are needed (.ci/run installs them): %v", ProviderModule, err)
	}
	t.Skipf("node and the npm package %s are needed: %v", ProviderModule, err)
	return "", ""
}

// StartProvider runs a provider whose one client redirects to
// redirectURI, until the test ends.
func StartProvider(t testing.TB, redirectURI string) *Provider {
	t.Helper()
	node, module := RequireProvider(t)
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "..", "..", "..", "..", "test", "oidcprovider", "provider.mjs")
	p := &Provider{ClientID: "wharf", ClientSecret: "wharf-client-secret-for-tests", t: t,
		accounts: filepath.Join(t.TempDir(), "accounts.json"), users: map[string]Account{}}
	p.write()
	port := testport.Port(t)
	p.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	var out bytes.Buffer
	cmd := exec.Command(node, script)
	cmd.Env = append(os.Environ(), "OIDC_PROVIDER_MODULE="+module, "PORT="+strconv.Itoa(port), "ISSUER="+p.URL,
		"CLIENT_ID="+p.ClientID, "CLIENT_SECRET="+p.ClientSecret, "REDIRECT_URI="+redirectURI, "ACCOUNTS_FILE="+p.accounts)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("oidc-provider's output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return p
		}
		select {
		case <-done:
			t.Fatalf("oidc-provider exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("oidc-provider did not listen within 15s:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the provider, as an outage would: its port refuses
// connections from then on.
func (p *Provider) Stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// SetAccount creates or changes an account: its e-mail, groups, and
// whether it is disabled (the provider then knows it no more).
func (p *Provider) SetAccount(name string, a Account) {
	p.mu.Lock()
	p.users[name] = a
	p.mu.Unlock()
	p.write()
}

func (p *Provider) write() {
	p.mu.Lock()
	b, err := json.Marshal(p.users)
	p.mu.Unlock()
	if err == nil {
		tmp := p.accounts + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, p.accounts)
		}
	}
	if err != nil {
		p.t.Fatal(fmt.Errorf("write the provider's accounts: %w", err))
	}
}
