package sqlstore

import (
	"context"

	"github.com/wharf-dev/wharf/internal/meta"
)

// qEnabledAdmins reads, and on PostgreSQL locks, the enabled system
// administrators. Under READ COMMITTED a second transaction that wants the
// same rows waits for the first to commit and then rereads them, so it sees
// an administrator the first demoted as demoted.
const qEnabledAdmins = `SELECT name FROM users WHERE admin AND NOT disabled ORDER BY name FOR UPDATE`

// The queries of this file, for the backends to prepare.
var _ = prepared(
	qEnabledAdmins,
)

// UpdateAccess runs fn in one write transaction; see [meta.Access]. The
// [meta.AccessTx] it is given is the Store's own access methods, bound to
// the transaction: every read and write of fn goes through it, and the
// events it appends commit with it.
func (s *Store) UpdateAccess(ctx context.Context, fn func(meta.AccessTx) error) error {
	return s.transact(ctx, func(db DB) error {
		in := &Store{Reads: Reads{db: db, d: s.d}, write: db,
			transact: func(_ context.Context, fn func(DB) error) error { return fn(db) }}
		return fn(accessTx{Store: in, tx: &Tx{Reads: in.Reads}})
	})
}

// accessTx is a [meta.AccessTx]: a Store whose reads and writes are one
// transaction's.
type accessTx struct {
	*Store
	tx *Tx
}

var _ meta.AccessTx = accessTx{}

// AppendEvents records the events of the change in its transaction.
func (a accessTx) AppendEvents(ctx context.Context, events ...meta.Event) error {
	return a.tx.AppendEvents(ctx, events...)
}

// EnabledAdmins returns the names of the system administrators who are not
// disabled, sorted, locking their rows until the transaction ends.
func (a accessTx) EnabledAdmins(ctx context.Context) ([]string, error) {
	names, err := collect(ctx, a.db, func(row Row) (string, error) {
		var name string
		err := row.Scan(&name)
		return name, err
	}, qEnabledAdmins)
	if err != nil {
		return nil, a.wrap(err, "enabled administrators")
	}
	return names, nil
}
