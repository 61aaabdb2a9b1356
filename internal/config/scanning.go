package config

import (
	"slices"
	"time"
)

// Scanning is vulnerability scanning and SBOMs (see docs/scanning.md).
type Scanning struct {
	// Enabled runs the scanner: scans on demand, and the scans the other
	// options ask for.
	Enabled bool `yaml:"enabled"`
	// OnPush scans every image pushed, after the push is answered.
	OnPush bool `yaml:"onPush"`
	// SBOMOnPush lists the SBOM formats (spdx, cyclonedx) stored as
	// referrers of each image scanned on push.
	SBOMOnPush []string `yaml:"sbomOnPush"`
	// Workers is how many scans run at once on each replica.
	Workers int `yaml:"workers"`
	// ScratchDir holds the files a scan reads (default <dataDir>/scan).
	ScratchDir string `yaml:"scratchDir"`
	// Lease is how long a replica's claim on a scan lasts unless renewed:
	// how soon a scan a dead replica held is taken over.
	Lease time.Duration `yaml:"lease"`
	// RefreshInterval is how often each replica checks for new
	// vulnerability data.
	RefreshInterval time.Duration `yaml:"refreshInterval"`
	// SweepInterval is how often images pushed without a scan (their
	// note lost in a crash) are queued, with onPush.
	SweepInterval time.Duration `yaml:"sweepInterval"`
	// MetricsInterval is how often images are counted by severity for
	// wharf_images_by_severity.
	MetricsInterval time.Duration `yaml:"metricsInterval"`
	// PassSeverity is the severity at or above which an image does not
	// pass, for wharf_scan_pass_ratio.
	PassSeverity string `yaml:"passSeverity"`
	// MaxLayerBytes bounds the uncompressed size of an image's layers.
	MaxLayerBytes int64 `yaml:"maxLayerBytes"`
}

func defaultScanning() Scanning {
	return Scanning{Workers: 2, Lease: 2 * time.Minute, RefreshInterval: time.Minute, SweepInterval: 5 * time.Minute,
		MetricsInterval: time.Minute, PassSeverity: "high", MaxLayerBytes: 8 << 30}
}

func (c *Config) validateScanning(bad func(option, format string, args ...any)) {
	s := c.Scanning
	for _, f := range s.SBOMOnPush {
		if f != "spdx" && f != "cyclonedx" {
			bad("scanning.sbomOnPush", "%q is not an SBOM format (spdx, cyclonedx)", f)
		}
	}
	if (s.OnPush || len(s.SBOMOnPush) > 0) && !s.Enabled {
		bad("scanning.onPush", "needs scanning.enabled")
	}
	if len(s.SBOMOnPush) > 0 && !s.OnPush {
		bad("scanning.sbomOnPush", "needs scanning.onPush")
	}
	if s.Workers < 1 || s.Workers > 64 {
		bad("scanning.workers", "must be between 1 and 64, got %d", s.Workers)
	}
	if s.Lease < 10*time.Second {
		bad("scanning.lease", "must be at least 10s, got %s", s.Lease)
	}
	if s.RefreshInterval < time.Second {
		bad("scanning.refreshInterval", "must be at least 1s, got %s", s.RefreshInterval)
	}
	for opt, d := range map[string]time.Duration{"scanning.sweepInterval": s.SweepInterval, "scanning.metricsInterval": s.MetricsInterval} {
		if d < 0 || (d > 0 && d < time.Second) {
			bad(opt, "must be 0 (off) or at least 1s, got %s", d)
		}
	}
	if !slices.Contains([]string{"critical", "high", "medium", "low"}, s.PassSeverity) {
		bad("scanning.passSeverity", "must be critical, high, medium or low, got %q", s.PassSeverity)
	}
	if s.MaxLayerBytes < 1<<20 {
		bad("scanning.maxLayerBytes", "must be at least 1 MiB, got %d", s.MaxLayerBytes)
	}
}
