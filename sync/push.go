package sync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/lead"
	"github.com/leadsync/leadsync/state"
)

// PushStats counts what one drain of the outbox did.
type PushStats struct {
	Created  int
	Adopted  int
	Updated  int
	Notes    int
	DLQ      int
	Retrying int // transient failures left in the outbox with a backoff
	Done     int // persons fully pushed
}

func (p *PushStats) add(o PushStats) {
	p.Created += o.Created
	p.Adopted += o.Adopted
	p.Updated += o.Updated
	p.Notes += o.Notes
	p.DLQ += o.DLQ
	p.Retrying += o.Retrying
	p.Done += o.Done
}

// pusher drains the outbox into the target. Its workers record each CRM
// answer with Store.Batch: each write must be durable before the next CRM
// call, and group commit lets the workers share their fsyncs (against a
// fast CRM, commits were the bottleneck). A person's last write, after
// which no CRM call of that person follows, is committed asynchronously
// (BatchAsync), gathered with other persons' into groups (commitLast): the
// worker goes on to the next person meanwhile. The create intents of a
// piece of the outbox are written together before its persons are handed
// out. A person's CRM answers are recorded on whoever holds its records
// when they commit (pushedPerson.owner), and a person holding records of
// another still being pushed waits (claim). Every closure it commits is
// safe to run twice, as Batch requires.
type pusher struct {
	st          *state.Store
	stage       *stager
	target      connectors.Target
	name        string
	concurrency int
	log         *slog.Logger
	metrics     *Metrics
	now         func() time.Time
	maxBackoff  time.Duration
	chunk       int // due entries read at a time; 0: dueChunk

	// The last commit of each person is asynchronous (Store.BatchAsync):
	// a drain waits for them all before it returns, and the first that
	// failed fails the drain.
	async    gosync.WaitGroup
	asyncMu  gosync.Mutex
	asyncErr error
	// asyncSlots bounds the last writes queued and not yet committed
	// (asyncPerWorker per worker): without it, workers faster than the disk
	// queued writes without limit, and one group commit took hundreds of
	// persons (at 100,000 persons, 30 MB of bbolt nodes in one transaction).
	asyncSlots chan struct{}
	// last gathers last writes (commitLast) until lastGroup of them, or one
	// older than lastMaxWait, go to the store together.
	lastMu    gosync.Mutex
	last      []state.AsyncWrite
	lastSince time.Time // when the oldest of last was gathered
	lastGroup int
	// submit hands a group of last writes to the store; nil: st.BatchAsync
	// (tests watch the groups through it).
	submit func(...state.AsyncWrite)

	// busy holds, for every person being pushed, its record keys (as read
	// when its push began) until its writes are committed: record key ->
	// person, and person -> keys. See claim.
	busyMu gosync.Mutex
	busy   map[string]string
	claims map[string][]string
}

// errPersonBusy: the person holds records of another person whose push is
// not yet recorded (see claim).
var errPersonBusy = errors.New("holds records of a person whose push is not yet recorded")

// busyDelay is how long a person found busy waits in the outbox.
const busyDelay = time.Second

// asyncPerWorker is how many last writes per push worker may wait for
// their commit before a worker waits too. Half of them at most are gathered
// before they go to the store (lastGroup), so the other half is always
// committing or queued for it, and a worker waiting for a slot never waits
// for a group that it alone could complete. At 8 (groups of 16 persons at
// the default concurrency) a group's commit cost ~500 µs of CPU, half of it
// the fixed part (two fdatasyncs, the meta and freelist pages): 32 (groups
// of 64) took the engine's CPU per lead from 294-315 to 261-278 µs
// (bench/push -n 1000, medians of 7 rounds, three runs alternated).
const asyncPerWorker = 32

// lastMaxWait bounds how long a last write waits in its group while later
// ones arrive (against a slow CRM, a group fills slowly).
const lastMaxWait = time.Second

// dueChunk is how many due outbox entries a drain reads at a time.
const dueChunk = 256

// errFatal marks a push failure that retrying cannot fix (a wrong api key):
// the drain stops and the run fails.
type errFatal struct{ err error }

func (e errFatal) Error() string { return e.err.Error() }
func (e errFatal) Unwrap() error { return e.err }

// Drain pushes every due person once. It returns the earliest time a
// person still waiting in the outbox becomes due (zero when none waits).
func (p *pusher) Drain(ctx context.Context) (PushStats, time.Time, error) {
	var total PushStats
	var mu gosync.Mutex
	var next time.Time
	start := p.now()
	work := make(chan string)
	var wg gosync.WaitGroup
	var fatal error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := max(p.concurrency, 1)
	p.asyncSlots = make(chan struct{}, n*asyncPerWorker)
	p.lastGroup = n * asyncPerWorker / 2
	p.busy, p.claims = map[string]string{}, map[string][]string{}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				s, err := p.pushOne(ctx, id)
				mu.Lock()
				total.add(s)
				var fe errFatal
				if errors.As(err, &fe) && fatal == nil {
					fatal = fe.err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	// The due entries are read dueChunk at a time, each piece in its own
	// transaction, with the state file's pages released in between: one
	// walk of a large outbox (100,000 entries after a first sync) mapped
	// most of the file, and its list of ids held megabytes. Entries are
	// taken in key order after the last one fed, so none is fed twice; an
	// entry enqueued meanwhile before that point waits for the next drain.
	var walkErr error
	after, fed := "", 0
feed:
	for {
		var due []string
		var more bool
		if walkErr = p.st.View(func(tx *state.Tx) error {
			var err error
			due, _, more, err = tx.DueAfter(start, after, cmp.Or(p.chunk, dueChunk))
			return err
		}); walkErr != nil {
			break
		}
		if walkErr = p.writeIntents(due); walkErr != nil {
			break
		}
		for _, id := range due {
			if fed > 0 && fed%releaseEveryPushes == 0 {
				if _, err := p.st.ReleaseMemoryOver(releaseBudget); err != nil {
					p.log.Debug("releasing the state file's pages", "err", err)
				}
			}
			select {
			case work <- id:
				fed++
			case <-ctx.Done():
				break feed
			}
		}
		if !more {
			break
		}
		after = due[len(due)-1]
	}
	close(work)
	wg.Wait()
	p.flushLast()
	p.async.Wait()
	if walkErr == nil {
		walkErr = p.asyncErr
	}
	p.asyncErr = nil
	if walkErr != nil {
		return total, next, walkErr
	}
	if err := p.st.View(func(tx *state.Tx) error {
		var err error
		_, next, err = tx.Due(p.now(), 1)
		if err == nil && p.metrics != nil {
			p.metrics.outboxDepth.Set(float64(tx.OutboxDepth()))
			p.metrics.dlqDepth.Set(float64(tx.DLQDepth()))
		}
		return err
	}); err != nil {
		return total, next, err
	}
	if fatal != nil {
		return total, next, fatal
	}
	return total, next, ctx.Err()
}

// writeIntents writes, in one commit, the create intent of every person
// among ids that has no CRM id and no intent yet, before any of them is
// handed to a worker: one commit for a piece of the outbox instead of one
// per person. An intent only ever makes the pusher look a person up before
// creating, which it does anyway, so one written for a person that ends up
// in the DLQ or merged away does no harm (a merge carries it over).
func (p *pusher) writeIntents(ids []string) error {
	// Most pieces of a later drain hold persons with a CRM id already
	// (updates) or an intent: look first, and commit only when needed.
	var need []string
	if err := p.st.View(func(tx *state.Tx) error {
		var err error
		need, err = needIntents(tx, ids)
		return err
	}); err != nil || len(need) == 0 {
		return err
	}
	return p.st.Batch(func(tx *state.Tx) error {
		// Looked at again: this closure may run twice, and a person may
		// have been recorded meanwhile.
		still, err := needIntents(tx, need)
		if err != nil {
			return err
		}
		for _, id := range still {
			if err := tx.PutIntent(id, state.Intent{At: p.now()}); err != nil {
				return err
			}
		}
		return nil
	})
}

// needIntents returns the persons among ids with neither a CRM id nor a
// create intent.
func needIntents(tx *state.Tx, ids []string) ([]string, error) {
	var need []string
	for _, id := range ids {
		if tx.TargetID(id) != "" {
			continue
		}
		if _, ok, err := tx.Intent(id); err != nil {
			return nil, err
		} else if !ok {
			need = append(need, id)
		}
	}
	return need, nil
}

// commitLast commits a person's last write without waiting for it; Drain
// waits for every such commit before it returns. The writes are handed to
// the store lastGroup at a time (flushLast hands over the rest), so that
// one commit records many persons: committed one by one, as they came, the
// group commits held 3 to 5 persons each, and their writes and fsyncs were
// half of the engine's CPU in a push (bench/push). A group goes to the
// store early when its oldest write has waited lastMaxWait (checked as
// later ones arrive) and when a push fails or is deferred (pushOne). A
// crash before a write commits leaves the person's create intent, and the
// next attempt adopts the lead. after, when given, runs once the write is
// committed (not when it failed).
func (p *pusher) commitLast(id string, fn func(*state.Tx) error, after func()) {
	p.async.Add(1)
	p.asyncSlots <- struct{}{}
	w := state.AsyncWrite{Fn: fn, Done: func(err error) {
		defer p.async.Done()
		p.release(id)
		<-p.asyncSlots
		if err == nil {
			if after != nil {
				after()
			}
			return
		}
		p.log.Error("recording a push", "connector", p.name, "person", id, "err", err)
		p.asyncMu.Lock()
		if p.asyncErr == nil {
			p.asyncErr = fmt.Errorf("recording the push of %s: %w", id, err)
		}
		p.asyncMu.Unlock()
	}}
	p.lastMu.Lock()
	defer p.lastMu.Unlock()
	now := p.now()
	if len(p.last) == 0 {
		p.lastSince = now
	}
	p.last = append(p.last, w)
	if len(p.last) >= p.lastGroup || now.Sub(p.lastSince) >= lastMaxWait {
		p.handLast()
	}
}

// flushLast hands the store the last writes still gathered.
func (p *pusher) flushLast() {
	p.lastMu.Lock()
	defer p.lastMu.Unlock()
	p.handLast()
}

// handLast hands the gathered last writes to the store; lastMu is held.
func (p *pusher) handLast() {
	if len(p.last) == 0 {
		return
	}
	if p.submit != nil {
		p.submit(p.last...)
	} else {
		p.st.BatchAsync(p.last...)
	}
	p.last = nil
}

// claim marks a person's records as being pushed, unless one of them is
// already marked for another person: a staging run merged that person into
// this one while it was pushed, and its CRM id and notes are not recorded
// yet (its last write waits in a group, or its CRM calls still run). This
// person would then look the lead up by its own email and phone, could
// miss it, and create a second lead; it waits instead (busyDelay), and its
// next push finds the lead's id recorded on it (pushedPerson.owner).
func (p *pusher) claim(id string, keys []string) bool {
	p.busyMu.Lock()
	defer p.busyMu.Unlock()
	for _, k := range keys {
		if o, ok := p.busy[k]; ok && o != id {
			return false
		}
	}
	for _, k := range keys {
		p.busy[k] = id
	}
	p.claims[id] = keys
	return true
}

// release ends claim once the person's writes are committed.
func (p *pusher) release(id string) {
	p.busyMu.Lock()
	defer p.busyMu.Unlock()
	for _, k := range p.claims[id] {
		if p.busy[k] == id {
			delete(p.busy, k)
		}
	}
	delete(p.claims, id)
}

// pushOne pushes one person and settles its outbox entry: done, DLQ, or
// backoff.
func (p *pusher) pushOne(ctx context.Context, id string) (PushStats, error) {
	var stats PushStats
	err := p.push(ctx, id, &stats)
	if err == nil {
		stats.Done++
		p.result("ok")
		return stats, nil // released by its last write (commitLast)
	}
	defer p.release(id)
	// The gathered last writes of other persons would otherwise wait for
	// later pushes, which may all fail as this one did (a CRM outage), or
	// for the end of the drain; a person deferred below waits for one of
	// them.
	p.flushLast()
	if errors.Is(err, errPersonBusy) {
		stats.Retrying++
		p.result("retry")
		p.log.Debug("push deferred", "connector", p.name, "person", id, "why", err)
		return stats, p.st.Batch(func(tx *state.Tx) error {
			it, ok, err := tx.OutboxItem(id)
			if err != nil || !ok {
				return err
			}
			it.NextAt = p.now().Add(busyDelay)
			return tx.PutOutbox(id, it)
		})
	}
	if ctx.Err() != nil {
		return stats, nil // abandoned cleanly: the entry stays due for the next run
	}
	var rej *connectors.RejectedError
	if errors.As(err, &rej) {
		stats.DLQ++
		p.result("dlq")
		return stats, p.deadLetter(id, rej)
	}
	if isConfigError(err) {
		p.result("error")
		p.log.Error("push failed: configuration error", "connector", p.name, "person", id, "err", err)
		return stats, errFatal{err}
	}
	stats.Retrying++
	p.result("retry")
	return stats, p.backoff(id, err)
}

func (p *pusher) result(r string) {
	if p.metrics != nil {
		p.metrics.pushes.WithLabelValues(r).Inc()
	}
}

func isConfigError(err error) bool {
	if errors.Is(err, connectors.ErrConfig) {
		return true
	}
	var se *httpapi.StatusError
	return errors.As(err, &se) && (se.Status == 403 || se.Status == 404)
}

// backoff schedules the next attempt. The log line is written after the
// commit: Batch may run its closure twice.
func (p *pusher) backoff(id string, cause error) error {
	var it state.OutboxItem
	var d time.Duration
	err := p.st.Batch(func(tx *state.Tx) error {
		var ok bool
		var err error
		it, ok, err = tx.OutboxItem(id)
		if err != nil || !ok {
			return err
		}
		it.Attempts++
		d = min(time.Duration(1<<min(it.Attempts, 16))*time.Second, p.maxBackoff)
		d = d/2 + rand.N(d/2+1)
		it.NextAt = p.now().Add(d)
		it.LastError = cause.Error()
		return tx.PutOutbox(id, it)
	})
	if err == nil {
		p.log.Warn("push failed, will retry", "connector", p.name, "person", id, "attempt", it.Attempts, "retry_in", d.Round(time.Millisecond).String(), "err", cause)
	}
	return err
}

// deadLetter moves a refused person to the DLQ; the warning is logged
// after the commit, since Batch may run its closure twice.
func (p *pusher) deadLetter(id string, rej *connectors.RejectedError) error {
	var dlqID, email string
	err := p.st.Batch(func(tx *state.Tx) error {
		_, recs, merged, ok, err := p.stage.loadPerson(tx, id)
		if err != nil {
			return err
		}
		e := state.DLQEntry{Person: id, Reason: rej.Error(), Fields: rej.Fields, At: p.now()}
		if ok {
			e.Emails, e.Phones, e.Sources = merged.Emails, merged.Phones, merged.Sources
			for i := range recs {
				e.Phones = append(e.Phones, recs[i].OtherPhones...)
			}
		}
		if dlqID, err = tx.AddDLQ(e); err != nil {
			return err
		}
		email = merged.Email()
		return tx.Dequeue(id)
	})
	if err == nil {
		p.log.Warn("lead refused by the CRM, moved to the DLQ", "connector", p.name, "person", id, "dlq", dlqID,
			"email", lead.Mask(email), "reason", rej.Error())
	}
	return err
}

// push does the CRM work for one person. Every CRM write that may land is
// covered by something durable before it is sent, so a crash at any point
// resumes without a duplicate:
//   - no CRM id yet: a create intent is stored (writeIntents), the CRM is
//     searched (email, then phone), a match is adopted or a lead created;
//     an intent found on the next attempt means "a create may have landed":
//     the search finds it and the lead is adopted.
//   - notes: all those to send are marked in flight in one commit before the
//     first is sent; a marker found later means "read the lead's notes
//     first", and a note whose exact text is there is recorded, not resent.
//   - an update is idempotent: sent again after a crash, it changes nothing.
//
// What the CRM answered (its id, the notes' ids, the fields and content
// pushed) is recorded in the person's last commit, which runs while the
// worker goes on (commitLast); when a CRM call fails midway, what was
// already written is recorded before the error is returned.
func (p *pusher) push(ctx context.Context, id string, stats *PushStats) error {
	var (
		sp      state.Person
		recs    []lead.Record
		merged  lead.Person
		slug    string
		sent    map[string]string
		found   bool
		adopted bool
		intent  bool
	)
	if err := p.st.View(func(tx *state.Tx) error {
		var err error
		sp, recs, merged, found, err = p.stage.loadPerson(tx, id)
		if err != nil || !found {
			return err
		}
		slug = tx.TargetID(id)
		if _, intent, err = tx.Intent(id); err != nil {
			return err
		}
		sent, err = tx.Notes(id)
		return err
	}); err != nil {
		return err
	}
	if !found {
		return p.st.Batch(func(tx *state.Tx) error { return tx.Dequeue(id) }) // merged away meanwhile
	}
	if !p.claim(id, sp.Records) {
		return errPersonBusy
	}
	// Only the fields' hash is computed here: the content hash recorded as
	// pushed is the staged one (sp.Hash), read with the records merged here;
	// recomputed, it differed from it after a change of merge.priority, and
	// the person never left the outbox.
	fields := fieldsHash(&merged)
	who := pushedPerson{id: id, records: sp.Records}
	// done collects what the CRM answered, to be recorded together.
	var done []func(tx *state.Tx) error
	// notices are what the last run of record found to tell operators (a
	// conflict): told once, after a commit of record succeeds (report), not
	// as record runs: a group commit may run it twice, and record is
	// committed again by the last write after the notes' in-flight marks.
	var notices []func()
	reported := false
	report := func() {
		if reported || len(notices) == 0 {
			return
		}
		reported = true
		for _, n := range notices {
			n()
		}
	}
	record := func(tx *state.Tx) error {
		notices = notices[:0]
		for _, f := range done {
			if err := f(tx); err != nil {
				return err
			}
		}
		return nil
	}
	setFields := func(tx *state.Tx) error {
		cur, ok, err := tx.Person(id)
		if err != nil || !ok {
			return err
		}
		cur.PushedFields = fields
		return tx.PutPerson(cur)
	}
	fieldsPushed := false // the CRM holds these fields (created with them, or updated)
	// fail records what was written before err, so that a retry neither
	// repeats it nor has to find it out, then returns err.
	fail := func(err error) error {
		if len(done) > 0 || fieldsPushed {
			if rerr := p.st.Batch(func(tx *state.Tx) error {
				if fieldsPushed {
					if err := setFields(tx); err != nil {
						return err
					}
				}
				return record(tx)
			}); rerr != nil {
				return errors.Join(err, rerr)
			}
			report()
		}
		return err
	}
	if slug == "" {
		var err error
		slug, adopted, err = p.createOrAdopt(ctx, id, &merged, intent)
		if err != nil {
			return err
		}
		if adopted {
			stats.Adopted++
		} else {
			stats.Created++
			fieldsPushed = true // the lead was created with these fields
		}
		s := slug
		done = append(done, func(tx *state.Tx) error {
			o, rival, err := who.owner(tx, s)
			if err != nil {
				return err
			}
			if rival != "" {
				n, err := p.leadConflict(tx, who, rival, s)
				if n != nil {
					notices = append(notices, n)
				}
				return err
			}
			if o == "" {
				return nil
			}
			return recordTargetID(tx, o, s)
		})
	}
	if !fieldsPushed && sp.PushedFields != fields && !p.targetAgrees(recs, slug, &merged) {
		if err := p.target.Update(ctx, slug, &merged); err != nil {
			return fail(err)
		}
		stats.Updated++
		fieldsPushed = true
	}
	plans := planNotes(&merged, recs, sent, p.target.MaxNoteLen())
	n, recordNotes, err := p.writeNotes(ctx, who, slug, plans, sent, adopted, record, report)
	stats.Notes += n
	if recordNotes != nil {
		done = append(done, recordNotes)
	}
	if err != nil {
		return fail(err)
	}
	// Nothing of this person follows this last write, so it commits while
	// the worker goes on: a crash before its commit leaves the person in
	// the outbox with its create intent and its notes marked in flight, and
	// the next attempt adopts the lead and recognises the notes.
	p.commitLast(id, func(tx *state.Tx) error {
		if err := record(tx); err != nil {
			return err
		}
		cur, ok, err := tx.Person(id)
		if err != nil || !ok {
			return err
		}
		cur.PushedHash = sp.Hash
		cur.PushedFields = fields
		if err := tx.PutPerson(cur); err != nil {
			return err
		}
		if cur.Hash != sp.Hash {
			return nil // restaged while we pushed: stays in the outbox, due now
		}
		return tx.Dequeue(id)
	}, report)
	return nil
}

// targetAgrees reports whether the target's own record of this lead (read
// when the target instance is polled as a source) already holds what an
// update would write: then the update would change nothing. The target
// decides when it can (connectors.Agreer: it knows its mapping, such as a
// status map); otherwise names, email, phone and status are compared as
// they are. Comparing names and contacts only skipped updates whose status
// or provenance had changed: a vendor's new status never reached the CRM.
func (p *pusher) targetAgrees(recs []lead.Record, slug string, m *lead.Person) bool {
	for i := range recs {
		r := &recs[i]
		if r.Source != p.name || r.TargetID != slug {
			continue
		}
		if a, ok := p.target.(connectors.Agreer); ok {
			return a.Agrees(r, m)
		}
		return lead.CleanName(r.FirstName) == m.FirstName && lead.CleanName(r.LastName) == m.LastName &&
			(m.Email() == "" || slices.Contains(r.Emails, m.Email())) &&
			(m.Phone() == "" || slices.Contains(r.Phones, m.Phone())) &&
			(m.Status == "" || r.Status == m.Status)
	}
	return false
}

// createOrAdopt writes the create intent unless it is already stored
// (writeIntents), then finds or creates the lead. The caller records the id
// it returns (recordTargetID).
func (p *pusher) createOrAdopt(ctx context.Context, id string, merged *lead.Person, intent bool) (slug string, adopted bool, err error) {
	if !intent {
		if err := p.st.Batch(func(tx *state.Tx) error {
			return tx.PutIntent(id, state.Intent{At: p.now()})
		}); err != nil {
			return "", false, err
		}
	}
	matches, err := p.target.Find(ctx, merged.Email(), merged.Phone())
	if err != nil {
		return "", false, fmt.Errorf("looking the person up in the CRM: %w", err)
	}
	if len(matches) > 0 {
		slug, adopted = matches[0].ID, true
	} else {
		slug, err = p.target.Create(ctx, merged)
		if err != nil {
			return "", false, err
		}
	}
	return slug, adopted, nil
}

// leadConflict records that the person who was pushed got lead slug while
// rival, which holds its records now (itself, or the person it was merged
// into meanwhile), already has another lead, recorded by a push that ran at
// the same time: one person, two leads, for an operator to join (`leadsync
// state conflicts` lists it, as staging's refused joins). notice counts it
// and warns: the caller calls it once the conflict is committed.
func (p *pusher) leadConflict(tx *state.Tx, who pushedPerson, rival, slug string) (notice func(), err error) {
	cf := state.Conflict{Persons: []string{rival}, Key: targetKey(slug), At: p.now()}
	if rival != who.id {
		cf.Persons = append(cf.Persons, who.id)
	}
	if len(who.records) > 0 {
		cf.Record = who.records[0]
	}
	if err := tx.PutConflict(cf); err != nil {
		return nil, err
	}
	first := tx.TargetID(rival)
	return func() {
		if p.metrics != nil {
			p.metrics.conflicts.Inc()
		}
		p.log.Warn("push conflict: persons merged while their leads were created; the person has two leads, left for an operator",
			"connector", p.name, "person", rival, "lead", first, "second_lead", slug)
	}, nil
}

// recordTargetID records a person's CRM id and clears its create intent.
// Its caller has made sure (pushedPerson.owner) that the person has no
// other CRM id.
func recordTargetID(tx *state.Tx, id, slug string) error {
	if err := tx.PutTargetID(id, slug); err != nil {
		return err
	}
	if err := tx.PutIdentity(targetKey(slug), id); err != nil {
		return err
	}
	return tx.DeleteIntent(id)
}

// pushedPerson is the person a push is for: its id and its record keys as
// read when the push began.
type pushedPerson struct {
	id      string
	records []string
}

// owner returns the person to record the push's CRM answers about lead
// slug under: the pushed person itself, or, when a staging run merged it
// into another person while its CRM calls ran, that survivor, which now
// holds its records (and its create intent, carried by the merge).
// Recorded under the merged-away id, the lead's id and its notes were lost
// to the survivor, which then looked the lead up by its own email and
// phone, could miss it, and created a second lead.
//
// When that holder already points at another lead, nothing may be
// recorded on it (its notes would count as written to its own lead, where
// they are not): owner returns "" and the holder as rival. "" and no rival
// when no holder is found (the records are gone too).
func (w pushedPerson) owner(tx *state.Tx, slug string) (owner, rival string, err error) {
	holder, err := w.holder(tx)
	if err != nil || holder == "" {
		return "", "", err
	}
	if t := tx.TargetID(holder); t != "" && t != slug {
		return "", holder, nil
	}
	return holder, "", nil
}

// holder is the person that holds the pushed person's records now: itself,
// or the person it was merged into; "" when the records are gone.
func (w pushedPerson) holder(tx *state.Tx) (string, error) {
	if _, ok, err := tx.Person(w.id); err != nil || ok {
		return w.id, err
	}
	for _, k := range w.records {
		r, ok, err := tx.RecordFields(k)
		if err != nil {
			return "", err
		}
		if ok && r.Person != "" {
			return r.Person, nil
		}
	}
	return "", nil
}

// writeNotes writes the planned notes not yet written. When the lead was
// adopted, or a note may have been sent without its id being recorded, the
// lead's existing notes are read first and a note whose exact text is
// already there is recorded instead of written again. The notes to send
// are all marked in flight in one commit, together with before (what the
// caller has yet to record), before the first is sent. It returns how many
// notes it wrote and a function that records the ids of every note sent or
// found (also when it fails midway), for the caller's next commit.
func (p *pusher) writeNotes(ctx context.Context, who pushedPerson, slug string, plans []notePlan, sent map[string]string, adopted bool,
	before func(*state.Tx) error, committed func()) (int, func(*state.Tx) error, error) {
	var todo []*notePlan
	for i := range plans {
		if !allSent(plans[i].Keys, sent) {
			todo = append(todo, &plans[i])
		}
	}
	if len(todo) == 0 {
		return 0, nil, nil
	}
	inflight := adopted
	for k := range sent {
		if strings.HasPrefix(k, noteIntentPrefix) {
			inflight = true
		}
	}
	var existing map[string]string
	if inflight {
		tl, err := p.target.Get(ctx, slug)
		if err != nil {
			return 0, nil, fmt.Errorf("reading the lead's notes: %w", err)
		}
		existing = map[string]string{}
		for _, n := range tl.Notes {
			existing[n.Text] = n.ID
		}
	}
	type noted struct {
		plan *notePlan
		id   string
	}
	var got []noted
	var send []*notePlan
	for _, pl := range todo {
		if noteID, ok := existing[pl.Text]; ok {
			got = append(got, noted{pl, noteID})
		} else {
			send = append(send, pl)
		}
	}
	recordNotes := func(tx *state.Tx) error {
		id, _, err := who.owner(tx, slug)
		if err != nil || id == "" {
			return err
		}
		for _, g := range got {
			for _, k := range g.plan.Keys {
				if err := tx.PutNote(id, k, g.id); err != nil {
					return err
				}
			}
			if err := tx.DeleteNote(id, g.plan.intentKey()); err != nil {
				return err
			}
		}
		return nil
	}
	if len(send) > 0 {
		if err := p.st.Batch(func(tx *state.Tx) error {
			if err := before(tx); err != nil {
				return err
			}
			id, _, err := who.owner(tx, slug)
			if err != nil || id == "" {
				return err
			}
			for _, pl := range send {
				if err := tx.PutNote(id, pl.intentKey(), ""); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return 0, nil, err
		}
		committed()
	}
	written := 0
	for _, pl := range send {
		noteID, err := p.target.AddNote(ctx, slug, pl.Text)
		if err != nil {
			return written, recordNotes, err
		}
		written++
		got = append(got, noted{pl, noteID})
	}
	return written, recordNotes, nil
}

func allSent(keys []string, sent map[string]string) bool {
	for _, k := range keys {
		if _, ok := sent[k]; !ok {
			return false
		}
	}
	return true
}
