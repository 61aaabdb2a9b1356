package jobs_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/jobs"
)

// TestBoard: the board says which jobs this process holds, and each one's
// runs, failures, last success and last error; the second scheduler,
// which does not hold the lease, shows the job as not held and never run.
func TestBoard(t *testing.T) {
	leaser := jobs.NewLocalLeaser()
	var n atomic.Int32
	flaky := jobs.Job{Name: "flaky", Every: 10 * time.Millisecond, Run: func(context.Context) error {
		if n.Add(1)%2 == 0 {
			return errors.New("boom")
		}
		return nil
	}}
	var a, b jobs.Board
	start(t, jobs.Options{Leaser: leaser, Jobs: []jobs.Job{flaky}, Board: &a})
	waitFor(t, "a failure and a success", func() bool {
		s := a.Statuses()
		return len(s) == 1 && s[0].Failures > 0 && s[0].Runs > s[0].Failures
	})
	start(t, jobs.Options{Leaser: leaser, Jobs: []jobs.Job{flaky}, Board: &b})
	waitFor(t, "the second board to list the job", func() bool { return len(b.Statuses()) == 1 })
	s := a.Statuses()[0]
	if s.Name != "flaky" || s.Every != 10*time.Millisecond || !s.Held || !s.Tried || s.LastError != "boom" || s.LastSuccess.IsZero() || s.LastFailure.IsZero() {
		t.Errorf("holder's status: %+v", s)
	}
	time.Sleep(30 * time.Millisecond)
	if s := b.Statuses()[0]; s.Held || !s.Tried || s.Runs != 0 || !s.LastStart.IsZero() {
		t.Errorf("the other process's status: %+v", s)
	}
	var none *jobs.Board
	if none.Statuses() != nil {
		t.Error("a nil board lists jobs")
	}
}
