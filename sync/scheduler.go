package sync

import (
	"context"
	"hash/fnv"
	"log/slog"
	"runtime/debug"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/leadsync/leadsync/config"
)

// offsetSchedule shifts a schedule by a fixed offset, so instances sharing
// a schedule do not all hit their vendors in the same second.
type offsetSchedule struct {
	inner  cron.Schedule
	offset time.Duration
}

func (s offsetSchedule) Next(t time.Time) time.Time {
	return s.inner.Next(t.Add(-s.offset)).Add(s.offset)
}

// instanceOffset is a deterministic offset for an instance: a hash of its
// name, below the schedule's interval (below 30 s for calendar schedules).
func instanceOffset(name string, sched cron.Schedule) time.Duration {
	span := 30 * time.Second
	if c, ok := sched.(cron.ConstantDelaySchedule); ok && c.Delay < span {
		span = c.Delay
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	steps := int64(span / (100 * time.Millisecond))
	if steps <= 1 {
		return 0
	}
	return time.Duration(int64(h.Sum32())%steps) * 100 * time.Millisecond
}

// skipIfRunning is cron's SkipIfStillRunning, plus a log line naming the
// instance and a metric: robfig's wrapper cannot say which job it skipped.
func (e *Engine) skipIfRunning(name string) cron.JobWrapper {
	return func(j cron.Job) cron.Job {
		var busy atomic.Bool
		return cron.FuncJob(func() {
			if !busy.CompareAndSwap(false, true) {
				e.metrics.skipped.WithLabelValues(name).Inc()
				e.setStatus(name, func(s *RunStatus) { s.Skipped++ })
				e.log.Warn("run skipped: the previous run is still going", "connector", name)
				return
			}
			defer busy.Store(false)
			j.Run()
		})
	}
}

type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}

// Run is the daemon: every source on its schedule, the pusher after each
// run and on its interval, until ctx is cancelled. Then it stops
// scheduling, lets in-flight work finish until the shutdown deadline,
// abandons what is left (the outbox and cursors make that safe), and returns.
func (e *Engine) Run(ctx context.Context) error {
	runCtx, abandon := context.WithCancel(context.Background())
	defer abandon()
	c := cron.New(cron.WithParser(config.CronParser), cron.WithLocation(time.UTC),
		cron.WithChain(cron.Recover(cronLogger{e.log})))
	var first gosync.WaitGroup
	var firstTimers []*time.Timer
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	for _, name := range e.order {
		spec := e.cfg.Connectors[name].Schedule
		sched, err := config.ParseSchedule(spec)
		if err != nil {
			return err
		}
		off := instanceOffset(name, sched)
		job := e.skipIfRunning(name)(cron.FuncJob(func() {
			e.RunSource(runCtx, name, nil)
			poke()
		}))
		c.Schedule(offsetSchedule{inner: sched, offset: off}, job)
		e.log.Info("scheduled", "connector", name, "schedule", spec, "offset", off.String())
		// A first run at start (after the instance's offset, folded into
		// three seconds): a restarted daemon catches up at once instead of
		// waiting a whole interval.
		first.Add(1)
		timer := time.AfterFunc(off%(3*time.Second), func() {
			defer first.Done()
			if runCtx.Err() == nil {
				job.Run()
			}
		})
		firstTimers = append(firstTimers, timer)
	}
	pushDone := make(chan struct{})
	stopPush := make(chan struct{})
	go func() {
		defer close(pushDone)
		e.pushLoop(runCtx, stopPush, kick)
	}()
	c.Start()
	e.running.Store(true)
	e.log.Info("leadsync running", "sources", len(e.order), "target", e.cfg.Target)
	poke() // drain what a previous process left in the outbox

	<-ctx.Done()
	e.running.Store(false)
	deadline := time.Duration(e.cfg.ShutdownTimeout)
	e.log.Info("shutting down: no new runs; waiting for in-flight work", "deadline", deadline.String())
	stopped := c.Stop()
	close(stopPush) // the drain in progress, if any, may finish
	for _, t := range firstTimers {
		if t.Stop() {
			first.Done() // never started
		}
	}
	allDone := make(chan struct{})
	go func() {
		<-stopped.Done()
		first.Wait()
		<-pushDone
		close(allDone)
	}()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	select {
	case <-allDone:
	case <-timer.C:
		e.log.Warn("shutdown deadline reached: abandoning in-flight work (it resumes at the next start)")
	}
	abandon()
	<-allDone
	e.log.Info("stopped")
	return nil
}

func (e *Engine) pushLoop(ctx context.Context, stop, kick <-chan struct{}) {
	interval := time.Duration(e.cfg.Push.Interval)
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-kick:
		case <-t.C:
		}
		_, next, err := e.Drain(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Error("push failed", "connector", e.cfg.Target, "err", err)
		}
		// The daemon idles between runs: give the heap a run needed back to
		// the system now (one collection, about a millisecond at idle
		// sizes) rather than keep it resident until the runtime's
		// scavenger returns it bit by bit (a run at 100,000 persons peaks
		// at ~40 MB of heap; idle needs under 10).
		debug.FreeOSMemory()
		wait := interval
		if !next.IsZero() {
			wait = min(max(next.Sub(e.now()), time.Second), interval)
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}
