package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/meta"
)

// TestHousekeepingJob checks that the server runs housekeeping by itself as
// a background job: a revoked token past its retention disappears without
// anyone calling Housekeep, and a live one stays.
func TestHousekeepingJob(t *testing.T) {
	for _, b := range backends(t) {
		if !strings.HasPrefix(b.name, "fs+") {
			continue // the job touches only metadata
		}
		t.Run(b.name, func(t *testing.T) {
			ar := newAuthRegistryOn(t, b, func(c *config.Config) {
				c.Housekeeping.Interval = 20 * time.Millisecond
				c.Housekeeping.DeadTokenRetention = 0
			})
			ctx := context.Background()
			ar.user("alice", false)
			deadID, _ := ar.token(meta.TokenPersonal, "alice", "dead")
			liveID, _ := ar.token(meta.TokenPersonal, "alice", "live")
			if err := ar.store.RevokeToken(ctx, deadID, time.Now()); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, err := ar.store.Token(ctx, deadID); err != nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the revoked token is still there: housekeeping did not run")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if _, err := ar.store.Token(ctx, liveID); err != nil {
				t.Errorf("live token deleted: %v", err)
			}
		})
	}
}
