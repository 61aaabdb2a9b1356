package meta

import "context"

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
