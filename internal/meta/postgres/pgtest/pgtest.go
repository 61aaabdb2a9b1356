// Package pgtest gives tests a throwaway PostgreSQL database.
//
// The tests run against a real server named by WHARF_TEST_POSTGRES_URL, a
// URL of a superuser's connection to any database on it
// (scripts/start-postgres.sh starts one and prints it). Each call to
// Database creates a new, uniquely named database there and drops it when
// the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding the server's admin URL.
const EnvURL = "WHARF_TEST_POSTGRES_URL"

// AdminURL returns the URL in WHARF_TEST_POSTGRES_URL. When it is unset it
// skips t, or fails it under CI (env CI set), so that the PostgreSQL backend
// is never silently untested there.
func AdminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal(EnvURL + " is not set; CI must test the PostgreSQL backend (see scripts/start-postgres.sh)")
		}
		t.Skip(EnvURL + " is not set; eval \"$(scripts/start-postgres.sh /tmp/wharf-postgres)\" to run this test")
	}
	return u
}

// Database creates an empty database on the server at AdminURL(t) (so it
// skips or fails t as AdminURL does), drops it WITH (FORCE) when t ends,
// and returns its URL.
//
// The database is created from template0 with encoding UTF8, LC_COLLATE and
// LC_CTYPE "C", and ICU's en-US as its default collation where the server
// has ICU, which sorts "v1" before "V2": a query that forgot COLLATE "C"
// would list names in another order than SQLite. A server without ICU gets
// a plain CREATE DATABASE with its default collation instead.
func Database(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatal(EnvURL + " must be a postgres:// URL")
	}
	name := "wharf_test_" + strings.ToLower(rand.Text()[:12])

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'
		LOCALE_PROVIDER icu ICU_LOCALE 'en-US'`)
	if err != nil {
		t.Logf("no ICU database (%v); using the server's default collation", err)
		_, err = conn.Exec(ctx, `CREATE DATABASE `+name)
	}
	if err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
