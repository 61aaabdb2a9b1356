package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Resolve()
	if c.Storage.FS.Root != filepath.Join("data", "content") || c.Database.SQLite.Path != filepath.Join("data", "wharf.db") {
		t.Errorf("resolved paths: %q %q", c.Storage.FS.Root, c.Database.SQLite.Path)
	}
}

func TestLoadOverlay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wharf.yaml")
	if err := os.WriteFile(path, []byte("http:\n  addr: 127.0.0.1:6000\n  shutdownTimeout: 5s\nlog:\n  level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, []string{"WHARF_LOG_LEVEL=warn", "WHARF_DATA_DIR=/srv/wharf", "OTHER=x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != "127.0.0.1:6000" || c.HTTP.ShutdownTimeout != 5*time.Second {
		t.Errorf("file not applied: %+v", c.HTTP)
	}
	if c.Log.Level != "warn" || c.DataDir != "/srv/wharf" {
		t.Errorf("environment not applied over file: %+v %q", c.Log, c.DataDir)
	}
	if err := c.Set("http.addr", ":7000"); err != nil || c.HTTP.Addr != ":7000" {
		t.Errorf("Set: %v %q", err, c.HTTP.Addr)
	}
}

func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	_ = os.WriteFile(unknown, []byte("htp:\n  addr: x\n"), 0o600)
	if _, err := Load(unknown, nil); err == nil || !strings.Contains(err.Error(), "htp") {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := Load("", []string{"WHARF_HTTP_SHUTDOWN_TIMEOUT=soon"}); err == nil || !strings.Contains(err.Error(), "WHARF_HTTP_SHUTDOWN_TIMEOUT") {
		t.Errorf("bad duration: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml"), nil); err == nil {
		t.Error("missing file accepted")
	}
}

// TestUnknownEnvironment: a WHARF_* variable that is no option stops the
// start with the closest option named; the variables of the management CLI
// and of the test suite are not options and are left alone.
func TestUnknownEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env  string
		says string
	}{
		{"WHARF_AUTH_ENABLE=true", "WHARF_AUTH_ENABLE is not a wharf option; did you mean WHARF_AUTH_ENABLED (auth.enabled)?"},
		{"WHARF_AUTH_ENABLED_=true", "did you mean WHARF_AUTH_ENABLED (auth.enabled)?"},
		{"WHARF_HTTP_ADRESS=:1", "did you mean WHARF_HTTP_ADDR (http.addr)?"},
		{"WHARF_DATADIR=/x", "did you mean WHARF_DATA_DIR (dataDir)?"},
		{"WHARF_GC_RELEASE_GRACE=1h", "did you mean WHARF_GC_RELEASED_GRACE (gc.releasedGrace)?"},
		{"WHARF_SOMETHING_ELSE_ENTIRELY=1", "WHARF_SOMETHING_ELSE_ENTIRELY is not a wharf option. Unset it"},
	} {
		_, err := Load("", []string{tc.env, "WHARF_LOG_LEVEL=warn"})
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: error %v, want it to say %q", tc.env, err, tc.says)
		}
	}
	env := []string{"WHARF_URL=http://x", "WHARF_TOKEN=t", "WHARF_USER=u", "WHARF_PASSWORD=p", "WHARF_SHARED=/s", "WHARF_GC_STRESS=1s",
		"WHARF_TEST_POSTGRES_URL=postgres://", "WHARF_TEST_ANYTHING=1", "WHARF_ADMIN_PASSWORD=pw", "WHARF_AUTH_ENABLED=true", "NOT_WHARF=1"}
	if c, err := Load("", env); err != nil || !c.Auth.Enabled || c.AdminPassword != "pw" {
		t.Errorf("allowed variables: %v", err)
	}
	// Every documented variable is an option's (docs/configuration.md lists
	// them from Options).
	for _, o := range Options() {
		if _, err := Load("", []string{EnvName(o) + "="}); err != nil && strings.Contains(err.Error(), "not a wharf option") {
			t.Errorf("%s refused: %v", EnvName(o), err)
		}
	}
}

func TestValidateNamesTheOption(t *testing.T) {
	for _, tc := range []struct {
		option string
		mutate func(*Config)
	}{
		{"http.addr", func(c *Config) { c.HTTP.Addr = "" }},
		{"http.tlsCert", func(c *Config) { c.HTTP.TLSCert = "cert.pem" }},
		{"http.shutdownTimeout", func(c *Config) { c.HTTP.ShutdownTimeout = -1 }},
		{"log.level", func(c *Config) { c.Log.Level = "loud" }},
		{"log.format", func(c *Config) { c.Log.Format = "xml" }},
		{"storage.driver", func(c *Config) { c.Storage.Driver = "floppy" }},
		{"database.driver", func(c *Config) { c.Database.Driver = "csv" }},
		{"database.sqlite.synchronous", func(c *Config) { c.Database.SQLite.Synchronous = "sometimes" }},
		{"cache.manifestEntries", func(c *Config) { c.Cache.ManifestEntries = -5 }},
		{"gc.interval", func(c *Config) { c.GC.Interval = -time.Second }},
		{"retention.interval", func(c *Config) { c.Retention.Interval = -time.Second }},
		{"gc.releasedGrace", func(c *Config) { c.GC.ReleasedGrace = -time.Second }},
		{"gc.unreferencedGrace", func(c *Config) { c.GC.UnreferencedGrace = -time.Second }},
		{"gc.batchSize", func(c *Config) { c.GC.BatchSize = 0 }},
		{"dataDir", func(c *Config) { c.DataDir = "" }},
		{"storage.s3.bucket", func(c *Config) { c.Storage.Driver = "s3" }},
		{"storage.s3.accessKeyID", func(c *Config) { c.Storage.Driver, c.Storage.S3.Bucket, c.Storage.S3.AccessKeyID = "s3", "b", "x" }},
		{"storage.s3.presignExpiry", func(c *Config) { c.Storage.Driver, c.Storage.S3.Bucket, c.Storage.S3.PresignExpiry = "s3", "b", -1 }},
		{"metrics.namespaceLabels", func(c *Config) { c.Metrics.NamespaceLabels = -1 }},
		{"metrics.storageInterval", func(c *Config) { c.Metrics.StorageInterval = time.Millisecond }},
		{"storage.gcs.bucket", func(c *Config) { c.Storage.Driver = "gcs" }},
		{"storage.gcs.endpoint", func(c *Config) {
			c.Storage.Driver, c.Storage.GCS.Bucket, c.Storage.GCS.Endpoint = "gcs", "b", "localhost:4443"
		}},
		{"storage.gcs.redirect", func(c *Config) {
			c.Storage.Driver, c.Storage.GCS.Bucket, c.Storage.GCS.Anonymous, c.Storage.GCS.Redirect = "gcs", "b", true, true
		}},
		{"storage.gcs.presignExpiry", func(c *Config) {
			c.Storage.Driver, c.Storage.GCS.Bucket, c.Storage.GCS.PresignExpiry = "gcs", "b", 200*time.Hour
		}},
		{"storage.azure.container", func(c *Config) { c.Storage.Driver, c.Storage.Azure.AccountName = "azure", "acct" }},
		{"storage.azure.accountName", func(c *Config) { c.Storage.Driver, c.Storage.Azure.Container = "azure", "c" }},
		{"storage.azure.accountKey", func(c *Config) {
			c.Storage.Driver, c.Storage.Azure.Container, c.Storage.Azure.AccountName = "azure", "c", "acct"
			c.Storage.Azure.AccountKey, c.Storage.Azure.SASToken = "k", "sv=x"
		}},
		{"storage.azure.connectionString", func(c *Config) {
			c.Storage.Driver, c.Storage.Azure.Container, c.Storage.Azure.AccountName = "azure", "c", "acct"
			c.Storage.Azure.ConnectionString = "AccountName=acct;AccountKey=k"
		}},
		{"storage.azure.endpoint", func(c *Config) {
			c.Storage.Driver, c.Storage.Azure.Container, c.Storage.Azure.AccountName, c.Storage.Azure.Endpoint = "azure", "c", "acct", "blob.local"
		}},
		{"storage.azure.redirect", func(c *Config) {
			c.Storage.Driver, c.Storage.Azure.Container, c.Storage.Azure.AccountName = "azure", "c", "acct"
			c.Storage.Azure.SASToken, c.Storage.Azure.Redirect = "sv=x", true
		}},
		{"auth.local.breakGlass", func(c *Config) { c.Auth.Enabled, c.Auth.Local.Passwords, c.Auth.Local.BreakGlass = true, false, nil }},
		{"auth.identityCheckInterval", func(c *Config) { c.Auth.IdentityCheckInterval = time.Second }},
		{"auth.ldap.url", func(c *Config) { c.Auth.LDAP.URL = "http://dc.example.com" }},
		{"auth.ldap.bindDN", func(c *Config) { c.Auth.LDAP.URL, c.Auth.LDAP.UserBaseDN = "ldap://dc", "dc=x" }},
		{"auth.ldap.startTLS", func(c *Config) { c.Auth.LDAP.URL, c.Auth.LDAP.StartTLS = "ldaps://dc", true }},
		{"auth.ldap.userBaseDN", func(c *Config) { c.Auth.LDAP.URL = "ldap://dc" }},
		{"auth.ldap.userFilter", func(c *Config) { c.Auth.LDAP.URL, c.Auth.LDAP.UserFilter = "ldap://dc", "(objectClass=person" }},
		{"auth.ldap.timeout", func(c *Config) { c.Auth.LDAP.URL, c.Auth.LDAP.Timeout = "ldap://dc", time.Hour }},
		{"auth.ldap.groupRoles[0].role", func(c *Config) {
			c.Auth.LDAP.URL, c.Auth.LDAP.GroupRoles = "ldap://dc", []GroupRole{{Group: "g", Namespace: "n", Role: "owner"}}
		}},
		{"auth.oidc.clientID", func(c *Config) { c.Auth.OIDC.Issuer = "https://idp" }},
		{"auth.oidc.redirectURL", func(c *Config) { c.Auth.OIDC.Issuer, c.Auth.OIDC.RedirectURL = "https://idp", "https://r/elsewhere" }},
		{"auth.oidc.scopes", func(c *Config) { c.Auth.OIDC.Issuer, c.Auth.OIDC.Scopes = "https://idp", []string{"profile"} }},
		{"auth.oidc.issuer", func(c *Config) { c.Auth.OIDC.Issuer = "idp.example.com" }},
		{"auth.workload.rules[0].audience", func(c *Config) {
			c.Auth.Workload.Rules = []WorkloadRule{{Name: "r", Namespace: "ci", Issuer: "https://i", Subject: "x", Scopes: []string{"ci/*:pull"}}}
		}},
		{"auth.workload.rules[0].subject", func(c *Config) {
			c.Auth.Workload.Rules = []WorkloadRule{{Name: "r", Namespace: "ci", Issuer: "https://i", Audience: "a", Scopes: []string{"ci/*:pull"}}}
		}},
		{"auth.session.maxAge", func(c *Config) { c.Auth.Session.MaxAge = time.Minute }},
		{"auth.session.secureCookie", func(c *Config) { c.Auth.Session.SecureCookie = "sometimes" }},
		{"storage.azure.presignExpiry", func(c *Config) {
			c.Storage.Driver, c.Storage.Azure.Container, c.Storage.Azure.AccountName, c.Storage.Azure.PresignExpiry = "azure", "c", "acct", -1
		}},
	} {
		c := Default()
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.option) {
			t.Errorf("%s: error %v does not name the option", tc.option, err)
		}
	}
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{
		"http.shutdownTimeout":  "WHARF_HTTP_SHUTDOWN_TIMEOUT",
		"dataDir":               "WHARF_DATA_DIR",
		"database.sqlite.path":  "WHARF_DATABASE_SQLITE_PATH",
		"http.tlsCert":          "WHARF_HTTP_TLS_CERT",
		"cache.manifestEntries": "WHARF_CACHE_MANIFEST_ENTRIES",
	} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReferenceDocumentsEveryOption keeps docs/configuration.md honest: every
// option the code reads has a line there, under its YAML path and its
// environment variable.
func TestReferenceDocumentsEveryOption(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range Options() {
		if !strings.Contains(string(doc), "`"+opt+"`") {
			t.Errorf("docs/configuration.md does not document `%s`", opt)
		}
		if !strings.Contains(string(doc), EnvName(opt)) {
			t.Errorf("docs/configuration.md does not mention %s", EnvName(opt))
		}
	}
}

// TestEnvLists: lists of names are comma-separated, lists of rules and
// maps YAML in flow style.
func TestEnvLists(t *testing.T) {
	c, err := Load("", []string{
		"WHARF_AUTH_LDAP_ADMIN_GROUPS=admins, ops",
		"WHARF_AUTH_LDAP_GROUP_ROLES=[{group: devs, namespace: team-a, role: developer}]",
		`WHARF_AUTH_WORKLOAD_RULES=[{name: main, namespace: ci, issuer: "https://token.actions.githubusercontent.com", audience: wharf, claims: {repository: org/app}, scopes: ["ci/*:push"]}]`,
		"WHARF_AUTH_OIDC_SCOPES=[openid, groups]",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Auth.LDAP.AdminGroups; len(got) != 2 || got[1] != "ops" {
		t.Errorf("admin groups: %q", got)
	}
	if got := c.Auth.LDAP.GroupRoles; len(got) != 1 || got[0] != (GroupRole{Group: "devs", Namespace: "team-a", Role: "developer"}) {
		t.Errorf("group roles: %+v", got)
	}
	if got := c.Auth.Workload.Rules; len(got) != 1 || got[0].Claims["repository"] != "org/app" || got[0].Scopes[0] != "ci/*:push" {
		t.Errorf("workload rules: %+v", got)
	}
	if got := c.Auth.OIDC.Scopes; len(got) != 2 || got[1] != "groups" {
		t.Errorf("scopes: %q", got)
	}
	if _, err := Load("", []string{"WHARF_AUTH_LDAP_GROUP_ROLES=[{group: devs"}); err == nil || !strings.Contains(err.Error(), "auth.ldap.groupRoles") {
		t.Errorf("a malformed list: %v", err)
	}
}
