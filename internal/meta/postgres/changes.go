package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wharf-dev/wharf/internal/meta"
)

var _ meta.ChangeWatcher = (*Store)(nil)

// changesChannel is the LISTEN/NOTIFY channel on which every transaction
// that changes a repository's manifests or tags announces the repository's
// name (see tx.notify).
const changesChannel = "wharf_changes"

// Reconnection delays of WatchChanges: from the first to the last, doubling.
const (
	watchRetryMin = 100 * time.Millisecond
	watchRetryMax = 5 * time.Second
)

// WatchChanges LISTENs on changesChannel on a connection of its own (not
// one of the pool's: a listening connection is held for as long as the
// watch lasts) and calls fn with every repository named. When the
// connection fails it reconnects, with a growing delay, and calls fn("")
// once listening again, since notifications sent in between are lost; it
// does the same when it first starts listening, for changes made before.
// It returns ctx's error when ctx is done.
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
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return true, ctx.Err()
			}
			return true, unavailable(err)
		}
		fn(n.Payload)
	}
}
