package vulndb

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/wharf-dev/wharf/internal/scan/osv"
)

// Live keeps the current bundle loaded. Refresh, called on a timer (and
// after an import), loads a new bundle when the pointer has moved; Index
// never blocks and returns the last one loaded. It is safe for concurrent
// use.
type Live struct {
	bundles Bundles
	pointer Pointer
	cur     atomic.Pointer[loaded]
	mu      sync.Mutex // one Refresh at a time
}

type loaded struct {
	ref   Ref
	index *osv.Index
}

// NewLive returns a Live that has loaded nothing yet.
func NewLive(b Bundles, p Pointer) *Live { return &Live{bundles: b, pointer: p} }

// Index returns the loaded index and its pointer, or false before the first
// successful Refresh.
func (l *Live) Index() (*osv.Index, Ref, bool) {
	c := l.cur.Load()
	if c == nil {
		return nil, Ref{}, false
	}
	return c.index, c.ref, true
}

// Refresh loads the current bundle if it is not the one loaded, and reports
// whether it did. On error the previous index stays in use.
func (l *Live) Refresh(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ref, err := l.pointer.Current(ctx)
	if err != nil {
		return false, err
	}
	if c := l.cur.Load(); c != nil && c.ref.Digest == ref.Digest {
		return false, nil
	}
	rc, err := l.bundles.OpenBundle(ctx, ref.Digest)
	if err != nil {
		return false, fmt.Errorf("open vulnerability bundle %s: %w", ref.Digest, err)
	}
	defer rc.Close()
	_, advs, err := ReadBundle(rc, ref.Digest)
	if err != nil {
		return false, fmt.Errorf("load vulnerability bundle %s: %w", ref.Digest, err)
	}
	l.cur.Store(&loaded{ref: ref, index: osv.NewIndex(advs)})
	return true, nil
}
