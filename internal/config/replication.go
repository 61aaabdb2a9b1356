package config

import (
	"path/filepath"
	"time"
)

// Replication is how replication rules run (see docs/replication.md).
// The rules themselves are data, set through the management API.
type Replication struct {
	// PollInterval is how often the replication job looks for queued
	// runs and due schedules; 0 turns replication's background work off.
	PollInterval time.Duration `yaml:"pollInterval"`
	// ReconcileInterval is how often an event-triggered rule is run whole
	// to catch what its event runs missed; 0 never.
	ReconcileInterval time.Duration `yaml:"reconcileInterval"`
	// MaxRuns bounds the runs in progress at once, one per rule.
	MaxRuns int `yaml:"maxRuns"`
	// RunRetention is how long ended runs and their logs are kept; 0
	// keeps them forever.
	RunRetention time.Duration `yaml:"runRetention"`
	// CredentialsKeyFile holds the 32-byte key (raw, or one line of
	// base64 or hex) remote registry passwords are sealed with in the
	// database. Empty means <dataDir>/replication-credentials.key, created
	// on first use, with SQLite; with PostgreSQL it must be set, to the
	// same key on every replica, for rules with a password.
	CredentialsKeyFile string `yaml:"credentialsKeyFile"`
}

func defaultReplication() Replication {
	return Replication{PollInterval: 2 * time.Second, ReconcileInterval: time.Hour, MaxRuns: 4, RunRetention: 30 * 24 * time.Hour}
}

func (c *Config) resolveReplication() {
	if c.Replication.CredentialsKeyFile == "" && c.Database.Driver == "sqlite" {
		c.Replication.CredentialsKeyFile = filepath.Join(c.DataDir, "replication-credentials.key")
	}
}

func (c *Config) validateReplication(bad func(option, format string, args ...any)) {
	for name, d := range map[string]time.Duration{
		"replication.pollInterval":      c.Replication.PollInterval,
		"replication.reconcileInterval": c.Replication.ReconcileInterval,
		"replication.runRetention":      c.Replication.RunRetention,
	} {
		if d < 0 {
			bad(name, "must not be negative (0 turns it off), got %s", d)
		}
	}
	if n := c.Replication.MaxRuns; n < 1 || n > 100 {
		bad("replication.maxRuns", "must be between 1 and 100, got %d", n)
	}
}
