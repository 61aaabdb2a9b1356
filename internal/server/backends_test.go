package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wharf-dev/wharf/internal/config"
)

// backend is one combination of content and metadata store the registry
// tests run over.
type backend struct {
	name      string
	configure func(t *testing.T, cfg *config.Config)
}

// backends returns every combination this machine can run: the embedded
// default always, and S3 when a test S3 server is configured
// (scripts/start-s3.sh). Under CI a missing server is a failure, not a skip.
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
	if admin := os.Getenv("WHARF_TEST_POSTGRES_URL"); admin != "" {
		bs = append(bs, backend{name: "fs+postgres", configure: func(t *testing.T, cfg *config.Config) {
			cfg.Database.Driver = "postgres"
			cfg.Database.Postgres.URL = newDatabase(t, admin)
		}})
		if len(bs) > 2 {
			s3 := bs[1].configure
			bs = append(bs, backend{name: "s3+postgres", configure: func(t *testing.T, cfg *config.Config) {
				s3(t, cfg)
				cfg.Database.Driver = "postgres"
				cfg.Database.Postgres.URL = newDatabase(t, admin)
			}})
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("WHARF_TEST_POSTGRES_URL is not set; CI must run the registry tests on PostgreSQL")
	}
	return bs
}

// newDatabase creates an empty database for one test on the server at
// admin, dropped when the test ends, and returns its URL.
func newDatabase(t *testing.T, admin string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to WHARF_TEST_POSTGRES_URL: %v", err)
	}
	defer conn.Close(ctx)
	name := "wharf_server_" + randomHex()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
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
