package sync

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/lead"
	"github.com/leadsync/leadsync/state"
)

func withConversation(r lead.Record, convID string, msgs ...lead.Message) lead.Record {
	r.Conversations = append(r.Conversations, lead.Conversation{ID: convID, Channel: "webchat", Messages: msgs})
	return r
}

func msg(id, sender, text string, at time.Time) lead.Message {
	return lead.Message{ID: id, Sender: sender, Text: text, At: at}
}

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func TestPushCreatesOnceAndSecondDrainWritesNothing(t *testing.T) {
	f := newFixture(t)
	r := withConversation(rec("ask", "1", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620123456"}), "room1",
		msg("m2", lead.SenderAgent, "Hello, how can I help?", t0.Add(time.Minute)),
		msg("m1", lead.SenderUser, "Hi", t0))
	f.stagePage("ask", r)
	s := f.drain()
	if s.Created != 1 || s.Notes != 1 || s.Done != 1 {
		t.Fatalf("first drain %+v, want 1 created, 1 note", s)
	}
	_, writes := f.target.count()
	f.stagePage("ask", r)
	f.drain()
	if _, w := f.target.count(); w != writes {
		t.Fatalf("second pass wrote %d times, want 0", w-writes)
	}
	l, _ := f.target.Get(t.Context(), "slug-1")
	if !strings.Contains(l.Notes[0].Text, "user: Hi\n") || strings.Index(l.Notes[0].Text, "Hi") > strings.Index(l.Notes[0].Text, "Hello") {
		t.Fatalf("note not in time order with senders:\n%s", l.Notes[0].Text)
	}
}

func TestPushAfterLostCreateAnswerAdoptsInsteadOfDuplicating(t *testing.T) {
	f := newFixture(t)
	f.target.createLost = true
	f.stagePage("ask", rec("ask", "1", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620123456"}))
	if s := f.drain(); s.Retrying != 1 {
		t.Fatalf("drain %+v, want the lost create to be retried", s)
	}
	f.clock = f.clock.Add(time.Hour)
	s := f.drain()
	if s.Adopted != 1 || s.Created != 0 {
		t.Fatalf("drain %+v, want the landed lead adopted", s)
	}
	if n, _ := f.target.count(); n != 1 {
		t.Fatalf("CRM holds %d leads, want 1", n)
	}
}

func TestRejectedPersonGoesToDLQWithReason(t *testing.T) {
	f := newFixture(t)
	f.target.reject = func(p *lead.Person) error {
		if p.Phone() == "" {
			return &connectors.RejectedError{Reason: "phone required", Fields: map[string][]string{"phone": {"This field is required."}}}
		}
		return nil
	}
	f.stagePage("ask", rec("ask", "1", "Ali", "Ben", []string{"ali@x.tn"}, nil))
	if s := f.drain(); s.DLQ != 1 {
		t.Fatalf("drain %+v, want 1 DLQ", s)
	}
	f.st.View(func(tx *state.Tx) error {
		es, _ := tx.DLQ()
		if len(es) != 1 || !strings.Contains(es[0].Reason, "This field is required.") || es[0].Emails[0] != "ali@x.tn" {
			t.Errorf("DLQ = %+v", es)
		}
		if tx.OutboxDepth() != 0 {
			t.Error("rejected person still in the outbox")
		}
		return nil
	})
}

func TestTransientFailureBacksOffThenSucceeds(t *testing.T) {
	f := newFixture(t)
	f.target.failing = 1
	f.stagePage("ask", rec("ask", "1", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620123456"}))
	if s := f.drain(); s.Retrying != 1 {
		t.Fatalf("drain %+v, want a retry", s)
	}
	if s := f.drain(); s.Created != 0 {
		t.Fatalf("retried before its backoff: %+v", s)
	}
	f.clock = f.clock.Add(time.Hour)
	if s := f.drain(); s.Created != 1 {
		t.Fatalf("after backoff %+v, want created", s)
	}
}

func TestChangedFieldsUpdateAndNewMessagesAddOnlyNewNotes(t *testing.T) {
	f := newFixture(t)
	r := withConversation(rec("ask", "1", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620123456"}), "room1", msg("m1", lead.SenderUser, "Hi", t0))
	f.stagePage("ask", r)
	f.drain()
	r.LastName = "Ben Salah"
	r.Conversations[0].Messages = append(r.Conversations[0].Messages, msg("m2", lead.SenderBot, "Welcome", t0.Add(time.Minute)))
	f.stagePage("ask", r)
	s := f.drain()
	if s.Updated != 1 || s.Notes != 1 {
		t.Fatalf("drain %+v, want 1 update and 1 new note", s)
	}
	l, _ := f.target.Get(t.Context(), "slug-1")
	if l.LastName != "Ben Salah" || len(l.Notes) != 2 || strings.Contains(l.Notes[1].Text, "Hi") {
		t.Fatalf("lead %+v", l)
	}
}

func TestNoteInFlightAtCrashIsRecognisedNotRewritten(t *testing.T) {
	f := newFixture(t)
	r := withConversation(rec("ask", "1", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620123456"}), "room1", msg("m1", lead.SenderUser, "Hi", t0))
	f.stagePage("ask", r)
	f.drain()
	// Simulate a crash after the CRM stored a note but before its id was
	// recorded: forget the note keys, leave an in-flight marker.
	var merged lead.Person
	var recs []lead.Record
	f.st.Update(func(tx *state.Tx) error {
		_, recs, merged, _, _ = f.stage.loadPerson(tx, "P00000001")
		plans := planNotes(&merged, recs, map[string]string{}, 499)
		for _, k := range plans[0].Keys {
			tx.DeleteNote("P00000001", k)
		}
		tx.PutNote("P00000001", plans[0].intentKey(), "")
		tx.Enqueue("P00000001", f.clock)
		p, _, _ := tx.Person("P00000001")
		p.PushedHash = ""
		return tx.PutPerson(p)
	})
	f.drain()
	l, _ := f.target.Get(t.Context(), "slug-1")
	if len(l.Notes) != 1 {
		t.Fatalf("CRM has %d notes, want the in-flight one recognised (1)", len(l.Notes))
	}
}

func TestPlanNotesSplitsOnMessageBoundariesWithinLimit(t *testing.T) {
	p := &lead.Person{}
	var msgs []lead.Message
	for i := range 30 {
		msgs = append(msgs, msg(string(rune('a'+i)), lead.SenderUser, strings.Repeat("é", 40), t0.Add(time.Duration(i)*time.Minute)))
	}
	msgs = append(msgs, msg("long", lead.SenderBot, strings.Repeat("x", 1200), t0.Add(time.Hour)))
	r := withConversation(lead.Record{Source: "ask", SourceID: "1"}, "room", msgs...)
	plans := planNotes(p, []lead.Record{r}, map[string]string{}, 499)
	seen := map[string]int{}
	for _, pl := range plans {
		if n := utf8.RuneCountInString(pl.Text); n > 499 {
			t.Fatalf("note of %d characters", n)
		}
		for _, k := range pl.Keys {
			seen[k]++
		}
	}
	for _, m := range msgs {
		k := messageKey(&r, &r.Conversations[0], &m)
		if seen[k] != 1 {
			t.Errorf("message %s recorded %d times, want 1", m.ID, seen[k])
		}
	}
	// Every short message is whole inside one note.
	for _, m := range msgs[:30] {
		found := 0
		for _, pl := range plans {
			if strings.Contains(pl.Text, m.Text) {
				found++
			}
		}
		if found == 0 {
			t.Errorf("message %s split across notes", m.ID)
		}
	}
}

func TestExtraContactsWrittenOnceAsNote(t *testing.T) {
	f := newFixture(t)
	f.stagePage("ask", rec("ask", "1", "Ali", "Ben", []string{"ali@x.tn", "ali2@x.tn"}, []string{"+21620123456"}))
	f.drain()
	f.stagePage("ask", rec("ask", "2", "", "", []string{"ali@x.tn"}, nil))
	f.drain()
	l, _ := f.target.Get(t.Context(), "slug-1")
	if len(l.Notes) != 1 || !strings.Contains(l.Notes[0].Text, "ali2@x.tn") {
		t.Fatalf("notes %+v, want one contacts note", l.Notes)
	}
}

// TestChangeMadeInCRMIsNotOverwrittenByOlderVendorData: the CRM, read as a
// source, shows a salesperson's newer correction; the merge keeps it and
// the pusher writes nothing back.
func TestChangeMadeInCRMIsNotOverwrittenByOlderVendorData(t *testing.T) {
	f := newFixture(t)
	vendor := rec("ask", "1", "Ali", "Bensalah", []string{"ali@x.tn"}, []string{"+21620123456"})
	vendor.UpdatedAt = t0
	f.stagePage("ask", vendor)
	f.drain()
	_, writes := f.target.count()

	// The salesperson fixes the last name in the CRM, after the vendor's update.
	f.target.leads["slug-1"].LastName = "Ben Salah"
	crm := rec("crm", "slug-1", "Ali", "Ben Salah", []string{"ali@x.tn"}, []string{"+21620123456"})
	crm.TargetID, crm.UpdatedAt = "slug-1", t0.Add(time.Hour)
	f.stagePage("crm", crm)
	f.drain()
	if _, w := f.target.count(); w != writes {
		t.Fatalf("%d CRM writes after reading the CRM's own change, want 0", w-writes)
	}
	// The vendor re-sends its older data: still no write, the CRM's value stands.
	f.stagePage("ask", vendor)
	f.drain()
	l, _ := f.target.Get(t.Context(), "slug-1")
	if l.LastName != "Ben Salah" {
		t.Fatalf("CRM last name overwritten with %q", l.LastName)
	}
	f.st.View(func(tx *state.Tx) error {
		_, _, m, _, _ := f.stage.loadPerson(tx, "P00000001")
		if m.LastName != "Ben Salah" || m.Won["last_name"] != "crm:slug-1" {
			t.Errorf("merged last name %q from %q, want the CRM's", m.LastName, m.Won["last_name"])
		}
		return nil
	})
}

// TestNewVendorStatusIsWrittenThoughTheCRMRecordAgreesOnContacts: the CRM's
// own record, read back, holds the person's names, email and phone; the
// vendor's status changes. Before, the pusher compared names and contacts
// only, skipped the update, recorded the fields as pushed, and the new
// status never reached the CRM.
func TestNewVendorStatusIsWrittenThoughTheCRMRecordAgreesOnContacts(t *testing.T) {
	f := newFixture(t)
	bp := rec("bp", "c1", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620123456"})
	bp.Status = "new"
	f.stagePage("bp", bp)
	f.drain()
	crm := rec("crm", "slug-1", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620123456"})
	crm.TargetID, crm.Status = "slug-1", "new"
	f.stagePage("crm", crm)
	f.drain()
	_, writes := f.target.count()

	bp.Status = "won"
	f.stagePage("bp", bp)
	if s := f.drain(); s.Updated != 1 {
		t.Fatalf("drain %+v, want 1 update", s)
	}
	if got := f.target.status("slug-1"); got != "won" {
		t.Fatalf("CRM status %q, want the vendor's new %q", got, "won")
	}
	// Read back with the new status, the CRM agrees: nothing more is written.
	crm.Status = "won"
	f.stagePage("crm", crm)
	f.stagePage("bp", bp)
	f.drain()
	if _, w := f.target.count(); w != writes+1 {
		t.Fatalf("%d CRM writes after the status change, want 1", w-writes)
	}
}

// agreeingTarget is a memTarget that decides itself whether its own record
// agrees with a person (connectors.Agreer).
type agreeingTarget struct {
	*memTarget
	agrees func(own *lead.Record, p *lead.Person) bool
	asked  int
}

func (a *agreeingTarget) Agrees(own *lead.Record, p *lead.Person) bool {
	a.asked++
	return a.agrees(own, p)
}

// TestAnAgreerTargetDecidesWhetherItsRecordAgrees: the pusher asks a target
// that knows its own mapping, and updates exactly when it says its record
// differs, whatever the names and contacts say.
func TestAnAgreerTargetDecidesWhetherItsRecordAgrees(t *testing.T) {
	for _, agree := range []bool{true, false} {
		t.Run(fmt.Sprint("agrees=", agree), func(t *testing.T) {
			f := newFixture(t)
			at := &agreeingTarget{memTarget: f.target, agrees: func(own *lead.Record, p *lead.Person) bool {
				if own.TargetID != "slug-1" || p.Status != "won" {
					t.Errorf("asked about record %q and status %q", own.TargetID, p.Status)
				}
				return agree
			}}
			f.push.target = at
			bp := rec("bp", "c1", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620123456"})
			f.stagePage("bp", bp)
			f.drain()
			crm := rec("crm", "slug-1", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620123456"})
			crm.TargetID = "slug-1"
			f.stagePage("crm", crm)
			bp.Status = "won"
			f.stagePage("bp", bp)
			s := f.drain()
			if at.asked != 1 {
				t.Fatalf("target asked %d times, want 1", at.asked)
			}
			if want := map[bool]int{true: 0, false: 1}[agree]; s.Updated != want {
				t.Fatalf("drain %+v, want %d updates", s, want)
			}
		})
	}
}

// TestPersonOnlyInCRMIsNeverPushed: leads people typed into the CRM are
// known (for matching) but never written back.
func TestPersonOnlyInCRMIsNeverPushed(t *testing.T) {
	f := newFixture(t)
	crm := rec("crm", "typed-1", "Mohamed", "Laarbi", []string{"m@x.tn"}, []string{"+21655111222"})
	crm.TargetID = "typed-1"
	if s := f.stagePage("crm", crm); s.Enqueued != 0 {
		t.Fatalf("CRM-only person enqueued: %+v", s)
	}
	// A vendor record for the same person joins it: updated, not created.
	f.target.leads["typed-1"] = &connectors.TargetLead{ID: "typed-1", FirstName: "Mohamed", LastName: "Laarbi", Email: "m@x.tn", Phone: "+21655111222"}
	f.stagePage("bp", rec("bp", "c1", "Mohamed", "Laarbi", []string{"m@x.tn"}, nil))
	s := f.drain()
	if s.Created != 0 || s.Adopted != 0 {
		t.Fatalf("drain %+v: the CRM's own lead must be used, not created or searched", s)
	}
	if n, _ := f.target.count(); n != 1 {
		t.Fatalf("%d CRM leads, want 1", n)
	}
}

// TestDrainReadsTheOutboxInPiecesAndPushesEachDueEntryOnce drains more due
// entries than one piece holds, with an entry in backoff between them.
func TestDrainReadsTheOutboxInPiecesAndPushesEachDueEntryOnce(t *testing.T) {
	f := newFixture(t)
	f.push.chunk = 3
	var recs []lead.Record
	for i := range 10 {
		recs = append(recs, rec("ask", fmt.Sprint(i), "N", "", []string{fmt.Sprintf("p%d@x.tn", i)}, nil))
	}
	f.stagePage("ask", recs...)
	retryAt := f.clock.Add(time.Minute)
	var waiting string
	f.st.Update(func(tx *state.Tx) error {
		waiting = tx.Identity(state.EmailKey("p4@x.tn"))
		return tx.PutOutbox(waiting, state.OutboxItem{Attempts: 1, NextAt: retryAt})
	})
	s, next, err := f.push.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if leads, _ := f.target.count(); s.Created != 9 || leads != 9 {
		t.Fatalf("created %d, CRM holds %d leads; want 9 (each due person once)", s.Created, leads)
	}
	if !next.Equal(retryAt) {
		t.Errorf("next = %v, want the waiting entry's %v", next, retryAt)
	}
	f.st.View(func(tx *state.Tx) error {
		if d := tx.OutboxDepth(); d != 1 {
			t.Errorf("outbox depth %d after the drain, want 1 (%s, waiting)", d, waiting)
		}
		return nil
	})
}

// Every create is preceded by a durable create intent (written for a whole
// piece of the outbox at once), and when Drain returns, each person's last
// write (its CRM id recorded, its intent cleared, its outbox entry gone)
// is committed, although workers no longer wait for it.
func TestIntentsPrecedeCreatesAndDrainWaitsForTheLastWrites(t *testing.T) {
	f := newFixture(t)
	f.push.chunk = 4
	f.push.concurrency = 3
	var recs []lead.Record
	for i := range 10 {
		recs = append(recs, rec("ask", fmt.Sprint(i), "N", "", []string{fmt.Sprintf("p%d@x.tn", i)}, nil))
	}
	f.stagePage("ask", recs...)
	var mu gosync.Mutex
	var missing []string
	f.target.beforeCreate = func(p *lead.Person) {
		f.st.View(func(tx *state.Tx) error {
			if _, ok, _ := tx.Intent(tx.Identity(state.EmailKey(p.Email()))); !ok {
				mu.Lock()
				missing = append(missing, p.Email())
				mu.Unlock()
			}
			return nil
		})
	}
	if s := f.drain(); s.Created != 10 {
		t.Fatalf("drain %+v, want 10 created", s)
	}
	if len(missing) > 0 {
		t.Errorf("created without a stored intent: %v", missing)
	}
	f.st.View(func(tx *state.Tx) error {
		if d := tx.OutboxDepth(); d != 0 {
			t.Errorf("outbox depth %d when Drain returned, want 0", d)
		}
		for i := range 10 {
			id := tx.Identity(state.EmailKey(fmt.Sprintf("p%d@x.tn", i)))
			if _, ok, _ := tx.Intent(id); ok || tx.TargetID(id) == "" {
				t.Errorf("%s: intent left %v, CRM id %q; want no intent and an id", id, ok, tx.TargetID(id))
			}
		}
		return nil
	})
}

// When a note fails midway, the notes already written are recorded before
// the error is returned: the retry writes only the rest, once each, and
// recognises nothing twice.
func TestNoteFailureMidwayRecordsTheNotesAlreadyWritten(t *testing.T) {
	f := newFixture(t)
	r := rec("ask", "1", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620123456"})
	for i := range 3 {
		r = withConversation(r, fmt.Sprintf("room%d", i), msg(fmt.Sprintf("m%d", i), lead.SenderUser, fmt.Sprintf("Question %d", i), t0.Add(time.Duration(i)*time.Hour)))
	}
	f.stagePage("ask", r)
	f.target.failNote = 2
	if s := f.drain(); s.Created != 1 || s.Notes != 1 || s.Retrying != 1 {
		t.Fatalf("first drain %+v, want 1 created, 1 note written, then a retry", s)
	}
	f.st.View(func(tx *state.Tx) error {
		if tx.TargetID("P00000001") == "" {
			t.Error("the CRM id was not recorded when the push failed")
		}
		sent, _ := tx.Notes("P00000001")
		ids, markers := 0, 0
		for k, v := range sent {
			switch {
			case strings.HasPrefix(k, noteIntentPrefix):
				markers++
			case v != "":
				ids++
			}
		}
		if ids == 0 || markers != 2 {
			t.Errorf("notes stored %v: want the written note's id and the 2 unsent ones still marked", sent)
		}
		return nil
	})
	f.clock = f.clock.Add(time.Hour)
	if s := f.drain(); s.Notes != 2 || s.Done != 1 || s.Updated != 0 {
		t.Fatalf("retry %+v, want the 2 remaining notes and no update (the lead was created with its fields)", s)
	}
	l, _ := f.target.Get(t.Context(), "slug-1")
	texts := map[string]int{}
	for _, n := range l.Notes {
		texts[n.Text]++
	}
	if len(l.Notes) != 3 || len(texts) != 3 {
		t.Fatalf("CRM notes %v, want 3 distinct", texts)
	}
}

// A lead just created has no notes to recognise: its notes are written
// without reading the lead, and no in-flight marker outlives the push.
func TestNewPersonsNotesAreWrittenWithoutReadingTheLead(t *testing.T) {
	f := newFixture(t)
	r := rec("ask", "1", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620123456"})
	for i := range 3 {
		r = withConversation(r, fmt.Sprintf("room%d", i), msg(fmt.Sprintf("m%d", i), lead.SenderUser, fmt.Sprintf("Question %d", i), t0))
	}
	f.stagePage("ask", r)
	if s := f.drain(); s.Notes != 3 || s.Done != 1 {
		t.Fatalf("drain %+v, want 3 notes", s)
	}
	if f.target.gets != 0 {
		t.Errorf("%d reads of the lead for a lead just created, want 0", f.target.gets)
	}
	f.st.View(func(tx *state.Tx) error {
		sent, _ := tx.Notes("P00000001")
		for k := range sent {
			if strings.HasPrefix(k, noteIntentPrefix) {
				t.Errorf("marker %s left after the push", k)
			}
		}
		return nil
	})
}

// Workers do not wait for their last write, but no more than
// asyncPerWorker per worker may be queued for a commit: with the writer
// held, the workers stop after filling the queue (one more person each,
// waiting for a place), and go on once commits resume.
func TestQueuedLastWritesAreBounded(t *testing.T) {
	f := newFixture(t)
	f.push.concurrency = 2
	bound := 2 * asyncPerWorker
	stop := bound + 2 // persons created before every worker waits
	var recs []lead.Record
	for i := range stop + 3 {
		recs = append(recs, rec("ask", fmt.Sprint(i), "N", "", []string{fmt.Sprintf("p%d@x.tn", i)}, nil))
	}
	f.stagePage("ask", recs...)
	// The intents are written first, so that the drain needs no commit
	// before its workers start.
	f.st.Update(func(tx *state.Tx) error {
		for i := range recs {
			if err := tx.PutIntent(tx.Identity(state.EmailKey(recs[i].Emails[0])), state.Intent{At: f.clock}); err != nil {
				return err
			}
		}
		return nil
	})
	entered, release := make(chan struct{}), make(chan struct{})
	var releaseOnce gosync.Once
	resume := func() { releaseOnce.Do(func() { close(release) }) }
	defer resume() // a failing test must not leave the store locked
	held := make(chan error, 1)
	go func() { held <- f.st.Update(func(*state.Tx) error { close(entered); <-release; return nil }) }()
	<-entered
	var created atomic.Int32
	var resumed, overrun atomic.Bool
	f.target.beforeCreate = func(*lead.Person) {
		if created.Add(1) > int32(stop) && !resumed.Load() {
			overrun.Store(true)
		}
	}
	drained := make(chan PushStats, 1)
	go func() { drained <- f.drain() }()
	// Wait for the queue to fill: every worker has created its person and
	// waits for a place (a guard, not a wait for time to pass).
	start := time.Now()
	for created.Load() < int32(stop) || len(f.push.asyncSlots) < bound {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%d created, %d queued: the queue never filled", created.Load(), len(f.push.asyncSlots))
		}
		runtime.Gosched()
	}
	resumed.Store(true)
	resume()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if s := <-drained; s.Created != stop+3 {
		t.Fatalf("drain %+v, want %d created", s, stop+3)
	}
	if overrun.Load() {
		t.Errorf("more than %d persons created while no commit could run: the queue is not bounded", stop)
	}
}

// groupWatch records the groups of last writes a pusher hands the store.
func groupWatch(f *fixture) *[]int {
	var mu gosync.Mutex
	var sizes []int
	f.push.submit = func(ws ...state.AsyncWrite) {
		mu.Lock()
		sizes = append(sizes, len(ws))
		mu.Unlock()
		f.st.BatchAsync(ws...)
	}
	return &sizes
}

func newPersons(f *fixture, n int) {
	var recs []lead.Record
	for i := range n {
		recs = append(recs, rec("ask", fmt.Sprint(i), "N", "", []string{fmt.Sprintf("p%d@x.tn", i)}, nil))
	}
	f.stagePage("ask", recs...)
}

// The last writes of a drain go to the store lastGroup at a time (one
// commit each), the rest when the workers are done, and all of them are
// committed when Drain returns.
func TestLastWritesGoToTheStoreInGroups(t *testing.T) {
	f := newFixture(t)
	f.push.concurrency = 2
	sizes := groupWatch(f)
	group := 2 * asyncPerWorker / 2
	n := 4*group + 5
	newPersons(f, n)
	if s := f.drain(); s.Created != n {
		t.Fatalf("drain %+v, want %d created", s, n)
	}
	want := []int{group, group, group, group, 5}
	if diff := cmp.Diff(want, *sizes); diff != "" {
		t.Errorf("groups handed to the store (-want +got):\n%s", diff)
	}
	f.st.View(func(tx *state.Tx) error {
		if d := tx.OutboxDepth(); d != 0 {
			t.Errorf("outbox holds %d after the drain: its last writes were not all committed", d)
		}
		return nil
	})
}

// Against a slow CRM a group fills slowly: a write gathered lastMaxWait ago
// goes to the store with the next one, full group or not.
func TestLastWritesWaitAtMostLastMaxWait(t *testing.T) {
	f := newFixture(t)
	f.push.concurrency = 1 // one person at a time: the clock below moves between them
	sizes := groupWatch(f)
	var clock atomic.Int64
	clock.Store(f.clock.UnixNano())
	f.push.now = func() time.Time { return time.Unix(0, clock.Load()) }
	f.target.beforeCreate = func(*lead.Person) { clock.Add(int64(lastMaxWait / 2)) }
	newPersons(f, 6)
	if s := f.drain(); s.Created != 6 {
		t.Fatalf("drain %+v, want 6 created", s)
	}
	// Persons are pushed lastMaxWait/2 apart, and a group holds more than
	// 3 (lastGroup at concurrency 1): the third write of a group finds the
	// first lastMaxWait old, and the group goes with three.
	if diff := cmp.Diff([]int{3, 3}, *sizes); diff != "" {
		t.Errorf("groups handed to the store (-want +got):\n%s", diff)
	}
}

// A person merged into another while its lead is being created: the lead's
// id and its notes are recorded on the survivor, which then updates that
// lead instead of creating a second one and writes no note twice, and
// nothing is recorded for the merged-away id.
func TestPersonMergedAwayWhilePushedHandsItsLeadToTheSurvivor(t *testing.T) {
	f := newFixture(t)
	f.push.concurrency = 1
	f.stagePage("robo", withConversation(rec("robo", "a", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620000001"}), "room1",
		msg("m1", lead.SenderUser, "Hi", t0)))
	var a string
	f.st.View(func(tx *state.Tx) error { a = tx.Identity(state.EmailKey("ali@x.tn")); return nil })
	merged := false
	f.target.beforeCreate = func(*lead.Person) {
		if merged {
			return
		}
		merged = true
		// Bea is staged, then a chat joins Bea's email to Ali's phone: Bea
		// is found first, and Ali is merged into her.
		f.stagePage("chat",
			rec("chat", "b", "Bea", "Cid", []string{"bea@x.tn"}, []string{"+21620000002"}),
			rec("chat", "link", "Bea", "Cid", []string{"bea@x.tn"}, []string{"+21620000001"}))
	}
	f.drain()
	var b, slugA, slugB string
	f.st.View(func(tx *state.Tx) error {
		b = tx.Identity(state.EmailKey("bea@x.tn"))
		slugA, slugB = tx.TargetID(a), tx.TargetID(b)
		return nil
	})
	if b == a {
		t.Fatalf("Ali (%s) was not merged away", a)
	}
	if slugB != "slug-1" || slugA != "" {
		t.Errorf("CRM ids: survivor %s %q, merged-away %s %q; want slug-1 on the survivor only", b, slugB, a, slugA)
	}
	f.clock = f.clock.Add(time.Hour)
	f.drain()
	if leads, _ := f.target.count(); leads != 1 {
		t.Errorf("%d leads in the CRM for one person, want 1", leads)
	}
	l, err := f.target.Get(context.Background(), "slug-1")
	if err != nil {
		t.Fatal(err)
	}
	chats := 0
	for _, n := range l.Notes {
		if strings.Contains(n.Text, "user: Hi") {
			chats++
		}
	}
	if chats != 1 {
		t.Errorf("the conversation is written %d times on the lead, want once: %+v", chats, l.Notes)
	}
	f.st.View(func(tx *state.Tx) error {
		if notes, _ := tx.Notes(a); len(notes) != 0 {
			t.Errorf("notes recorded under the merged-away id: %v", notes)
		}
		return nil
	})
}

// The survivor of such a merge, reached by the same drain while the merged
// person's push is still unrecorded, is not pushed then: it would look the
// new lead up by its own email and phone, miss it and create a second one.
// It waits a moment in the outbox, and the next drain updates the lead.
func TestSurvivorWaitsWhileTheMergedPersonsPushIsUnrecorded(t *testing.T) {
	f := newFixture(t)
	f.push.concurrency = 1
	f.push.chunk = 1 // the survivor, enqueued mid-drain, is read by this drain
	f.push.metrics = NewMetrics("crm")
	f.stagePage("robo",
		rec("robo", "a", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620000001"}),
		rec("robo", "y", "Yan", "Xu", []string{"yan@x.tn"}, []string{"+21620000008"}),
		rec("robo", "z", "Zed", "Yul", []string{"zed@x.tn"}, []string{"+21620000009"}))
	merged := false
	f.target.beforeCreate = func(p *lead.Person) {
		if merged || p.FirstName != "Ali" {
			return
		}
		merged = true
		f.stagePage("chat",
			rec("chat", "b", "Bea", "Cid", []string{"bea@x.tn"}, []string{"+21620000002"}),
			rec("chat", "link", "Bea", "Cid", []string{"bea@x.tn"}, []string{"+21620000001"}))
	}
	if s := f.drain(); s.Created != 3 || s.Retrying != 1 {
		t.Errorf("first drain %+v, want Ali, Yan and Zed created and Bea waiting", s)
	}
	// The wait is a retry for operators too.
	var m dto.Metric
	if err := f.push.metrics.pushes.WithLabelValues("retry").Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetCounter().GetValue(); n != 1 {
		t.Errorf("leadsync_pushes_total{result=\"retry\"} %v after Bea waited, want 1", n)
	}
	f.clock = f.clock.Add(time.Hour)
	if s := f.drain(); s.Created != 0 || s.Updated != 1 {
		t.Errorf("second drain %+v, want Bea's lead (Ali's) updated", s)
	}
	leads, _ := f.target.count()
	if leads != 3 { // Ali-and-Bea's, Yan's and Zed's
		t.Errorf("%d leads in the CRM for three persons, want 3", leads)
	}
	f.st.View(func(tx *state.Tx) error {
		if d := tx.OutboxDepth(); d != 0 {
			t.Errorf("outbox holds %d after the second drain", d)
		}
		if s := tx.TargetID(tx.Identity(state.EmailKey("bea@x.tn"))); s != "slug-1" {
			t.Errorf("survivor's CRM id %q, want slug-1", s)
		}
		return nil
	})
}

// chatCount counts the notes of lead slug that hold text.
func chatCount(t *testing.T, f *fixture, slug, text string) int {
	t.Helper()
	l, err := f.target.Get(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, note := range l.Notes {
		if strings.Contains(note.Text, text) {
			n++
		}
	}
	return n
}

func conflicts(f *fixture) []state.Conflict {
	var cs []state.Conflict
	f.st.View(func(tx *state.Tx) error { cs, _ = tx.Conflicts(); return nil })
	return cs
}

// A person merged, while its lead was created, into one that already has a
// lead: nothing of the new lead is recorded on the survivor (its notes
// would count as written to the survivor's own lead), the two leads are a
// conflict for an operator, and the next drain writes the conversation to
// the survivor's lead.
func TestMergedIntoAPersonWithALeadIsAConflictAndLosesNoNote(t *testing.T) {
	f := newFixture(t)
	f.push.concurrency = 1
	f.stagePage("chat", rec("chat", "b", "Bea", "Cid", []string{"bea@x.tn"}, []string{"+21620000002"}))
	f.drain() // Bea: slug-1
	f.stagePage("robo", withConversation(rec("robo", "a", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620000001"}), "room1",
		msg("m1", lead.SenderUser, "Hi from Ali", t0)))
	f.target.beforeCreate = func(*lead.Person) {
		f.target.beforeCreate = nil
		// Bea has a CRM id: she survives the join.
		f.stagePage("chat", rec("chat", "link", "Bea", "Cid", []string{"bea@x.tn"}, []string{"+21620000001"}))
	}
	f.drain() // Ali: slug-2, merged into Bea meanwhile
	f.clock = f.clock.Add(time.Hour)
	f.drain()
	var slug string
	f.st.View(func(tx *state.Tx) error { slug = tx.TargetID(tx.Identity(state.EmailKey("bea@x.tn"))); return nil })
	if slug != "slug-1" {
		t.Fatalf("survivor's CRM id %q, want its own slug-1", slug)
	}
	if n := chatCount(t, f, "slug-1", "Hi from Ali"); n != 1 {
		t.Errorf("Ali's conversation is on the survivor's lead %d times, want once", n)
	}
	if cs := conflicts(f); len(cs) != 1 || cs[0].Key != "t:slug-2" {
		t.Errorf("conflicts %+v, want one for the second lead slug-2", cs)
	}
}

// TestAPushConflictIsToldOnce: the conflict of the test above is stored
// once, and counted and warned about once, after its commit: the push's
// record of what the CRM answered is committed twice when notes are
// written (the notes' in-flight marks, then the last write), and a group
// commit may run it twice.
func TestAPushConflictIsToldOnce(t *testing.T) {
	f := newFixture(t)
	f.push.concurrency = 1
	var logs bytes.Buffer
	f.push.log = slog.New(slog.NewTextHandler(&logs, nil))
	f.push.metrics = NewMetrics("crm")
	f.stagePage("chat", rec("chat", "b", "Bea", "Cid", []string{"bea@x.tn"}, []string{"+21620000002"}))
	f.drain()
	f.stagePage("robo", withConversation(rec("robo", "a", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620000001"}), "room1",
		msg("m1", lead.SenderUser, "Hi from Ali", t0), msg("m2", lead.SenderAgent, "Hello Ali", t0.Add(time.Minute))))
	f.target.beforeCreate = func(*lead.Person) {
		f.target.beforeCreate = nil
		f.stagePage("chat", rec("chat", "link", "Bea", "Cid", []string{"bea@x.tn"}, []string{"+21620000001"}))
	}
	f.drain()
	f.clock = f.clock.Add(time.Hour)
	f.drain()
	if cs := conflicts(f); len(cs) != 1 {
		t.Fatalf("conflicts %+v, want 1", cs)
	}
	if n := strings.Count(logs.String(), "push conflict"); n != 1 {
		t.Errorf("%d push conflict warnings, want 1:\n%s", n, logs.String())
	}
	var m dto.Metric
	if err := f.push.metrics.conflicts.Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetCounter().GetValue(); n != 1 {
		t.Errorf("leadsync_merge_conflicts_total %v, want 1", n)
	}
}

// Two persons created at once, one merged into the other meanwhile: the
// survivor keeps the first lead recorded, the other lead is a conflict, and
// both conversations end up once on the survivor's lead.
func TestTwoPersonsMergedWhileBothAreCreated(t *testing.T) {
	f := newFixture(t)
	f.push.concurrency = 2
	f.stagePage("robo",
		withConversation(rec("robo", "a", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620000001"}), "room1", msg("m1", lead.SenderUser, "Hi from Ali", t0)),
		withConversation(rec("robo", "b", "Bea", "Cid", []string{"bea@x.tn"}, []string{"+21620000002"}), "room2", msg("m1", lead.SenderUser, "Hi from Bea", t0)))
	var creates atomic.Int32
	gate := make(chan struct{})
	f.target.beforeCreate = func(*lead.Person) {
		switch creates.Add(1) {
		case 1:
			<-gate // the first create waits for the second to have merged them
		case 2:
			f.stagePage("chat", rec("chat", "link", "Bea", "Cid", []string{"bea@x.tn"}, []string{"+21620000001"}))
			close(gate)
		}
	}
	f.drain()
	f.target.beforeCreate = nil
	f.clock = f.clock.Add(time.Hour)
	f.drain()
	var slug string
	f.st.View(func(tx *state.Tx) error { slug = tx.TargetID(tx.Identity(state.EmailKey("bea@x.tn"))); return nil })
	for _, text := range []string{"Hi from Ali", "Hi from Bea"} {
		if n := chatCount(t, f, slug, text); n != 1 {
			t.Errorf("%q is on the survivor's lead %s %d times, want once", text, slug, n)
		}
	}
	if cs := conflicts(f); len(cs) != 1 {
		t.Errorf("conflicts %+v, want one for the second lead", cs)
	}
}

// A push's claim on its records lasts until its last write is committed,
// not until the drain ends: a person holding those records may be pushed
// as soon as the write is recorded.
func TestAClaimEndsWhenTheLastWriteCommits(t *testing.T) {
	f := newFixture(t)
	p := f.push
	p.asyncSlots = make(chan struct{}, 2)
	p.lastGroup = 1
	p.busy, p.claims = map[string]string{}, map[string][]string{}
	keys := []string{"robo\x00a"}
	if !p.claim("A", keys) {
		t.Fatal("a first claim was refused")
	}
	// Hold the writer, so that A's last write waits for its commit.
	entered, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() { held <- f.st.Update(func(*state.Tx) error { close(entered); <-release; return nil }) }()
	<-entered
	p.commitLast("A", func(*state.Tx) error { return nil }, nil)
	if p.claim("B", keys) {
		t.Error("B claimed A's records before A's last write committed")
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	p.async.Wait()
	if !p.claim("B", keys) {
		t.Error("A's records are still claimed after its last write committed")
	}
}

// A failed push hands the gathered last writes of the persons before it to
// the store at once: they do not wait for later pushes, which may fail too.
func TestAFailedPushHandsTheGatheredWritesOver(t *testing.T) {
	f := newFixture(t)
	f.push.concurrency = 1 // groups of 4
	sizes := groupWatch(f)
	newPersons(f, 3)
	creates := 0
	f.target.beforeCreate = func(*lead.Person) {
		if creates++; creates == 2 {
			f.target.failing = 1 // the second person's create fails
		}
	}
	if s := f.drain(); s.Created != 2 || s.Retrying != 1 {
		t.Fatalf("drain %+v, want 2 created and 1 retrying", s)
	}
	if diff := cmp.Diff([]int{1, 1}, *sizes); diff != "" {
		t.Errorf("groups handed to the store (-want +got):\n%s", diff)
	}
}

// merge.priority changed between staging and pushing (a restart with a new
// configuration): the person is pushed once and leaves the outbox. Its
// stored hash is the old configuration's, and comparing it with the hash the
// push computed kept the person in the outbox, pushed again at every drain.
func TestPushAfterAMergeConfigChangeLeavesTheOutbox(t *testing.T) {
	f := newFixture(t)
	f.stagePage("ask", rec("ask", "1", "Ali", "Ben", []string{"ali@x.tn"}, nil))
	f.stagePage("robo", rec("robo", "1", "Alia", "Bensalah", []string{"ali@x.tn"}, nil))
	f.stage.surv.Priority = []string{"robo"} // the names now come from robo
	if s := f.drain(); s.Created != 1 || s.Done != 1 {
		t.Fatalf("first drain %+v, want 1 created", s)
	}
	f.st.View(func(tx *state.Tx) error {
		if d := tx.OutboxDepth(); d != 0 {
			t.Errorf("outbox holds %d after the push", d)
		}
		return nil
	})
	_, before := f.target.count()
	f.clock = f.clock.Add(time.Hour)
	if s := f.drain(); s.Done != 0 {
		t.Errorf("second drain %+v, want nothing pushed again", s)
	}
	if _, after := f.target.count(); after != before {
		t.Errorf("%d CRM writes on the second drain, want 0", after-before)
	}
}
