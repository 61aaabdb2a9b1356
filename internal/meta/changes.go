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
