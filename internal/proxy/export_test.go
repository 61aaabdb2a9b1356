package proxy

import "time"

// SetClaimTimes sets how often c touches its claims on fetching a blob and
// after how long another's claim is taken over, so that a test need not
// wait the real times.
func SetClaimTimes(c *Cache, touch, stale time.Duration) {
	c.claimTouch, c.claimStale = touch, stale
}

// SetChunk sets how many bytes of a blob c stores at a time, so that a
// test need not fetch the real size many times over to see a fill
// advance by chunks; the fills' memory window follows.
func SetChunk(c *Cache, n int64) { c.chunk, c.window = n, 2*n+blockSize }
