package config

import "time"

// Metrics is what /metrics exports beyond request counts (see
// docs/monitoring.md).
type Metrics struct {
	// NamespaceLabels is how many namespaces get a label of their own in
	// per-namespace series; the others are counted under "_other".
	NamespaceLabels int `yaml:"namespaceLabels"`
	// StorageInterval is how often the storage figures (bytes per
	// namespace and in total, quotas) are computed, on one replica at a
	// time; 0 turns them off.
	StorageInterval time.Duration `yaml:"storageInterval"`
}

func (c *Config) validateMetrics(bad func(option, format string, args ...any)) {
	if n := c.Metrics.NamespaceLabels; n < 0 || n > 10000 {
		bad("metrics.namespaceLabels", "must be between 0 and 10000, got %d", n)
	}
	if d := c.Metrics.StorageInterval; d < 0 || (d > 0 && d < time.Second) {
		bad("metrics.storageInterval", "must be 0 (off) or at least 1s, got %s", d)
	}
}
