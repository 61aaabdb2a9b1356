package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// e2eBackend is a configuration the binary is tested in, as the environment
// wharf serve reads.
type e2eBackend struct {
	name string
	env  func(t *testing.T) []string
}

// e2eBackends: the zero-configuration default always; S3 + PostgreSQL when
// the test services run (scripts/test.sh starts them), and under CI always.
func e2eBackends(t *testing.T) []e2eBackend {
	bs := []e2eBackend{{"fs+sqlite", func(*testing.T) []string { return nil }}}
	s3, pg := os.Getenv("WHARF_TEST_S3_ENDPOINT"), os.Getenv("WHARF_TEST_POSTGRES_URL")
	if s3 == "" || pg == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must test S3 + PostgreSQL: WHARF_TEST_S3_ENDPOINT and WHARF_TEST_POSTGRES_URL are required")
		}
		return bs
	}
	return append(bs, e2eBackend{"s3+postgres", func(t *testing.T) []string { return s3PostgresEnv(t, s3, pg) }})
}

// e2eStorageBackends are e2eBackends and, once each, the other object
// stores wharf has drivers for, on SQLite: GCS (fake-gcs-server) and Azure
// Blob Storage (Azurite), when their emulators run (scripts/test.sh starts
// them), and under CI always. The conformance suite and the clients run
// on these; the rest of the suite is about more than storage.
func e2eStorageBackends(t *testing.T) []e2eBackend {
	bs := e2eBackends(t)
	if endpoint := os.Getenv("WHARF_TEST_GCS_ENDPOINT"); endpoint != "" {
		bs = append(bs, e2eBackend{"gcs+sqlite", func(*testing.T) []string {
			return []string{
				"WHARF_STORAGE_DRIVER=gcs",
				"WHARF_STORAGE_GCS_ENDPOINT=" + endpoint,
				"WHARF_STORAGE_GCS_BUCKET=" + os.Getenv("WHARF_TEST_GCS_BUCKET"),
				"WHARF_STORAGE_GCS_ANONYMOUS=true",
				"WHARF_STORAGE_GCS_PREFIX=e2e-" + randomHex(),
			}
		}})
	} else if os.Getenv("CI") != "" {
		t.Fatal("CI must test GCS: WHARF_TEST_GCS_ENDPOINT is required")
	}
	if endpoint := os.Getenv("WHARF_TEST_AZURE_ENDPOINT"); endpoint != "" {
		bs = append(bs, e2eBackend{"azure+sqlite", func(*testing.T) []string {
			return []string{
				"WHARF_STORAGE_DRIVER=azure",
				"WHARF_STORAGE_AZURE_ENDPOINT=" + endpoint,
				"WHARF_STORAGE_AZURE_ACCOUNT_NAME=" + os.Getenv("WHARF_TEST_AZURE_ACCOUNT_NAME"),
				"WHARF_STORAGE_AZURE_ACCOUNT_KEY=" + os.Getenv("WHARF_TEST_AZURE_ACCOUNT_KEY"),
				"WHARF_STORAGE_AZURE_CONTAINER=" + os.Getenv("WHARF_TEST_AZURE_CONTAINER"),
				"WHARF_STORAGE_AZURE_PREFIX=e2e-" + randomHex(),
			}
		}})
	} else if os.Getenv("CI") != "" {
		t.Fatal("CI must test Azure Blob Storage: WHARF_TEST_AZURE_ENDPOINT is required")
	}
	return bs
}

// s3PostgresEnv configures wharf for the test S3 server (its own prefix) and
// a fresh PostgreSQL database.
func s3PostgresEnv(t *testing.T, endpoint, admin string) []string {
	t.Helper()
	return []string{
		"WHARF_STORAGE_DRIVER=s3",
		"WHARF_STORAGE_S3_ENDPOINT=" + endpoint,
		"WHARF_STORAGE_S3_BUCKET=" + os.Getenv("WHARF_TEST_S3_BUCKET"),
		"WHARF_STORAGE_S3_ACCESS_KEY_ID=" + os.Getenv("WHARF_TEST_S3_ACCESS_KEY"),
		"WHARF_STORAGE_S3_SECRET_ACCESS_KEY=" + os.Getenv("WHARF_TEST_S3_SECRET_KEY"),
		"WHARF_STORAGE_S3_PATH_STYLE=true",
		"WHARF_STORAGE_S3_PREFIX=e2e-" + randomHex(),
		"WHARF_DATABASE_DRIVER=postgres",
		"WHARF_DATABASE_POSTGRES_URL=" + newDatabase(t, admin),
	}
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newDatabase creates an empty database, dropped when t ends.
func newDatabase(t *testing.T, admin string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to WHARF_TEST_POSTGRES_URL: %v", err)
	}
	defer conn.Close(ctx)
	name := "wharf_e2e_" + randomHex()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if conn, err := pgx.Connect(context.Background(), admin); err == nil {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)")
			conn.Close(context.Background())
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
