package daemon

import (
	"time"

	"github.com/robfig/cron/v3"
)

// Cron is the production Scheduler: one robfig/cron instance for every job.
type Cron struct{ c *cron.Cron }

// NewCron returns a cron scheduler, not started; its ticks only queue cycles, so they never
// overlap a cycle.
func NewCron() *Cron { return &Cron{c: cron.New()} }

// Start starts the ticks.
func (s *Cron) Start() { s.c.Start() }

// Add schedules fire; a tick runs it in cron's goroutine, where it waits for the runner's loop.
func (s *Cron) Add(_ string, sched cron.Schedule, fire func()) (remove func(), next func() time.Time) {
	id := s.c.Schedule(sched, cron.FuncJob(fire))
	return func() { s.c.Remove(id) }, func() time.Time { return s.c.Entry(id).Next }
}

// Stop stops the scheduler.
func (s *Cron) Stop() { s.c.Stop() }
