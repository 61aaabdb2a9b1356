// Package config is wharf's configuration: typed structs with defaults that
// work on a laptop, a YAML file, a WHARF_* environment overlay derived from
// the YAML keys, and [Config.Validate] with messages that name the option.
//
// Only the server package reads a Config; every other package takes its own
// Options.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration.
type Config struct {
	// DataDir holds everything the default backends keep on disk.
	DataDir  string   `yaml:"dataDir"`
	HTTP     HTTP     `yaml:"http"`
	Log      Log      `yaml:"log"`
	Storage  Storage  `yaml:"storage"`
	Database Database `yaml:"database"`
	Cache    Cache    `yaml:"cache"`
	GC       GC       `yaml:"gc"`
	Uploads  Uploads  `yaml:"uploads"`
	// Retention runs the retention policies (see docs/lifecycle.md).
	Retention Retention `yaml:"retention"`
	Auth      Auth      `yaml:"auth"`
	// AdminPassword is the password of the admin account created on the
	// first start with auth.enabled and no users (WHARF_ADMIN_PASSWORD).
	AdminPassword string       `yaml:"adminPassword"`
	Housekeeping  Housekeeping `yaml:"housekeeping"`
	Metrics       Metrics      `yaml:"metrics"`
	Replication   Replication  `yaml:"replication"`
	Scanning      Scanning     `yaml:"scanning"`
	Promotion     Promotion    `yaml:"promotion"`
	Network       Network      `yaml:"network"`
	Proxy         Proxy        `yaml:"proxy"`
	// Trust is signature verification (see docs/trust.md).
	Trust Trust `yaml:"trust"`
	// Events is the event stream and webhooks (docs/events.md).
	Events Events `yaml:"events"`
}

// Trust is how signatures are verified.
type Trust struct {
	// RegistryHost is the host[:port] clients name the registry by:
	// notation trust policies scope <RegistryHost>/<repository>. Empty:
	// localhost with the port of http.addr.
	RegistryHost string `yaml:"registryHost"`
	// KeySetFile is a key set (JSON, as a namespace's) trusted in every
	// namespace besides its own; ImagePolicyFile an image policy (JSON) that
	// every namespace's is held to at least. Empty: none. Read at start.
	KeySetFile      string `yaml:"keySetFile"`
	ImagePolicyFile string `yaml:"imagePolicyFile"`
}

// Events is the event stream every change writes, and webhooks.
type Events struct {
	// Retention is how long events (the audit log) are kept: older ones
	// are deleted by housekeeping once no webhook delivery of theirs is
	// pending. 0 keeps them forever.
	Retention time.Duration `yaml:"retention"`
	// PullWindow is how long manifest pulls are counted in memory before
	// they are written: one artifact.pulled event per repository,
	// manifest, tag and actor per window.
	PullWindow time.Duration `yaml:"pullWindow"`
	// QuotaWarningPercent is the share of a namespace's quota whose
	// crossing records a quota.warning event; 0 records none.
	QuotaWarningPercent int `yaml:"quotaWarningPercent"`
	// ExternalURL is where clients reach the registry, named in webhook
	// payloads (the CloudEvents source, links).
	ExternalURL string   `yaml:"externalURL"`
	Webhooks    Webhooks `yaml:"webhooks"`
}

// Webhooks is webhook delivery.
type Webhooks struct {
	// Timeout bounds one delivery attempt, connection to answer.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts is how many attempts a delivery gets before it is
	// dead-lettered.
	MaxAttempts int `yaml:"maxAttempts"`
	// Backoff is the wait after a first failed attempt, doubled after each
	// further one up to MaxBackoff, with jitter.
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"maxBackoff"`
	// Concurrency bounds the deliveries in flight per webhook.
	Concurrency int `yaml:"concurrency"`
	// AllowNetworks is a comma-separated list of addresses and CIDR
	// prefixes webhooks may reach although they are refused by default
	// (loopback, link-local, private networks).
	AllowNetworks string `yaml:"allowNetworks"`
}

// Housekeeping is what access control deletes by itself: tokens long dead
// and, if asked, old audit events.
type Housekeeping struct {
	Interval           time.Duration `yaml:"interval"`
	DeadTokenRetention time.Duration `yaml:"deadTokenRetention"`
	AuditRetention     time.Duration `yaml:"auditRetention"`
}

// HTTP is the listener.
type HTTP struct {
	Addr              string        `yaml:"addr"`
	TLSCert           string        `yaml:"tlsCert"`
	TLSKey            string        `yaml:"tlsKey"`
	ReadHeaderTimeout time.Duration `yaml:"readHeaderTimeout"`
	IdleTimeout       time.Duration `yaml:"idleTimeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdownTimeout"`
	// TrustedProxies is a comma-separated list of CIDR prefixes whose
	// X-Forwarded-For header is believed (see ProxyPrefixes).
	TrustedProxies string `yaml:"trustedProxies"`
}

// Log is the server log.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Storage selects and configures the content store.
type Storage struct {
	Driver string       `yaml:"driver"`
	FS     FSStorage    `yaml:"fs"`
	S3     S3Storage    `yaml:"s3"`
	GCS    GCSStorage   `yaml:"gcs"`
	Azure  AzureStorage `yaml:"azure"`
}

// FSStorage is the filesystem content driver.
type FSStorage struct {
	Root string `yaml:"root"`
}

// S3Storage is the S3-compatible content driver.
type S3Storage struct {
	Endpoint        string        `yaml:"endpoint"`
	Region          string        `yaml:"region"`
	Bucket          string        `yaml:"bucket"`
	Prefix          string        `yaml:"prefix"`
	AccessKeyID     string        `yaml:"accessKeyID"`
	SecretAccessKey string        `yaml:"secretAccessKey"`
	PathStyle       bool          `yaml:"pathStyle"`
	Redirect        bool          `yaml:"redirect"`
	PresignExpiry   time.Duration `yaml:"presignExpiry"`
}

// Database selects and configures the metadata store.
type Database struct {
	Driver   string   `yaml:"driver"`
	SQLite   SQLite   `yaml:"sqlite"`
	Postgres Postgres `yaml:"postgres"`
}

// Postgres is the PostgreSQL metadata backend.
type Postgres struct {
	URL      string `yaml:"url"`
	MaxConns int    `yaml:"maxConns"`
}

// SQLite is the embedded metadata backend.
type SQLite struct {
	Path        string `yaml:"path"`
	Synchronous string `yaml:"synchronous"`
}

// Cache is the in-memory manifest cache.
type Cache struct {
	ManifestEntries int `yaml:"manifestEntries"`
}

// GC is online garbage collection (docs/lifecycle.md).
type GC struct {
	// Interval between scheduled runs; 0 turns the schedule off (run
	// `wharf gc` instead).
	Interval time.Duration `yaml:"interval"`
	// ReleasedGrace: how long something that lost a reference waits before
	// it may be deleted.
	ReleasedGrace time.Duration `yaml:"releasedGrace"`
	// UnreferencedGrace: how long a blob uploaded or linked but referenced
	// by no manifest, or a manifest pushed but neither tagged nor listed by
	// an index, is kept.
	UnreferencedGrace time.Duration `yaml:"unreferencedGrace"`
	// BatchSize: how many queued reviews a run reads at a time.
	BatchSize int `yaml:"batchSize"`
	// SweepInterval: how often a scheduled run also sweeps the content
	// store for bytes no blob row records (a crash's debris); the first
	// scheduled run of a process always does. 0 turns sweeping off.
	SweepInterval time.Duration `yaml:"sweepInterval"`
}

// Uploads is how long abandoned upload sessions are kept.
type Uploads struct {
	ExpireAfter    time.Duration `yaml:"expireAfter"`
	ExpireInterval time.Duration `yaml:"expireInterval"`
}

// Retention is when retention policies run.
type Retention struct {
	Interval time.Duration `yaml:"interval"`
}

// Auth is authentication and access control.
type Auth struct {
	Enabled          bool          `yaml:"enabled"`
	Realm            string        `yaml:"realm"`
	Service          string        `yaml:"service"`
	Issuer           string        `yaml:"issuer"`
	TokenTTL         time.Duration `yaml:"tokenTTL"`
	RefreshTokenTTL  time.Duration `yaml:"refreshTokenTTL"`
	KeyLifetime      time.Duration `yaml:"keyLifetime"`
	CreateNamespaces bool          `yaml:"createNamespaces"`
	BcryptCost       int           `yaml:"bcryptCost"`
	// MinPasswordLength is the fewest characters a new password may have.
	MinPasswordLength int         `yaml:"minPasswordLength"`
	Limiter           AuthLimiter `yaml:"limiter"`
	// Company sign-in and the local accounts (identity.go).
	Local    AuthLocal    `yaml:"local"`
	LDAP     AuthLDAP     `yaml:"ldap"`
	OIDC     AuthOIDC     `yaml:"oidc"`
	Workload AuthWorkload `yaml:"workload"`
	Session  AuthSession  `yaml:"session"`
	// IdentityCheckInterval is how often the users LDAP and OIDC
	// provisioned are checked with them; 0 turns the check off.
	IdentityCheckInterval time.Duration `yaml:"identityCheckInterval"`
}

// AuthLimiter is the brute-force limiter of logins.
type AuthLimiter struct {
	// MaxFailures counts per user name and client address,
	// MaxUserFailures per user name, MaxAddressFailures per address.
	MaxFailures        int           `yaml:"maxFailures"`
	MaxUserFailures    int           `yaml:"maxUserFailures"`
	MaxAddressFailures int           `yaml:"maxAddressFailures"`
	Window             time.Duration `yaml:"window"`
	Backoff            time.Duration `yaml:"backoff"`
	MaxBackoff         time.Duration `yaml:"maxBackoff"`
}

// Default returns the configuration of `wharf serve` with nothing set.
func Default() Config {
	c := defaults()
	defaultIdentity(&c.Auth)
	return c
}

func defaults() Config {
	return Config{
		DataDir: "./data",
		HTTP: HTTP{
			Addr:              ":5000",
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   30 * time.Second,
		},
		Log:      Log{Level: "info", Format: "text"},
		Storage:  Storage{Driver: "fs"},
		Database: Database{Driver: "sqlite", SQLite: SQLite{Synchronous: "normal"}},
		Cache:    Cache{ManifestEntries: 10000},
		GC: GC{
			Interval:          time.Hour,
			ReleasedGrace:     time.Hour,
			UnreferencedGrace: 24 * time.Hour,
			BatchSize:         1000,
			SweepInterval:     6 * time.Hour,
		},
		Uploads:   Uploads{ExpireAfter: 24 * time.Hour, ExpireInterval: 15 * time.Minute},
		Retention: Retention{Interval: time.Hour},
		Auth: Auth{
			Service:           "wharf",
			Issuer:            "wharf",
			TokenTTL:          5 * time.Minute,
			RefreshTokenTTL:   30 * 24 * time.Hour,
			KeyLifetime:       90 * 24 * time.Hour,
			BcryptCost:        12,
			MinPasswordLength: 8,
			Limiter: AuthLimiter{MaxFailures: 10, MaxUserFailures: 30, MaxAddressFailures: 100,
				Window: 5 * time.Minute, Backoff: time.Minute, MaxBackoff: 30 * time.Minute},
		},
		Housekeeping: Housekeeping{Interval: time.Hour, DeadTokenRetention: 7 * 24 * time.Hour},
		Metrics:      Metrics{NamespaceLabels: 100, StorageInterval: 5 * time.Minute},
		Replication:  defaultReplication(),
		Scanning:     defaultScanning(),
		Proxy:        defaultProxy(),
		Events: Events{
			Retention:           90 * 24 * time.Hour,
			PullWindow:          10 * time.Second,
			QuotaWarningPercent: 80,
			Webhooks: Webhooks{Timeout: 10 * time.Second, MaxAttempts: 10, Backoff: 10 * time.Second, MaxBackoff: time.Hour,
				Concurrency: 4},
		},
	}
}

// Load returns the defaults overlaid with the YAML file at path (if path is
// not empty) and then with WHARF_* variables from environ.
func Load(path string, environ []string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, errEOF) {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&c, environ); err != nil {
		return c, err
	}
	return c, nil
}

// Resolve fills paths derived from DataDir that were left empty.
func (c *Config) Resolve() {
	if c.Storage.FS.Root == "" {
		c.Storage.FS.Root = filepath.Join(c.DataDir, "content")
	}
	if c.Database.SQLite.Path == "" {
		c.Database.SQLite.Path = filepath.Join(c.DataDir, "wharf.db")
	}
	c.resolveReplication()
	if c.Scanning.ScratchDir == "" {
		c.Scanning.ScratchDir = filepath.Join(c.DataDir, "scan")
	}
	c.resolveProxy()
}

// Validate reports the first invalid option, by name.
func (c *Config) Validate() error {
	var errs []error
	bad := func(option, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", option, fmt.Sprintf(format, args...)))
	}
	if c.DataDir == "" {
		bad("dataDir", "must not be empty")
	}
	if c.HTTP.Addr == "" {
		bad("http.addr", "must not be empty")
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		bad("http.tlsCert", "http.tlsCert and http.tlsKey must be set together")
	}
	for name, d := range map[string]time.Duration{
		"http.readHeaderTimeout": c.HTTP.ReadHeaderTimeout,
		"http.idleTimeout":       c.HTTP.IdleTimeout,
		"http.shutdownTimeout":   c.HTTP.ShutdownTimeout,
	} {
		if d <= 0 {
			bad(name, "must be a positive duration, got %s", d)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "must be text or json, got %q", c.Log.Format)
	}
	switch c.Storage.Driver {
	case "fs":
	case "s3":
		s3 := c.Storage.S3
		if s3.Bucket == "" {
			bad("storage.s3.bucket", "must be set when storage.driver is s3")
		}
		if (s3.AccessKeyID == "") != (s3.SecretAccessKey == "") {
			bad("storage.s3.accessKeyID", "storage.s3.accessKeyID and storage.s3.secretAccessKey must be set together (or both left empty for the AWS credential chain)")
		}
		if s3.PresignExpiry < 0 || s3.PresignExpiry > 7*24*time.Hour {
			bad("storage.s3.presignExpiry", "must be between 0 (15 minutes) and 168h, got %s", s3.PresignExpiry)
		}
	case "gcs":
		c.Storage.GCS.validate(bad)
	case "azure":
		c.Storage.Azure.validate(bad)
	default:
		bad("storage.driver", "must be fs, s3, gcs or azure, got %q", c.Storage.Driver)
	}
	switch c.Database.Driver {
	case "sqlite":
		switch c.Database.SQLite.Synchronous {
		case "normal", "full":
		default:
			bad("database.sqlite.synchronous", "must be normal or full, got %q", c.Database.SQLite.Synchronous)
		}
	case "postgres":
		if c.Database.Postgres.URL == "" {
			bad("database.postgres.url", "must be set when database.driver is postgres")
		}
		if c.Database.Postgres.MaxConns < 0 || c.Database.Postgres.MaxConns > 10000 {
			bad("database.postgres.maxConns", "must be between 0 (pgx's default) and 10000, got %d", c.Database.Postgres.MaxConns)
		}
	default:
		bad("database.driver", "must be sqlite or postgres, got %q", c.Database.Driver)
	}
	if h := c.Trust.RegistryHost; h != "" && (strings.ContainsAny(h, "/@?# ") || strings.Contains(h, "://")) {
		bad("trust.registryHost", "must be a host or host:port, such as registry.example.com, got %q", h)
	}
	if c.Cache.ManifestEntries < 0 {
		bad("cache.manifestEntries", "must not be negative (0 turns the cache off)")
	}
	c.validateGC(bad)
	if c.Uploads.ExpireAfter < 0 {
		bad("uploads.expireAfter", "must not be negative (0 keeps uploads forever), got %s", c.Uploads.ExpireAfter)
	}
	if c.Uploads.ExpireInterval <= 0 {
		bad("uploads.expireInterval", "must be a positive duration, got %s", c.Uploads.ExpireInterval)
	}
	if c.Retention.Interval < 0 {
		bad("retention.interval", "must not be negative (0 turns scheduled retention off), got %s", c.Retention.Interval)
	}
	if _, err := c.HTTP.ProxyPrefixes(); err != nil {
		bad("http.trustedProxies", "%v", err)
	}
	c.validateAuth(bad)
	if h := c.Housekeeping; h.Interval <= 0 {
		bad("housekeeping.interval", "must be a positive duration, got %s", h.Interval)
	}
	if c.Housekeeping.DeadTokenRetention < 0 {
		bad("housekeeping.deadTokenRetention", "must not be negative, got %s", c.Housekeeping.DeadTokenRetention)
	}
	c.validateMetrics(bad)
	c.validateReplication(bad)
	c.validateScanning(bad)
	c.validatePromotion(bad)
	c.validateNetwork(bad)
	c.validateProxy(bad)
	if c.Housekeeping.AuditRetention < 0 {
		bad("housekeeping.auditRetention", "must not be negative (0 keeps events forever), got %s", c.Housekeeping.AuditRetention)
	}
	c.validateEvents(bad)
	return errors.Join(errs...)
}

func (c *Config) validateGC(bad func(option, format string, args ...any)) {
	for name, d := range map[string]time.Duration{
		"gc.interval":          c.GC.Interval,
		"gc.releasedGrace":     c.GC.ReleasedGrace,
		"gc.unreferencedGrace": c.GC.UnreferencedGrace,
		"gc.sweepInterval":     c.GC.SweepInterval,
	} {
		if d < 0 {
			bad(name, "must not be negative, got %s", d)
		}
	}
	if c.GC.BatchSize < 1 || c.GC.BatchSize > 100000 {
		bad("gc.batchSize", "must be between 1 and 100000, got %d", c.GC.BatchSize)
	}
}

func (c *Config) validateEvents(bad func(option, format string, args ...any)) {
	e := c.Events
	if e.Retention < 0 {
		bad("events.retention", "must not be negative (0 keeps events forever), got %s", e.Retention)
	}
	if e.PullWindow < time.Second || e.PullWindow > time.Hour {
		bad("events.pullWindow", "must be between 1s and 1h, got %s", e.PullWindow)
	}
	if e.QuotaWarningPercent < 0 || e.QuotaWarningPercent > 100 {
		bad("events.quotaWarningPercent", "must be between 0 (no warnings) and 100, got %d", e.QuotaWarningPercent)
	}
	if u := e.ExternalURL; u != "" && (!strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") || strings.HasSuffix(u, "/")) {
		bad("events.externalURL", "must be an http:// or https:// URL without a trailing slash, such as https://registry.example.com, got %q", u)
	}
	w := e.Webhooks
	if w.Timeout < 100*time.Millisecond || w.Timeout > 5*time.Minute {
		bad("events.webhooks.timeout", "must be between 100ms and 5m, got %s", w.Timeout)
	}
	if w.MaxAttempts < 1 || w.MaxAttempts > 100 {
		bad("events.webhooks.maxAttempts", "must be between 1 and 100, got %d", w.MaxAttempts)
	}
	if w.Backoff <= 0 {
		bad("events.webhooks.backoff", "must be a positive duration, got %s", w.Backoff)
	}
	if w.MaxBackoff < w.Backoff {
		bad("events.webhooks.maxBackoff", "must not be shorter than events.webhooks.backoff (%s), got %s", w.Backoff, w.MaxBackoff)
	}
	if w.Concurrency < 1 || w.Concurrency > 64 {
		bad("events.webhooks.concurrency", "must be between 1 and 64, got %d", w.Concurrency)
	}
	if _, err := parsePrefixes(w.AllowNetworks); err != nil {
		bad("events.webhooks.allowNetworks", "%v", err)
	}
}

// AllowedNetworks parses AllowNetworks.
func (w Webhooks) AllowedNetworks() ([]netip.Prefix, error) { return parsePrefixes(w.AllowNetworks) }

// EventRetention is how long events are kept: events.retention, or the
// older housekeeping.auditRetention when that is set.
func (c *Config) EventRetention() time.Duration {
	if c.Housekeeping.AuditRetention > 0 {
		return c.Housekeeping.AuditRetention
	}
	return c.Events.Retention
}

func (c *Config) validateAuth(bad func(option, format string, args ...any)) {
	a := c.Auth
	if a.Realm != "" && !strings.HasPrefix(a.Realm, "http://") && !strings.HasPrefix(a.Realm, "https://") {
		bad("auth.realm", "must be an http:// or https:// URL of the token endpoint, got %q", a.Realm)
	}
	if a.Service == "" {
		bad("auth.service", "must not be empty")
	}
	if a.Issuer == "" {
		bad("auth.issuer", "must not be empty")
	}
	if a.TokenTTL < time.Second || a.TokenTTL > 24*time.Hour {
		bad("auth.tokenTTL", "must be between 1s and 24h, got %s", a.TokenTTL)
	}
	if a.RefreshTokenTTL < time.Minute {
		bad("auth.refreshTokenTTL", "must be at least 1m, got %s", a.RefreshTokenTTL)
	}
	if a.KeyLifetime != 0 && a.KeyLifetime < time.Hour {
		bad("auth.keyLifetime", "must be 0 (never rotate) or at least 1h, got %s", a.KeyLifetime)
	}
	if a.BcryptCost < 4 || a.BcryptCost > 31 {
		bad("auth.bcryptCost", "must be between 4 and 31, got %d", a.BcryptCost)
	}
	if a.MinPasswordLength < 1 || a.MinPasswordLength > 72 {
		bad("auth.minPasswordLength", "must be between 1 and 72 (bcrypt reads no more than 72 bytes), got %d", a.MinPasswordLength)
	}
	l := a.Limiter
	if l.MaxFailures < 1 {
		bad("auth.limiter.maxFailures", "must be at least 1, got %d", l.MaxFailures)
	}
	if l.MaxUserFailures < 1 {
		bad("auth.limiter.maxUserFailures", "must be at least 1, got %d", l.MaxUserFailures)
	}
	if l.MaxAddressFailures < 1 {
		bad("auth.limiter.maxAddressFailures", "must be at least 1, got %d", l.MaxAddressFailures)
	}
	for name, d := range map[string]time.Duration{
		"auth.limiter.window":     l.Window,
		"auth.limiter.backoff":    l.Backoff,
		"auth.limiter.maxBackoff": l.MaxBackoff,
	} {
		if d <= 0 {
			bad(name, "must be a positive duration, got %s", d)
		}
	}
	if l.MaxBackoff < l.Backoff {
		bad("auth.limiter.maxBackoff", "must not be shorter than auth.limiter.backoff (%s), got %s", l.Backoff, l.MaxBackoff)
	}
	if c.AdminPassword != "" && len(c.AdminPassword) > 72 {
		bad("adminPassword", "must be at most 72 bytes (bcrypt's limit)")
	}
	c.validateIdentity(bad)
}

// ProxyPrefixes parses TrustedProxies: comma-separated CIDR prefixes or
// single addresses.
func (h HTTP) ProxyPrefixes() ([]netip.Prefix, error) { return parsePrefixes(h.TrustedProxies) }

// parsePrefixes parses comma-separated CIDR prefixes or single addresses.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR prefix", f)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR prefix", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
