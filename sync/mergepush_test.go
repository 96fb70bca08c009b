package sync

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/lead"
	"github.com/leadsync/leadsync/state"
)

// TestMergesDuringPushesLeaveNoSilentDuplicate stages, while leads are
// being created, records that join random pairs of persons (the way a chat
// with one person's email and another's phone does) and leads of the CRM
// read back by its own source, then drains until the outbox is empty.
// Whatever the interleaving:
//   - every lead in the CRM is the CRM id of exactly one person, or a
//     recorded conflict (an operator's to join): no silent second lead;
//   - each person's lead holds every message of its records exactly once.
func TestMergesDuringPushesLeaveNoSilentDuplicate(t *testing.T) {
	var joins, polls, conflicts int
	for seed := range uint64(24) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			j, p, c := mergeDuringPushes(t, seed)
			joins, polls, conflicts = joins+j, polls+p, conflicts+c
		})
	}
	// The seeds must make the races this test is about, or it proves nothing.
	if joins == 0 || polls == 0 || conflicts == 0 {
		t.Errorf("%d joining records, %d CRM leads polled back, %d conflicts over all seeds: the interleavings were not exercised",
			joins, polls, conflicts)
	}
}

// mergeDuringPushes runs one seed; it returns the joining records and the
// CRM leads read back that it staged, and the conflicts recorded.
func mergeDuringPushes(t *testing.T, seed uint64) (joins, polls, conflicts int) {
	const n = 24
	rng := rand.New(rand.NewPCG(seed, 99))
	f := newFixture(t)
	f.push.concurrency = 1 + int(seed%4)
	f.push.chunk = 1 + int(seed%3)
	email := func(i int) string { return fmt.Sprintf("p%d@x.tn", i) }
	phone := func(i int) string { return fmt.Sprintf("+2162000%04d", i) }
	var recs []lead.Record
	for i := range n {
		recs = append(recs, withConversation(rec("robo", fmt.Sprint(i), fmt.Sprintf("N%d", i), "L", []string{email(i)}, []string{phone(i)}),
			fmt.Sprintf("room%d", i), msg("m1", lead.SenderUser, fmt.Sprintf("message-of-%d.", i), t0)))
	}
	f.stagePage("robo", recs...)

	var mu gosync.Mutex // the hook runs on push workers
	links, polled, stageErrs := 0, 0, []error{}
	f.target.beforeCreate = func(*lead.Person) {
		mu.Lock()
		defer mu.Unlock()
		if links >= n/2 || rng.IntN(3) != 0 {
			return
		}
		if rng.IntN(2) == 0 {
			// The CRM polled as a source: one of its leads comes back.
			f.target.mu.Lock()
			var ls []connectors.TargetLead
			for _, l := range f.target.leads {
				ls = append(ls, *l)
			}
			f.target.mu.Unlock()
			if len(ls) > 0 {
				l := ls[rng.IntN(len(ls))]
				links++
				polled++
				r := rec("crm", l.ID, l.FirstName, l.LastName, []string{l.Email}, []string{l.Phone})
				r.TargetID = l.ID
				if _, err := f.stage.StagePage(f.st, "crm", connectors.Page{Label: "crm", Records: []lead.Record{r}}); err != nil {
					stageErrs = append(stageErrs, err)
				}
				return
			}
		}
		a, b := rng.IntN(n), rng.IntN(n)
		links++
		link := rec("chat", fmt.Sprintf("link%d", links), "N", "L", []string{email(a)}, []string{phone(b)})
		if _, err := f.stage.StagePage(f.st, "chat", connectors.Page{Label: "link", Records: []lead.Record{link}}); err != nil {
			stageErrs = append(stageErrs, err)
		}
	}
	for range 10 {
		if _, _, err := f.push.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.clock = f.clock.Add(time.Hour)
		depth := 0
		f.st.View(func(tx *state.Tx) error { depth = tx.OutboxDepth(); return nil })
		if depth == 0 {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stageErrs) > 0 {
		t.Fatal(stageErrs)
	}

	owners := map[string][]string{} // lead -> persons pointing at it
	conflictKeys := map[string]bool{}
	messages := map[string][]string{} // person -> its message texts
	f.st.View(func(tx *state.Tx) error {
		if d := tx.OutboxDepth(); d != 0 {
			t.Errorf("outbox still holds %d after the drains", d)
		}
		cs, _ := tx.Conflicts()
		for _, c := range cs {
			conflictKeys[strings.TrimPrefix(c.Key, "t:")] = true
		}
		return tx.ForEachPerson(func(p state.Person) error {
			if slug := tx.TargetID(p.ID); slug != "" {
				owners[slug] = append(owners[slug], p.ID)
			}
			for _, k := range p.Records {
				r, ok, err := tx.RecordFields(k)
				if err != nil || !ok {
					return err
				}
				for _, c := range r.Record.Conversations {
					for _, m := range c.Messages {
						messages[p.ID] = append(messages[p.ID], m.Text)
					}
				}
			}
			return nil
		})
	})
	f.target.mu.Lock()
	leads := map[string]*connectors.TargetLead{}
	for id, l := range f.target.leads {
		c := *l
		c.Notes = append([]connectors.TargetNote(nil), l.Notes...)
		leads[id] = &c
	}
	f.target.mu.Unlock()
	for slug := range leads {
		switch ps := owners[slug]; {
		case len(ps) > 1:
			t.Errorf("lead %s is the CRM id of %v", slug, ps)
		case len(ps) == 0 && !conflictKeys[slug]:
			t.Errorf("lead %s belongs to no person and no conflict names it: a silent duplicate", slug)
		}
	}
	for slug, ps := range owners {
		l, ok := leads[slug]
		if !ok {
			t.Errorf("person %v points at lead %s, which the CRM does not have", ps, slug)
			continue
		}
		for _, text := range messages[ps[0]] {
			k := 0
			for _, note := range l.Notes {
				k += strings.Count(note.Text, text)
			}
			if k != 1 {
				t.Errorf("person %s: %q is on its lead %s %d times, want once", ps[0], text, slug, k)
			}
		}
	}
	t.Logf("seed %d: %d joining records, %d CRM leads polled back, %d leads, %d conflicts", seed, links-polled, polled, len(leads), len(conflictKeys))
	return links - polled, polled, len(conflictKeys)
}
