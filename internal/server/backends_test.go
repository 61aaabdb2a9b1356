package server_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
)

// backend is one combination of content and metadata store the registry
// tests run over.
type backend struct {
	name      string
	configure func(t *testing.T, cfg *config.Config)
}

// backends returns every combination this machine can run: the embedded
// default always, S3 when a test S3 server is configured
// (scripts/start-s3.sh), GCS and Azure on SQLite when their emulators are
// (scripts/start-gcs.sh, start-azure.sh). Under CI a missing server is a
// failure, not a skip.
func backends(t *testing.T) []backend {
	bs := []backend{{name: "fs+sqlite", configure: func(*testing.T, *config.Config) {}}}
	if endpoint := os.Getenv("WHARF_TEST_S3_ENDPOINT"); endpoint != "" {
		bs = append(bs, backend{name: "s3+sqlite", configure: func(t *testing.T, cfg *config.Config) {
			cfg.Storage.Driver = "s3"
			cfg.Storage.S3 = config.S3Storage{
				Endpoint:        endpoint,
				Bucket:          os.Getenv("WHARF_TEST_S3_BUCKET"),
				AccessKeyID:     os.Getenv("WHARF_TEST_S3_ACCESS_KEY"),
				SecretAccessKey: os.Getenv("WHARF_TEST_S3_SECRET_KEY"),
				PathStyle:       true,
				Prefix:          "server-test-" + randomHex(),
			}
		}})
	} else if os.Getenv("CI") != "" {
		t.Fatal("WHARF_TEST_S3_ENDPOINT is not set; CI must run the registry tests on S3")
	}
	bs = append(bs, cloudBackends(t)...)
	if os.Getenv("WHARF_TEST_POSTGRES_URL") != "" {
		bs = append(bs, backend{name: "fs+postgres", configure: func(t *testing.T, cfg *config.Config) {
			cfg.Database.Driver = "postgres"
			cfg.Database.Postgres.URL = pgtest.Database(t)
		}})
		if len(bs) > 1 && bs[1].name == "s3+sqlite" {
			s3 := bs[1].configure
			bs = append(bs, backend{name: "s3+postgres", configure: func(t *testing.T, cfg *config.Config) {
				s3(t, cfg)
				cfg.Database.Driver = "postgres"
				cfg.Database.Postgres.URL = pgtest.Database(t)
			}})
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("WHARF_TEST_POSTGRES_URL is not set; CI must run the registry tests on PostgreSQL")
	}
	return bs
}

func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// cloudBackends are GCS and Azure Blob Storage, each on SQLite: the
// drivers differ from S3 only below the content store, so the metadata
// combinations S3 runs are not repeated.
func cloudBackends(t *testing.T) []backend {
	var bs []backend
	if endpoint := os.Getenv("WHARF_TEST_GCS_ENDPOINT"); endpoint != "" {
		bs = append(bs, backend{name: "gcs+sqlite", configure: func(t *testing.T, cfg *config.Config) {
			cfg.Storage.Driver = "gcs"
			cfg.Storage.GCS = config.GCSStorage{
				Endpoint:  endpoint,
				Bucket:    os.Getenv("WHARF_TEST_GCS_BUCKET"),
				Anonymous: true,
				Prefix:    "server-test-" + randomHex(),
			}
		}})
	} else if os.Getenv("CI") != "" {
		t.Fatal("WHARF_TEST_GCS_ENDPOINT is not set; CI must run the registry tests on GCS")
	}
	if endpoint := os.Getenv("WHARF_TEST_AZURE_ENDPOINT"); endpoint != "" {
		bs = append(bs, backend{name: "azure+sqlite", configure: func(t *testing.T, cfg *config.Config) {
			cfg.Storage.Driver = "azure"
			cfg.Storage.Azure = config.AzureStorage{
				Endpoint:    endpoint,
				AccountName: os.Getenv("WHARF_TEST_AZURE_ACCOUNT_NAME"),
				AccountKey:  os.Getenv("WHARF_TEST_AZURE_ACCOUNT_KEY"),
				Container:   os.Getenv("WHARF_TEST_AZURE_CONTAINER"),
				Prefix:      "server-test-" + randomHex(),
			}
		}})
	} else if os.Getenv("CI") != "" {
		t.Fatal("WHARF_TEST_AZURE_ENDPOINT is not set; CI must run the registry tests on Azure Blob Storage")
	}
	return bs
}
