package config

import (
	"net/url"
	"time"
)

// maxPresignExpiry is the longest a signed blob URL may stay valid, in
// every driver (the limit of S3's SigV4, GCS's V4 and Azure's user
// delegation keys).
const maxPresignExpiry = 7 * 24 * time.Hour

// GCSStorage is the Google Cloud Storage content driver.
type GCSStorage struct {
	Bucket          string        `yaml:"bucket"`
	Prefix          string        `yaml:"prefix"`
	Endpoint        string        `yaml:"endpoint"`
	CredentialsFile string        `yaml:"credentialsFile"`
	Anonymous       bool          `yaml:"anonymous"`
	Redirect        bool          `yaml:"redirect"`
	PresignExpiry   time.Duration `yaml:"presignExpiry"`
}

func (g GCSStorage) validate(bad func(option, format string, args ...any)) {
	if g.Bucket == "" {
		bad("storage.gcs.bucket", "must be set when storage.driver is gcs")
	}
	if g.Endpoint != "" && !isHTTPURL(g.Endpoint) {
		bad("storage.gcs.endpoint", "must be an http or https URL, got %q", g.Endpoint)
	}
	if g.Redirect && g.Anonymous && g.CredentialsFile == "" {
		bad("storage.gcs.redirect", "needs a service account key in storage.gcs.credentialsFile to sign URLs when storage.gcs.anonymous is set")
	}
	if g.PresignExpiry < 0 || g.PresignExpiry > maxPresignExpiry {
		bad("storage.gcs.presignExpiry", "must be between 0 (15 minutes) and 168h, got %s", g.PresignExpiry)
	}
}

// AzureStorage is the Azure Blob Storage content driver.
type AzureStorage struct {
	AccountName      string        `yaml:"accountName"`
	Container        string        `yaml:"container"`
	Prefix           string        `yaml:"prefix"`
	Endpoint         string        `yaml:"endpoint"`
	AccountKey       string        `yaml:"accountKey"`
	ConnectionString string        `yaml:"connectionString"`
	SASToken         string        `yaml:"sasToken"`
	Redirect         bool          `yaml:"redirect"`
	PresignExpiry    time.Duration `yaml:"presignExpiry"`
}

func (a AzureStorage) validate(bad func(option, format string, args ...any)) {
	if a.Container == "" {
		bad("storage.azure.container", "must be set when storage.driver is azure")
	}
	secrets := 0
	for _, s := range []string{a.AccountKey, a.ConnectionString, a.SASToken} {
		if s != "" {
			secrets++
		}
	}
	if secrets > 1 {
		bad("storage.azure.accountKey", "set at most one of storage.azure.accountKey, storage.azure.connectionString and storage.azure.sasToken (none: the Azure credential chain)")
	}
	switch {
	case a.ConnectionString != "" && (a.AccountName != "" || a.Endpoint != ""):
		bad("storage.azure.connectionString", "names the account and its endpoint itself: leave storage.azure.accountName and storage.azure.endpoint empty")
	case a.ConnectionString == "" && a.AccountName == "":
		bad("storage.azure.accountName", "must be set when storage.driver is azure (or give storage.azure.connectionString)")
	}
	if a.Endpoint != "" && !isHTTPURL(a.Endpoint) {
		bad("storage.azure.endpoint", "must be an http or https URL, got %q", a.Endpoint)
	}
	if a.Redirect && a.SASToken != "" {
		bad("storage.azure.redirect", "a SAS token cannot sign URLs: use storage.azure.accountKey, or the Azure credential chain (user delegation SAS)")
	}
	if a.PresignExpiry < 0 || a.PresignExpiry > maxPresignExpiry {
		bad("storage.azure.presignExpiry", "must be between 0 (15 minutes) and 168h, got %s", a.PresignExpiry)
	}
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
