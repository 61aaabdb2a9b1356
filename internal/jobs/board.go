package jobs

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Status is what this process knows of a job: whether it holds the job's
// lease (a replica that does not runs nothing of it), and its last runs
// here.
type Status struct {
	Name  string
	Every time.Duration
	// Held: this process holds the job's lease and runs it. Tried: it
	// has tried to take the lease (a process waits up to a tenth of the
	// interval before its first try); not held after a try, another
	// process holds it.
	Held, Tried bool
	Running     bool
	// Runs and Failures count the runs since this process started.
	Runs, Failures int64
	LastStart      time.Time
	LastSuccess    time.Time
	LastFailure    time.Time
	// LastError is the error of the last failed run.
	LastError    string
	LastDuration time.Duration
}

// Board keeps the [Status] of every job [Run] runs, for health pages. The
// zero Board is ready to use; it is safe for concurrent use, and a nil
// Board records nothing.
type Board struct {
	mu   sync.Mutex
	jobs map[string]*Status
}

// Statuses returns the jobs' statuses, sorted by name.
func (b *Board) Statuses() []Status {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Status, 0, len(b.jobs))
	for _, s := range b.jobs {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// change applies f to job j's status.
func (b *Board) change(j Job, f func(*Status)) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.jobs == nil {
		b.jobs = map[string]*Status{}
	}
	s := b.jobs[j.Name]
	if s == nil {
		s = &Status{Name: j.Name}
		b.jobs[j.Name] = s
	}
	s.Every = j.Every
	f(s)
}

func (b *Board) add(j Job)             { b.change(j, func(*Status) {}) }
func (b *Board) held(j Job, held bool) { b.change(j, func(s *Status) { s.Held, s.Tried = held, true }) }

func (b *Board) started(j Job, at time.Time) {
	b.change(j, func(s *Status) { s.Running, s.LastStart = true, at })
}

// ended records a run that took d and ended with err; a run stopped by
// its context (cancelled, not failed) counts as neither.
func (b *Board) ended(j Job, d time.Duration, err error, stopped bool) {
	b.change(j, func(s *Status) {
		s.Running = false
		if stopped {
			return
		}
		s.Runs++
		s.LastDuration = d
		if err != nil {
			s.Failures++
			s.LastFailure, s.LastError = s.LastStart.Add(d), err.Error()
			return
		}
		s.LastSuccess = s.LastStart.Add(d)
	})
}
