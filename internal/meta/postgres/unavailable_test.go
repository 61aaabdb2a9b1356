package postgres

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
)

// TestDroppedConnectionIsUnavailable terminates the Store's connection
// under it, as a server restart or failover does: the next call must fail
// with ErrUnavailable, and the one after succeed on a new connection. The
// pool's liveness ping, which would hide the dead connection after a
// second idle, is off, so the dead connection is used for sure.
func TestDroppedConnectionIsUnavailable(t *testing.T) {
	u := pgtest.Database(t)
	openStore(t, u) // migrates
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := storeOn(pool, nil)
	if _, err := s.Tag(ctx, "r", "t"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Tag before: %v, want ErrNotFound", err)
	}

	admin, err := pgx.Connect(ctx, pgtest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	db := cfg.ConnConfig.Database
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, db); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backends of %s still there", n, db)
		}
	}

	if _, err := s.Tag(ctx, "r", "t"); !errors.Is(err, meta.ErrUnavailable) {
		t.Fatalf("Tag on a dropped connection: %v, want ErrUnavailable", err)
	}
	if _, err := s.Tag(ctx, "r", "t"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Tag after: %v, want ErrNotFound from a new connection", err)
	}
	err = s.Update(ctx, func(tx meta.Tx) error { return tx.CreateUpload(ctx, meta.Upload{ID: "u", Repository: "r"}) })
	if err != nil {
		t.Fatalf("Update after: %v", err)
	}
}

// TestUnavailableIsOnlyConnectionFailures: a server that is not there is
// unavailable; one that refuses the login or the statement is not.
func TestUnavailableIsOnlyConnectionFailures(t *testing.T) {
	u := pgtest.Database(t)
	ctx := context.Background()
	ping := func(t *testing.T, u string) error {
		pool, err := pgxpool.New(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		return storeOn(pool, nil).Ping(ctx)
	}

	t.Run("nothing listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if err := ping(t, "postgres://wharf:wharf@"+addr+"/postgres?sslmode=disable&connect_timeout=5"); !errors.Is(err, meta.ErrUnavailable) {
			t.Fatalf("Ping: %v, want ErrUnavailable", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		bad, _ := url.Parse(u)
		bad.User = url.UserPassword(bad.User.Username(), "not-the-password")
		err := ping(t, bad.String())
		if err == nil || errors.Is(err, meta.ErrUnavailable) {
			t.Fatalf("Ping: %v, want an error that is not ErrUnavailable", err)
		}
	})
	s := openStore(t, u)
	for _, sql := range []string{
		`SELECT 1/0`,
		`SELECT no_such_column FROM uploads`,
		`CREATE TEMP TABLE dup (x int PRIMARY KEY); INSERT INTO dup VALUES (1), (1)`,
	} {
		t.Run(strings.Fields(sql)[0]+" "+strings.Fields(sql)[1], func(t *testing.T) {
			_, err := s.pool.Exec(ctx, sql)
			if err == nil || errors.Is(unavailable(err), meta.ErrUnavailable) {
				t.Fatalf("%s: %v, want an error that is not ErrUnavailable", sql, unavailable(err))
			}
		})
	}
}
