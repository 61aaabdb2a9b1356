package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/sqlstore"
)

var _ meta.ChangeWatcher = (*Store)(nil)

// changesChannel is the LISTEN/NOTIFY channel on which every transaction
// that changes a repository's manifests or tags announces the repository's
// name (see notifyChange).
const changesChannel = "wharf_changes"

// qNotify queues a notification on changesChannel. PostgreSQL delivers it
// only if the transaction commits, and once however many times the
// transaction queued the same payload.
const qNotify = `SELECT pg_notify($1, $2)`

// notifyChange is [sqlstore.Dialect.NotifyChange]: the transaction db
// tells the other replicas, when it commits, that what a manifest or tag
// read of repo returns may have changed.
func notifyChange(ctx context.Context, db sqlstore.DB, repo string) error {
	_, err := db.Exec(ctx, qNotify, changesChannel, repo)
	return err
}

// Reconnection delays of WatchChanges: from the first to the last, doubling.
const (
	watchRetryMin = 100 * time.Millisecond
	watchRetryMax = 5 * time.Second
)

// A listening connection that has been quiet for watchQuiet is pinged, and
// dropped if the ping takes over watchPingTimeout: a connection whose peer
// vanished without a word (a partition, a dead NAT entry) would otherwise
// wait forever while this replica's cache went stale. Variables so tests can
// shorten them.
var (
	watchQuiet       = 15 * time.Second
	watchPingTimeout = 5 * time.Second
)

// WatchChanges LISTENs on changesChannel on a connection of its own (not
// one of the pool's: a listening connection is held for as long as the
// watch lasts) and calls fn with every repository named. When the
// connection fails it reconnects, with a growing delay, and calls fn("")
// once listening again, since notifications sent in between are lost; it
// does the same when it first starts listening, for changes made before.
// A connection quiet for watchQuiet is pinged, so that one whose server
// vanished silently is noticed. It returns ctx's error when ctx is done.
func (s *Store) WatchChanges(ctx context.Context, fn func(repo string)) error {
	wait := watchRetryMin
	for {
		listening, err := s.listen(ctx, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if listening {
			wait = watchRetryMin // it worked for a while: start over quickly
		}
		s.watchLog.Warn("watching for changes by other replicas: reconnecting", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, watchRetryMax)
	}
}

// listen connects, LISTENs and delivers notifications to fn until the
// connection fails or ctx is done. listening reports whether it got as far
// as listening.
func (s *Store) listen(ctx context.Context, fn func(repo string)) (listening bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, unavailable(err)
	}
	defer closeConn(conn)
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return false, unavailable(err)
	}
	fn("")
	for {
		wctx, cancel := context.WithTimeout(ctx, watchQuiet)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// Quiet: make sure the connection is still there. A timeout
			// leaves a pgx connection usable.
			pctx, cancel := context.WithTimeout(ctx, watchPingTimeout)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("listening connection silent and not answering: %w", unavailable(err))
			}
		case err != nil:
			return true, unavailable(err)
		default:
			fn(n.Payload)
		}
	}
}
