package registry

// SetRetentionBatch sets the batch size of retention for a test and returns
// a function restoring it.
func SetRetentionBatch(n int) func() {
	old := retentionBatchSize
	retentionBatchSize = n
	return func() { retentionBatchSize = old }
}
