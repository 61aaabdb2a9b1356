package config

import (
	"path/filepath"
	"time"
)

// Proxy is how pull-through cache namespaces reach their upstreams (see
// docs/proxy.md). Which namespaces mirror which upstream is not
// configuration but data, set through the management API.
type Proxy struct {
	// CheckTimeout bounds asking an upstream whether a cached tag moved;
	// past it the cached manifest is served with a warning.
	CheckTimeout time.Duration `yaml:"checkTimeout"`
	// FetchTimeout bounds fetching a manifest, or the start of a blob,
	// that is not cached.
	FetchTimeout time.Duration `yaml:"fetchTimeout"`
	// IdleTimeout fails a blob fetch that receives nothing for this long.
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// MaxConnections bounds the requests in flight to one upstream.
	MaxConnections int `yaml:"maxConnections"`
	// CredentialsKeyFile holds the 32-byte key (raw, or one line of hex
	// or base64) that upstream passwords are sealed with in the database.
	// Empty means <dataDir>/proxy-credentials.key, created at start, with
	// SQLite; with PostgreSQL it must be set, to the same key on every
	// replica, for passwords to be stored.
	CredentialsKeyFile string `yaml:"credentialsKeyFile"`
	// ReloadInterval is how often a replica re-reads the proxy namespaces'
	// upstreams, to see changes made through another replica.
	ReloadInterval time.Duration `yaml:"reloadInterval"`
}

func defaultProxy() Proxy {
	return Proxy{CheckTimeout: 5 * time.Second, FetchTimeout: 30 * time.Second, IdleTimeout: time.Minute,
		MaxConnections: 32, ReloadInterval: 10 * time.Second}
}

func (c *Config) resolveProxy() {
	if c.Proxy.CredentialsKeyFile == "" && c.Database.Driver == "sqlite" {
		c.Proxy.CredentialsKeyFile = filepath.Join(c.DataDir, "proxy-credentials.key")
	}
}

func (c *Config) validateProxy(bad func(option, format string, args ...any)) {
	for name, d := range map[string]time.Duration{
		"proxy.checkTimeout":   c.Proxy.CheckTimeout,
		"proxy.fetchTimeout":   c.Proxy.FetchTimeout,
		"proxy.idleTimeout":    c.Proxy.IdleTimeout,
		"proxy.reloadInterval": c.Proxy.ReloadInterval,
	} {
		if d <= 0 {
			bad(name, "must be a positive duration, got %s", d)
		}
	}
	if n := c.Proxy.MaxConnections; n < 1 || n > 10000 {
		bad("proxy.maxConnections", "must be between 1 and 10000, got %d", n)
	}
}
