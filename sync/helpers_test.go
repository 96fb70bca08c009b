package sync

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/lead"
	"github.com/leadsync/leadsync/state"
)

// memTarget is an in-memory CRM for engine tests.
type memTarget struct {
	mu      gosync.Mutex
	leads   map[string]*connectors.TargetLead
	seq     int
	writes  int
	reject  func(p *lead.Person) error // permanent refusals
	failing int                        // transient failures to return before succeeding
	// createLost: the next create lands but its answer is lost (transient error).
	createLost bool
	// failNote: the note writes still to go before one fails (transiently);
	// 0 never fails.
	failNote int
	gets     int // Get calls
	// beforeCreate, when set, runs at the start of every Create, unlocked.
	beforeCreate func(p *lead.Person)
	// statuses holds each lead's status as last written (the person's status
	// word, unmapped).
	statuses map[string]string
}

func newMemTarget() *memTarget {
	return &memTarget{leads: map[string]*connectors.TargetLead{}, statuses: map[string]string{}}
}

func (m *memTarget) status(id string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statuses[id]
}

var errTransient = errors.New("503 from fake")

func (m *memTarget) Find(_ context.Context, email, phone string) ([]connectors.TargetLead, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []connectors.TargetLead
	for _, l := range m.leads {
		if (email != "" && l.Email == email) || (phone != "" && l.Phone == phone) {
			out = append(out, *l)
		}
	}
	return out, nil
}

func (m *memTarget) Create(_ context.Context, p *lead.Person) (string, error) {
	if m.beforeCreate != nil {
		m.beforeCreate(p)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reject != nil {
		if err := m.reject(p); err != nil {
			return "", err
		}
	}
	if m.failing > 0 {
		m.failing--
		return "", errTransient
	}
	m.seq++
	m.writes++
	id := fmt.Sprintf("slug-%d", m.seq)
	m.leads[id] = &connectors.TargetLead{ID: id, FirstName: p.FirstName, LastName: p.LastName, Email: p.Email(), Phone: p.Phone()}
	m.statuses[id] = p.Status
	if m.createLost {
		m.createLost = false
		return "", errTransient
	}
	return id, nil
}

func (m *memTarget) Update(_ context.Context, id string, p *lead.Person) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leads[id]
	if !ok {
		return &connectors.RejectedError{Reason: "Requested lead does not esixt."}
	}
	m.writes++
	l.FirstName, l.LastName, l.Email, l.Phone = p.FirstName, p.LastName, p.Email(), p.Phone()
	m.statuses[id] = p.Status
	return nil
}

func (m *memTarget) Get(_ context.Context, id string) (*connectors.TargetLead, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	l, ok := m.leads[id]
	if !ok {
		return nil, &connectors.RejectedError{Reason: "Requested lead does not esixt."}
	}
	c := *l
	c.Notes = append([]connectors.TargetNote(nil), l.Notes...)
	return &c, nil
}

func (m *memTarget) AddNote(_ context.Context, id, text string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leads[id]
	if !ok {
		return "", &connectors.RejectedError{Reason: "Requested lead does not esixt."}
	}
	if m.failNote > 0 {
		if m.failNote--; m.failNote == 0 {
			return "", errTransient
		}
	}
	if len([]rune(text)) > 499 {
		return "", &connectors.RejectedError{Fields: map[string][]string{"note": {"too long"}}}
	}
	m.writes++
	nid := fmt.Sprintf("n%d", len(l.Notes)+1)
	l.Notes = append(l.Notes, connectors.TargetNote{ID: nid, Text: text})
	return nid, nil
}

func (m *memTarget) MaxNoteLen() int { return 499 }

func (m *memTarget) count() (leads, writes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.leads), m.writes
}

// fixture is a store, a stager and a pusher over a memTarget, with a clock
// the test moves.
type fixture struct {
	t      *testing.T
	st     *state.Store
	stage  *stager
	push   *pusher
	target *memTarget
	clock  time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), "s.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, st: st, target: newMemTarget(), clock: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}
	now := func() time.Time { return f.clock }
	f.stage = &stager{surv: Survivorship{Target: "crm"}, now: now}
	f.push = &pusher{st: st, stage: f.stage, target: f.target, name: "crm", concurrency: 2,
		log: discardLogger(), now: now, maxBackoff: time.Minute}
	return f
}

func (f *fixture) stagePage(instance string, recs ...lead.Record) StageStats {
	f.t.Helper()
	s, err := f.stage.StagePage(f.st, instance, connectors.Page{Label: "page 1", Records: recs, Cursor: connectors.Cursor("c")})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) drain() PushStats {
	f.t.Helper()
	s, _, err := f.push.Drain(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) persons() int {
	n := 0
	f.st.View(func(tx *state.Tx) error { n = tx.Counts()["persons"]; return nil })
	return n
}

func rec(src, id, first, last string, emails, phones []string) lead.Record {
	return lead.Record{Source: src, SourceID: id, FirstName: first, LastName: last, Emails: emails, Phones: phones}
}
