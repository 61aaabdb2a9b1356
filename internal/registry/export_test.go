package registry

import "time"

// SetRetentionBatch sets the batch size of retention for a test and returns
// a function restoring it.
func SetRetentionBatch(n int) func() {
	old := retentionBatchSize
	retentionBatchSize = n
	return func() { retentionBatchSize = old }
}

// SetClock makes the registry read the time from now, for tests of
// decisions that lapse.
func SetClock(r *Registry, now func() time.Time) { r.now = now }
