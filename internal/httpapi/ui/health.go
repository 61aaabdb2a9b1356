package ui

import "time"

// JobStatus is what this replica knows of a background job, for the
// administration page's health section.
type JobStatus struct {
	Name  string
	Every time.Duration
	// Held: this replica holds the job's lease and runs it; another
	// replica runs a job this one does not hold.
	Held bool
	// Waiting: this replica has not tried to take the lease yet.
	Waiting  bool
	Running  bool
	Runs     int64
	Failures int64
	// LastSuccess and LastFailure are zero when no run here ended so.
	LastSuccess  time.Time
	LastFailure  time.Time
	LastError    string
	LastDuration time.Duration
}

// Failing reports whether the job's last run here failed.
func (j JobStatus) Failing() bool {
	return !j.LastFailure.IsZero() && j.LastFailure.After(j.LastSuccess)
}

// jobsHealth reads the jobs' statuses and the last garbage collection this
// replica ran on its schedule.
func (h *Handler) jobsHealth() ([]JobStatus, time.Time) {
	if h.opts.Jobs == nil {
		return nil, time.Time{}
	}
	js := h.opts.Jobs()
	var lastGC time.Time
	for _, j := range js {
		if j.Name == "gc" {
			lastGC = j.LastSuccess
		}
	}
	return js, lastGC
}
