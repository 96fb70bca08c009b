// Package sync is leadsync's engine: the scheduler, source runs (pull,
// stage, checkpoint), identity resolution and merge, and the pusher that
// drains the outbox into the target. It never names a vendor: connectors
// come from the registry in package connectors.
package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/leadsync/leadsync/config"
	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/lead"
	"github.com/leadsync/leadsync/state"
)

// Engine runs sources into the store and the outbox into the target.
type Engine struct {
	cfg     *config.Config
	store   *state.Store
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time

	sources map[string]connectors.Source
	order   []string // source instance names, in configuration order
	target  connectors.Target
	stage   *stager
	push    *pusher

	runSeq   atomic.Int64
	mu       gosync.Mutex
	status   map[string]*RunStatus
	running  atomic.Bool // the scheduler is running (readiness)
	pushLock gosync.Mutex
	line     *stageLine // the sources' pages, in the order they stage (stagePipe)
}

// RunStatus is what /status shows of one source instance.
type RunStatus struct {
	Instance   string     `json:"instance"`
	Type       string     `json:"type"`
	Schedule   string     `json:"schedule,omitempty"`
	LastStart  time.Time  `json:"last_start,omitzero"`
	LastEnd    time.Time  `json:"last_end,omitzero"`
	LastResult string     `json:"last_result,omitempty"` // ok, error, canceled
	LastError  string     `json:"last_error,omitempty"`
	Running    bool       `json:"running"`
	Cursor     string     `json:"cursor,omitempty"`
	Counts     StageStats `json:"counts"`
	Pages      int        `json:"pages"`
	Problems   int        `json:"problems"`
	Runs       int        `json:"runs"`
	Skipped    int        `json:"skipped"`
}

// Options are the engine's collaborators; zero values get defaults.
type Options struct {
	Logger  *slog.Logger
	Metrics *Metrics
	Now     func() time.Time
}

// New builds every configured instance through the registry.
func New(cfg *config.Config, st *state.Store, o Options) (*Engine, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(cfg.Target)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Engine{cfg: cfg, store: st, log: o.Logger, metrics: o.Metrics, now: o.Now,
		sources: map[string]connectors.Source{}, status: map[string]*RunStatus{}, line: newStageLine()}
	for _, name := range cfg.Order {
		cc := cfg.Connectors[name]
		t, ok := connectors.Lookup(cc.Type)
		if !ok {
			return nil, fmt.Errorf("connectors.%s.type: unknown type %q", name, cc.Type)
		}
		in := cfg.Instance(name, func(in *connectors.Instance) {
			in.Logger = o.Logger.With("connector", name)
			in.Observer = o.Metrics
			in.Metrics = o.Metrics
			in.Clock = o.Now
		})
		if name == cfg.Target {
			tg, err := t.NewTarget(in)
			if err != nil {
				return nil, fmt.Errorf("connectors.%s: %w", name, err)
			}
			e.target = tg
			if cc.Schedule == "" {
				continue // the target is polled as a source only when it has a schedule
			}
		}
		if t.NewSource == nil {
			return nil, fmt.Errorf("connectors.%s: type %s cannot be a source", name, cc.Type)
		}
		src, err := t.NewSource(in)
		if err != nil {
			return nil, fmt.Errorf("connectors.%s: %w", name, err)
		}
		e.sources[name] = src
		e.order = append(e.order, name)
		e.status[name] = &RunStatus{Instance: name, Type: cc.Type, Schedule: cc.Schedule}
	}
	if e.target == nil {
		return nil, fmt.Errorf("target: %q is not a configured connector instance", cfg.Target)
	}
	e.stage = &stager{
		surv: NewSurvivorship(cfg),
		now:  o.Now,
		conflict: func(c state.Conflict) {
			e.metrics.conflicts.Inc()
			e.log.Warn("merge conflict: a record matches two persons with different CRM ids; kept apart",
				"record", c.Record, "persons", c.Persons)
		},
	}
	e.push = &pusher{st: st, stage: e.stage, target: e.target, name: cfg.Target,
		concurrency: cfg.Push.Concurrency, log: o.Logger, metrics: o.Metrics, now: o.Now,
		maxBackoff: time.Duration(cfg.Push.MaxBackoff)}
	return e, nil
}

// Open opens the configured state file and builds the engine over it. The
// caller closes the store when done with both.
func Open(cfg *config.Config, o Options) (*Engine, *state.Store, error) {
	st, err := state.Open(cfg.State.Path, time.Duration(cfg.State.LockTimeout))
	if err != nil {
		return nil, nil, err
	}
	e, err := New(cfg, st, o)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return e, st, nil
}

// Sources lists the source instances in configuration order.
func (e *Engine) Sources() []string { return slices.Clone(e.order) }

// RunResult is one source run's outcome.
type RunResult struct {
	Instance string
	Run      int64
	Stats    StageStats
	Pages    int
	Restaged int // pages staged a second time (the store changed while they were staged ahead)
	Problems int
	Duration time.Duration
	Err      error
}

// Progress receives one call per staged page (for the terminal progress of `once`).
type Progress func(instance string, pages int, stats StageStats)

// RunSource pulls one source instance from its cursor and stages every page.
func (e *Engine) RunSource(ctx context.Context, name string, progress Progress) RunResult {
	src, ok := e.sources[name]
	res := RunResult{Instance: name, Run: e.runSeq.Add(1)}
	if !ok {
		res.Err = fmt.Errorf("no source instance %q", name)
		return res
	}
	log := e.log.With("connector", name, "run", res.Run)
	start := e.now()
	e.setStatus(name, func(s *RunStatus) { s.Running, s.LastStart = true, start })
	log.Info("run started")

	var cursor connectors.Cursor
	if err := e.store.View(func(tx *state.Tx) error {
		c, ok, err := tx.Cursor(name)
		if ok {
			cursor = c.Cursor
		}
		return err
	}); err != nil {
		res.Err = err
	}
	if res.Err == nil {
		// Each page is staged while the source fetches and decodes the next
		// one (stagePipe, on the engine's line shared by every source): an
		// emit returns once fewer than two pages are in flight, or with the
		// error of this source's failed page, which stops the pull. The
		// pages in flight when Pull returns are waited for.
		pipe := stagePipe{line: e.line}
		pullErr := src.Pull(ctx, cursor, func(p connectors.Page) error {
			// Preparing the page (hashing and encoding its records) is done
			// here, before emit waits for the page in flight.
			pp := e.stage.prepare(name, p)
			var sp *speculatedPage
			return pipe.emit(func(parents []*state.Overlay) *state.Overlay {
				sp = e.stage.speculate(e.store, pp, parents)
				return sp.ov
			}, func() error { return e.stagePage(sp, &res, log, progress) })
		})
		switch err := pipe.wait(); {
		case err == nil:
		case pullErr == nil:
			pullErr = err
		default: // Pull failed on its own while the last page was being staged
			pullErr = errors.Join(pullErr, err)
		}
		res.Err = pullErr
	}
	e.releaseMemory()
	end := e.now()
	res.Duration = end.Sub(start)
	result := "ok"
	switch {
	case res.Err != nil && ctx.Err() != nil:
		result = "canceled"
	case res.Err != nil:
		result = "error"
	}
	e.metrics.runs.WithLabelValues(name, result).Inc()
	if result == "ok" {
		e.metrics.lastSuccess.WithLabelValues(name).Set(float64(end.Unix()))
	}
	e.setStatus(name, func(s *RunStatus) {
		s.Running, s.LastEnd, s.LastResult, s.Runs = false, end, result, s.Runs+1
		s.Counts, s.Pages, s.Problems, s.LastError = res.Stats, res.Pages, res.Problems, ""
		if res.Err != nil {
			s.LastError = res.Err.Error()
		}
	})
	attrs := []any{"result", result, "pages", res.Pages, "restaged", res.Restaged, "records", res.Stats.Records, "changed", res.Stats.Changed,
		"unchanged", res.Stats.Unchanged, "enqueued", res.Stats.Enqueued, "problems", res.Problems,
		"duration", res.Duration.Round(time.Millisecond).String()}
	if res.Err != nil {
		log.Error("run failed", append(attrs, "err", res.Err)...)
	} else {
		log.Info("run finished", attrs...)
	}
	return res
}

// stagePage commits one speculated page of a source run and accounts for
// it in res. It runs in stagePipe's goroutines, one page at a time, in order.
func (e *Engine) stagePage(sp *speculatedPage, res *RunResult, log *slog.Logger, progress Progress) error {
	name, p := sp.pp.instance, sp.pp.page
	st, rerun, err := e.stage.commitSpeculated(e.store, sp)
	if err != nil {
		return fmt.Errorf("staging %s: %w", p.Label, err)
	}
	if rerun {
		res.Restaged++
		e.metrics.restaged.WithLabelValues(name).Inc()
		log.Debug("page staged again: the store changed while it was staged ahead", "page", p.Label)
	}
	res.Pages++
	res.Problems += len(p.Problems)
	for _, pr := range p.Problems {
		log.Debug("record problem", "page", p.Label, "problem", pr)
	}
	res.Stats.add(st)
	e.metrics.pages.WithLabelValues(name).Inc()
	e.metrics.records.WithLabelValues(name, "changed").Add(float64(st.Changed))
	e.metrics.records.WithLabelValues(name, "unchanged").Add(float64(st.Unchanged))
	e.metrics.records.WithLabelValues(name, "skipped").Add(float64(st.Skipped))
	e.metrics.problems.WithLabelValues(name).Add(float64(len(p.Problems)))
	if p.Cursor != nil {
		e.metrics.cursorAge.WithLabelValues(name).Set(0)
	}
	log.Debug("page staged", "page", p.Label, "records", st.Records, "changed", st.Changed, "enqueued", st.Enqueued)
	if _, err := e.store.ReleaseMemoryOver(releaseBudget); err != nil {
		log.Debug("releasing the state file's pages", "err", err)
	}
	if progress != nil {
		progress(name, res.Pages, res.Stats)
	}
	return nil
}

// stagePipe stages a source's pages behind its emits in two steps, so
// that the source fetches and decodes page N+2 while page N+1 is staged
// against a snapshot (speculated: state.Speculate) and page N commits (and
// waits for its fsyncs). emit waits until fewer than two pages are in
// flight, then starts the page in a goroutine, which speculates it once
// the previous page's speculation is over (the source goes on decoding
// meanwhile, and the speculations, the pipe's longest step, run back to
// back) and commits it once the previous page's commit is over. Page order
// is kept: a page commits only after every page before it, and not at all
// after a failed page of its own source, so a cursor still moves only in
// its own page's transaction, never ahead of what is stored. emit returns
// the source's first failed page's error, once known, without starting its
// page: a failed page stops the pull within two emits (and every emit after
// it returns the same error, even from a source that broke its contract
// and went on); wait returns once every page of the source is done, with
// its first error.
//
// A page's speculation reads through the overlays of the pages before it
// that are not committed yet (their parents): state.Apply tells whether the
// speculation still holds when its turn comes, and commit runs the page
// again in a plain transaction when it does not.
//
// The sources of one engine share one line of pages (stageLine): a page of
// one source is speculated through the uncommitted pages of the others, so
// that sources pulled at the same time (as in `once`) do not make each
// other's speculations stale. Each with a line of its own, a commit of one
// made the other's page in flight stale: in a first `once` of 100,000
// persons, 1,236 of 1,750 pages were staged twice, speculated then again in
// a plain transaction. Two pages in flight are held in memory, whatever the
// number of sources.
type stagePipe struct {
	line *stageLine // nil until the first emit: a line of the pipe's own
	last *pipePage  // the page emitted last; nil before the first
	err  error      // the source's first page error, under line.mu: nothing of it is committed after it
}

// stageLine is the order in which the pages of every source of an engine
// are speculated and committed.
type stageLine struct {
	slots chan struct{} // a slot per page in flight (pipeDepth)

	mu          gosync.Mutex
	tail        *pipePage   // the page emitted last, of any source, until it is done
	uncommitted []*pipePage // speculated, not yet committed, oldest first
	// recovering: the last page committed was not applied as speculated
	// (it was staged again). The page after it read through its overlay
	// and will be staged again too; a page emitted now waits for the
	// page before it to commit before it speculates, so that one stale
	// overlay does not make every page after it stale in turn.
	recovering bool
}

// pipeDepth is how many pages may be in flight on a line: one speculated
// while the one before commits. Three were tried twice (fourth round, and
// the session of 2026-12-03, sixth): no faster, and the commits slowed
// under the busier cores (PERFORMANCE.md §1).
const pipeDepth = 2

func newStageLine() *stageLine {
	return &stageLine{slots: make(chan struct{}, pipeDepth)}
}

// pipePage is one page in the pipe.
type pipePage struct {
	pipe     *stagePipe // the source's run it belongs to
	ov       *state.Overlay
	specDone chan struct{} // closed when the speculation is over (ov set)
	done     chan struct{} // closed when the page is committed or has failed
	err      error         // the page's error, set before done is closed
}

// emit starts a page: spec (nil: none) runs first, once the page before is
// speculated, given the overlays of the pages not yet committed, newest
// first, and returns the page's overlay; commit runs once the page before
// has committed.
func (p *stagePipe) emit(spec func(parents []*state.Overlay) *state.Overlay, commit func() error) error {
	if p.line == nil {
		p.line = newStageLine()
	}
	l := p.line
	l.slots <- struct{}{} // at most pipeDepth pages in flight
	l.mu.Lock()
	if err := p.err; err != nil {
		l.mu.Unlock()
		<-l.slots
		return err
	}
	prev := l.tail
	pg := &pipePage{pipe: p, specDone: make(chan struct{}), done: make(chan struct{})}
	l.tail, p.last = pg, pg
	l.mu.Unlock()
	go l.run(pg, prev, spec, commit)
	return nil
}

// parents waits for the speculation of the page before pg (and for its
// commit, when speculating through it would be in vain), then returns the
// overlays of the pages not yet committed, newest first.
func (l *stageLine) parents(prev *pipePage) []*state.Overlay {
	if prev != nil {
		<-prev.specDone
		l.mu.Lock()
		wait := l.recovering || (prev.ov != nil && prev.ov.Void())
		l.mu.Unlock()
		if wait {
			<-prev.done
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var parents []*state.Overlay
	for i := len(l.uncommitted) - 1; i >= 0; i-- {
		if ov := l.uncommitted[i].ov; ov != nil {
			parents = append(parents, ov)
		}
	}
	return parents
}

func (l *stageLine) run(pg, prev *pipePage, spec func([]*state.Overlay) *state.Overlay, commit func() error) {
	specDone := false
	defer func() {
		// A panic here would not reach the scheduler's recovery, which
		// guards only the run's own goroutine: it is the page's failure
		// instead of the end of the process.
		if r := recover(); r != nil {
			pg.err = fmt.Errorf("panic while staging: %v\n%s", r, debug.Stack())
			if !specDone {
				close(pg.specDone)
			}
			if prev != nil {
				<-prev.done // keep the order: a page is done after the one before
			}
			l.finish(pg)
		}
	}()
	if spec != nil {
		pg.ov = spec(l.parents(prev))
	}
	l.mu.Lock()
	l.uncommitted = append(l.uncommitted, pg)
	l.mu.Unlock()
	specDone = true
	close(pg.specDone)
	if prev != nil {
		<-prev.done
	}
	// Only a failure of the page's own source stops it. A page of another
	// source that failed never applied its overlay: a speculation through
	// it is stale, and its page is staged again (state.Apply).
	l.mu.Lock()
	err := pg.pipe.err
	l.mu.Unlock()
	if err != nil {
		pg.err = err
		l.finish(pg)
		return
	}
	pg.err = commit()
	l.finish(pg)
}

// finish takes a page out of the uncommitted ones (its commit is over, or it
// never comes), records its error for its source, tells the next page and
// frees its slot. The line lets go of its last page once it is done, so that
// an idle engine holds no page's writes: the next page, with nothing before
// it in flight, has nothing to wait for.
func (l *stageLine) finish(pg *pipePage) {
	l.mu.Lock()
	l.uncommitted = slices.DeleteFunc(l.uncommitted, func(x *pipePage) bool { return x == pg })
	if l.tail == pg {
		l.tail = nil
	}
	l.recovering = pg.ov != nil && !pg.ov.Applied()
	if pg.err != nil && pg.pipe.err == nil {
		pg.pipe.err = pg.err
	}
	l.mu.Unlock()
	close(pg.done)
	<-l.slots
}

// wait returns once every page the source emitted is done, with its first
// error.
func (p *stagePipe) wait() error {
	if p.last == nil {
		return nil
	}
	<-p.last.done
	p.line.mu.Lock()
	defer p.line.mu.Unlock()
	return p.err
}

func (s *StageStats) add(o StageStats) {
	s.Records += o.Records
	s.Changed += o.Changed
	s.Unchanged += o.Unchanged
	s.Skipped += o.Skipped
	s.Enqueued += o.Enqueued
	s.Conflicts += o.Conflicts
}

func (e *Engine) setStatus(name string, f func(*RunStatus)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.status[name]; ok {
		f(s)
	}
}

// Drain pushes every due outbox entry once. Only one drain runs at a time.
func (e *Engine) Drain(ctx context.Context) (PushStats, time.Time, error) {
	e.pushLock.Lock()
	defer e.pushLock.Unlock()
	st, next, err := e.push.Drain(ctx)
	e.releaseMemory()
	if st.Created+st.Adopted+st.Updated+st.Notes+st.DLQ+st.Retrying > 0 {
		e.log.Info("push finished", "connector", e.cfg.Target, "created", st.Created, "adopted", st.Adopted,
			"updated", st.Updated, "notes", st.Notes, "dlq", st.DLQ, "retrying", st.Retrying)
	}
	return st, next, err
}

// The state file's pages a run reads stay resident (they count in the
// process's RSS) until released (Store.ReleaseMemory). Each page read maps
// its cached neighbours too (the kernel's fault-around and large page-cache
// folios: ~100 KB per scattered read measured here, and MADV_RANDOM does not
// stop it), so one staged page of 100 records maps tens of MB if nothing is
// released. Staging therefore checks, as it stages records and recomputes
// persons (within the page's transaction), and after every page, whether the
// process's file-backed resident memory has grown by more than releaseBudget
// since the last release, and releases only then; a store smaller than the
// budget is never released while staging. The checks are paced
// (releasePacer): from every step to every releaseMaxGap steps, by the
// growth per step seen; every releaseCheckRecords steps when the growth
// cannot be read. The pusher checks the same every
// releaseEveryPushes persons it hands out, and every run and drain ends
// with a release, so an idle daemon holds none of the file.
//
// A 4 MB budget checked every 4 records let the state file's share of the
// 100,000-person peak reach 17–18 MB (peak RSS 62.9–64.1 MB); 2 MB every 2
// records kept it at 14–16 MB for the same staging throughput
// (BenchmarkStaging 24.2–24.5k against 23.4–24.0k records/s, same session).
// Since then the heap's share of the peak fell (GOGC 50, the bounded last
// writes), and a CPU profile of the 100,000-person once put a third of its
// CPU in re-faulting the file's pages and releasing them. The budget went
// back to 4 MB, checked at releasePacer's pace: 81–101 s of CPU against
// 109–116 s, for a peak of 56.4–57.7 MB against 53.0–53.7 MB (bench/scale,
// alternated, PERFORMANCE.md §4–6).
//
// Checking every 2 steps (a read of /proc/self/statm each) was an eighth of
// the staging goroutine's CPU; paced, BenchmarkStaging gained 3-15 % in four
// alternated rounds, for a 100,000-person peak of 56.0 MB (PERFORMANCE.md).
//
// Releasing unconditionally every 5 records held the state file's share of
// the 100,000-person peak to 14 MB, but cost staging a third of its
// throughput: a release is one madvise of the whole mapping, and every page
// read after it faults in again (from the page cache, not the disk).
const (
	releaseCheckRecords = 2
	releaseBudget       = 4 << 20
	releaseEveryPushes  = 4
)

func (e *Engine) releaseMemory() {
	if err := e.store.ReleaseMemory(); err != nil {
		e.log.Debug("releasing the state file's pages", "err", err)
	}
}

// Status is the /status document.
type Status struct {
	Sources     []RunStatus `json:"sources"`
	Target      string      `json:"target"`
	OutboxDepth int         `json:"outbox_depth"`
	DLQDepth    int         `json:"dlq_depth"`
	Persons     int         `json:"persons"`
	Conflicts   int         `json:"conflicts"`
}

// Status reports every source's last run, its cursor, and the queues.
func (e *Engine) Status() (Status, error) {
	st := Status{Target: e.cfg.Target}
	e.mu.Lock()
	for _, n := range e.order {
		st.Sources = append(st.Sources, *e.status[n])
	}
	e.mu.Unlock()
	err := e.store.View(func(tx *state.Tx) error {
		curs, err := tx.Cursors()
		if err != nil {
			return err
		}
		for i := range st.Sources {
			if c, ok := curs[st.Sources[i].Instance]; ok {
				st.Sources[i].Cursor = string(c.Cursor)
				e.metrics.cursorAge.WithLabelValues(st.Sources[i].Instance).Set(e.now().Sub(c.SavedAt).Seconds())
			}
		}
		counts := tx.Counts()
		st.OutboxDepth, st.DLQDepth, st.Persons, st.Conflicts = counts["outbox"], counts["dlq"], counts["persons"], counts["conflicts"]
		e.metrics.outboxDepth.Set(float64(st.OutboxDepth))
		e.metrics.dlqDepth.Set(float64(st.DLQDepth))
		return nil
	})
	return st, err
}

// Ready reports whether the scheduler is running.
func (e *Engine) Ready() bool { return e.running.Load() }

// Summary is what `once` reports.
type Summary struct {
	Runs []RunResult
	Push PushStats
	// Pending counts persons still in the outbox after the drain (transient failures).
	Pending int
}

// Once runs every source (or only the named one) once, then drains the
// outbox, retrying transient failures within the run up to the configured
// attempts. It returns an error when a source run failed or a push could
// not complete; persons sent to the DLQ are not an error.
func (e *Engine) Once(ctx context.Context, only string, progress Progress) (Summary, error) {
	var sum Summary
	names := e.order
	if only != "" {
		if _, ok := e.sources[only]; !ok {
			return sum, fmt.Errorf("--connector: %q is not a source instance (have %v)", only, e.order)
		}
		names = []string{only}
	}
	results := make([]RunResult, len(names))
	var wg gosync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.RunSource(ctx, n, progress)
		}()
	}
	wg.Wait()
	sum.Runs = results
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Instance, r.Err))
		}
	}
	for attempt := 0; ; attempt++ {
		st, next, err := e.Drain(ctx)
		sum.Push.add(st)
		if err != nil {
			errs = append(errs, fmt.Errorf("push: %w", err))
			break
		}
		if next.IsZero() || attempt+1 >= e.cfg.Push.OnceAttempts {
			break
		}
		wait := max(next.Sub(e.now()), 0)
		wait = min(wait, 30*time.Second)
		select {
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
		case <-time.After(wait):
			// Retrying a transient push failure within the run, as `once` promises.
			continue
		}
		break
	}
	_ = e.store.View(func(tx *state.Tx) error { sum.Pending = tx.OutboxDepth(); return nil })
	sum.Push.Retrying = 0
	if sum.Pending > 0 {
		errs = append(errs, fmt.Errorf("push: %d persons still waiting after retries (see logs)", sum.Pending))
	}
	return sum, errors.Join(errs...)
}

// ReplayDLQ moves DLQ entries (all when ids is empty) back into the outbox.
func ReplayDLQ(st *state.Store, ids []string, now time.Time) (int, error) {
	n := 0
	err := st.Update(func(tx *state.Tx) error {
		entries, err := tx.DLQ()
		if err != nil {
			return err
		}
		found := map[string]bool{}
		for _, en := range entries {
			if len(ids) > 0 && !slices.Contains(ids, en.ID) {
				continue
			}
			found[en.ID] = true
			if _, ok, err := tx.Person(en.Person); err != nil {
				return err
			} else if ok {
				if err := tx.Enqueue(en.Person, now); err != nil {
					return err
				}
			}
			if err := tx.DeleteDLQ(en.ID); err != nil {
				return err
			}
			n++
		}
		for _, id := range ids {
			if !found[id] {
				return fmt.Errorf("no DLQ entry %q", id)
			}
		}
		return nil
	})
	return n, err
}

// PersonView answers "why does the CRM say this?" for one person.
type PersonView struct {
	Person   state.Person
	Merged   lead.Person
	Records  []lead.Record
	TargetID string
	Notes    map[string]string
	Outbox   *state.OutboxItem
}

// ShowPerson finds a person by email, phone (any format), person id, CRM id
// or "instance:source_id".
func ShowPerson(st *state.Store, surv Survivorship, region, query string) (*PersonView, error) {
	s := &stager{surv: surv}
	var v *PersonView
	err := st.View(func(tx *state.Tx) error {
		id := lookupPerson(tx, region, query)
		if id == "" {
			return fmt.Errorf("no person matches %q", query)
		}
		p, recs, merged, ok, err := s.loadPerson(tx, id)
		if err != nil || !ok {
			return fmt.Errorf("no person matches %q", query)
		}
		notes, _ := tx.Notes(id)
		v = &PersonView{Person: p, Merged: merged, Records: recs, TargetID: tx.TargetID(id), Notes: notes}
		if it, ok, _ := tx.OutboxItem(id); ok {
			v.Outbox = &it
		}
		return nil
	})
	return v, err
}

func lookupPerson(tx *state.Tx, region, q string) string {
	if _, ok, _ := tx.Person(q); ok {
		return q
	}
	if e, err := lead.NormalizeEmail(q); err == nil {
		if id := tx.Identity(state.EmailKey(e)); id != "" {
			return id
		}
	}
	if p, err := lead.NormalizePhone(q, region); err == nil {
		if id := tx.Identity(state.PhoneKey(p)); id != "" {
			return id
		}
	}
	if id := tx.Identity(targetKey(q)); id != "" {
		return id
	}
	for i := 0; i < len(q); i++ {
		if q[i] == ':' {
			if r, ok, _ := tx.Record(q[:i] + "\x00" + q[i+1:]); ok {
				return r.Person
			}
		}
	}
	return ""
}

// ListPersons returns every person with its merged view and CRM id.
func ListPersons(st *state.Store, surv Survivorship) ([]PersonView, error) {
	s := &stager{surv: surv}
	var out []PersonView
	err := st.View(func(tx *state.Tx) error {
		return tx.ForEachPerson(func(p state.Person) error {
			_, recs, merged, _, err := s.loadPerson(tx, p.ID)
			if err != nil {
				return err
			}
			notes, _ := tx.Notes(p.ID)
			out = append(out, PersonView{Person: p, Merged: merged, Records: recs, TargetID: tx.TargetID(p.ID), Notes: notes})
			return nil
		})
	})
	return out, err
}
