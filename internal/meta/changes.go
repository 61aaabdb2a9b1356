package meta

import "context"

// ChangeWatcher is implemented by stores shared by several processes (the
// PostgreSQL backend) that can tell one process about writes another made,
// so that caches of what a read returns can be dropped.
type ChangeWatcher interface {
	// WatchChanges calls fn with the name of every repository whose
	// manifests or tags another writer changed, after that writer
	// committed, until ctx is done; it then returns ctx's error. It calls
	// fn("") — drop everything — when it starts watching and after every
	// reconnection, because changes made while it was not watching are not
	// reported. Failures to reach the store are retried, not returned. fn
	// runs on one goroutine and should return quickly.
	WatchChanges(ctx context.Context, fn func(repo string)) error
}

// Leaser is implemented by stores that can grant a named lease held by at
// most one process of those sharing the store, for background jobs that
// must run once cluster-wide.
type Leaser interface {
	// TryLease takes the lease name if no one holds it and returns ok.
	// When another process holds it, ok is false and err nil. The lease is
	// held until release is called or the process (or its connection to
	// the store) dies; lost is closed if the lease is lost before release
	// (for instance the connection holding it broke), and the holder
	// should then stop what the lease protected.
	TryLease(ctx context.Context, name string) (lease Lease, ok bool, err error)
}

// Lease is a lease granted by a [Leaser].
type Lease interface {
	// Lost is closed when the lease is lost before Release.
	Lost() <-chan struct{}
	// Release gives the lease up. It is safe to call more than once.
	Release()
}
