package jobs

import (
	"context"
	"sync"

	"github.com/wharf-dev/wharf/internal/meta"
)

// LocalLeaser grants leases within one process, for a store only one
// process uses (SQLite). Its leases are never lost.
type LocalLeaser struct {
	mu   sync.Mutex
	held map[string]bool
}

var _ meta.Leaser = (*LocalLeaser)(nil)

// NewLocalLeaser returns a LocalLeaser holding no lease.
func NewLocalLeaser() *LocalLeaser { return &LocalLeaser{held: make(map[string]bool)} }

// TryLease takes lease name if this process does not hold it already.
func (l *LocalLeaser) TryLease(ctx context.Context, name string) (meta.Lease, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[name] {
		return nil, false, nil
	}
	l.held[name] = true
	return &localLease{l: l, name: name}, true, nil
}

type localLease struct {
	l    *LocalLeaser
	name string
	once sync.Once
}

// Lost returns nil: a channel that is never closed.
func (*localLease) Lost() <-chan struct{} { return nil }

func (ll *localLease) Release() {
	ll.once.Do(func() {
		ll.l.mu.Lock()
		delete(ll.l.held, ll.name)
		ll.l.mu.Unlock()
	})
}
