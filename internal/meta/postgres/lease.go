package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wharf-dev/wharf/internal/meta"
)

var _ meta.Leaser = (*Store)(nil)

// leaseClass is the first key of the two-key session advisory locks that
// are leases: pg_try_advisory_lock(leaseClass, hashtext(name)). Two-key
// locks never collide with the one-key migration lock.
const leaseClass = 0x77686172 // "whar"

// leaseCheckEvery is how often a held lease's connection is checked, so
// that a lease whose connection broke is reported lost.
const leaseCheckEvery = 2 * time.Second

// TryLease takes a session advisory lock on a connection of its own, held
// for as long as the lease: if this process dies or its connection breaks,
// PostgreSQL releases the lock and another replica's TryLease succeeds.
// Names hash to 32 bits; two names that collide share one lease, which
// only serialises them.
//
// Were this process's machine to vanish without closing the connection (power
// loss, a partition), PostgreSQL would hold the lock until it noticed the
// connection dead, by default only after two hours of TCP silence; the lease
// connection asks the server to probe it after 5 s of silence, every 5 s, 3
// times, so the lock is freed within about 20 s.
func (s *Store) TryLease(ctx context.Context, name string) (meta.Lease, bool, error) {
	conn, err := pgx.ConnectConfig(ctx, leaseConnConfig(s.pool.Config().ConnConfig))
	if err != nil {
		return nil, false, fmt.Errorf("postgres: lease %s: %w", name, unavailable(err))
	}
	var ok bool
	err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, leaseClass, name).Scan(&ok)
	if err != nil || !ok {
		closeConn(conn)
		if err != nil {
			return nil, false, fmt.Errorf("postgres: lease %s: %w", name, unavailable(err))
		}
		return nil, false, nil
	}
	l := &lease{name: name, lost: make(chan struct{}), release: make(chan struct{}), done: make(chan struct{})}
	go l.hold(conn)
	return l, true, nil
}

// leaseConnConfig is base with the server-side TCP keepalive settings of a
// lease connection.
func leaseConnConfig(base *pgx.ConnConfig) *pgx.ConnConfig {
	cfg := base.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["tcp_keepalives_idle"] = "5"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "5"
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	return cfg
}

// lease is a held advisory lock; its goroutine owns the connection.
type lease struct {
	name    string
	lost    chan struct{}
	release chan struct{}
	done    chan struct{}
	once    sync.Once
}

func (l *lease) Lost() <-chan struct{} { return l.lost }

// Release closes the connection, which releases the lock, and waits for it.
func (l *lease) Release() {
	l.once.Do(func() { close(l.release) })
	<-l.done
}

// hold pings conn until Release; if a ping fails it closes lost and the
// connection at once. Release unlocks before it closes the connection:
// closing alone frees the lock only once the server's backend has exited,
// a moment after Release returns, and another TryLease in that moment
// would find the lease still held.
func (l *lease) hold(conn *pgx.Conn) {
	defer close(l.done)
	defer closeConn(conn)
	t := time.NewTicker(leaseCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-l.release:
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext($2))`, leaseClass, l.name)
			cancel()
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), leaseCheckEvery)
			err := conn.Ping(ctx)
			cancel()
			if err != nil {
				close(l.lost)
				return
			}
		}
	}
}

// closeConn closes conn, waiting at most a second for the server.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
