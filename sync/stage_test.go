package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/lead"
	"github.com/leadsync/leadsync/state"
)

func TestStagePageStoresRecordsPersonsOutboxAndCursorTogether(t *testing.T) {
	f := newFixture(t)
	s := f.stagePage("ask", rec("ask", "1", "Ali", "Ben", []string{"ali@x.tn"}, nil), rec("ask", "2", "Sara", "K", nil, []string{"+21620123456"}))
	if s.Changed != 2 || s.Enqueued != 2 {
		t.Fatalf("stats = %+v, want 2 changed, 2 enqueued", s)
	}
	f.st.View(func(tx *state.Tx) error {
		c, ok, _ := tx.Cursor("ask")
		if !ok || string(c.Cursor) != "c" {
			t.Errorf("cursor = %q, %v", c.Cursor, ok)
		}
		if d := tx.OutboxDepth(); d != 2 {
			t.Errorf("outbox depth %d, want 2", d)
		}
		return nil
	})
}

func TestStagePageFailureStoresNothingOfThePage(t *testing.T) {
	f := newFixture(t)
	f.stagePage("ask", rec("ask", "1", "Ali", "Ben", []string{"ali@x.tn"}, nil))
	boom := errors.New("disk full")
	f.stage.beforeCommit = func() error { return boom }
	_, err := f.stage.StagePage(f.st, "ask", connectors.Page{Label: "page 2",
		Records: []lead.Record{rec("ask", "2", "Sara", "K", []string{"sara@x.tn"}, nil)}, Cursor: connectors.Cursor("c2")})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	f.st.View(func(tx *state.Tx) error {
		if _, ok, _ := tx.Record("ask\x002"); ok {
			t.Error("record of the failed page was stored")
		}
		if c, _, _ := tx.Cursor("ask"); string(c.Cursor) != "c" {
			t.Errorf("cursor moved to %q with a failed page", c.Cursor)
		}
		if tx.Identity(state.EmailKey("sara@x.tn")) != "" {
			t.Error("identity of the failed page was stored")
		}
		return nil
	})
}

func TestRestagingUnchangedRecordsEnqueuesNothing(t *testing.T) {
	f := newFixture(t)
	r := rec("ask", "1", "Ali", "Ben", []string{"ali@x.tn"}, nil)
	f.stagePage("ask", r)
	f.drain()
	r.Raw = []byte(`{"volatile": 2}`) // raw changes alone are not content changes
	s := f.stagePage("ask", r)
	if s.Unchanged != 1 || s.Enqueued != 0 {
		t.Fatalf("stats = %+v, want 1 unchanged, 0 enqueued", s)
	}
}

func TestJoinsAreTransitive(t *testing.T) {
	f := newFixture(t)
	f.stagePage("a", rec("a", "1", "Ali", "", []string{"ali@x.tn"}, nil))
	f.stagePage("c", rec("c", "3", "", "", []string{"ali.work@x.tn"}, nil))
	if f.persons() != 2 {
		t.Fatalf("persons = %d before the bridge, want 2", f.persons())
	}
	f.stagePage("b", rec("b", "2", "", "", []string{"ali@x.tn", "ali.work@x.tn"}, []string{"+21620123456"}))
	if f.persons() != 1 {
		t.Fatalf("persons = %d after A-B-C bridge, want 1", f.persons())
	}
}

// TestAContactNoRecordGivesAnyMoreIdentifiesNobody: Ali's record corrects
// a mistyped email. The address he no longer gives is Sami's, who must
// become a person of his own, not join Ali. An address another of Ali's
// records still gives keeps identifying Ali, also when the record that gives
// it comes in the same page as the change.
func TestAContactNoRecordGivesAnyMoreIdentifiesNobody(t *testing.T) {
	f := newFixture(t)
	ali := rec("a", "1", "Ali", "Ben", []string{"sami@x.tn"}, []string{"+21620123456"})
	f.stagePage("a", ali)
	ali.Emails = []string{"ali@x.tn"}
	f.stagePage("a", ali)
	f.stagePage("b", rec("b", "7", "Sami", "Trabelsi", []string{"sami@x.tn"}, nil))
	if n := f.persons(); n != 2 {
		t.Fatalf("%d persons, want Ali and Sami apart", n)
	}
	owner := func(key string) string {
		var p string
		f.st.View(func(tx *state.Tx) error { p = tx.Identity(key); return nil })
		return p
	}
	aliID := owner(state.PhoneKey("+21620123456"))
	if o := owner(state.EmailKey("sami@x.tn")); o == aliID || o == "" {
		t.Fatalf("sami@x.tn identifies %q, want Sami's own person (Ali is %s)", o, aliID)
	}

	// A second record gives ali@x.tn; the first stops giving it.
	f.stagePage("c", rec("c", "1", "", "", []string{"ali@x.tn"}, nil))
	ali.Emails = []string{"ali.new@x.tn"}
	f.stagePage("a", ali)
	if o := owner(state.EmailKey("ali@x.tn")); o != aliID {
		t.Fatalf("ali@x.tn identifies %q, want Ali (%s): record c still gives it", o, aliID)
	}
	// In one page: record a/1 gives ali.new@x.tn up, record a/2 gives it.
	ali.Emails = nil
	f.stagePage("a", ali, rec("a", "2", "", "", []string{"ali.new@x.tn", "ali@x.tn"}, nil))
	if o := owner(state.EmailKey("ali.new@x.tn")); o != aliID {
		t.Fatalf("ali.new@x.tn identifies %q, want Ali (%s): record a/2 gives it", o, aliID)
	}
	if n := f.persons(); n != 2 {
		t.Fatalf("%d persons, want 2", n)
	}
}

// twoCRMPersons stages Ali and Sami and pushes both (each has a CRM id),
// and collects the conflicts the stager reports from then on.
func twoCRMPersons(t *testing.T) (*fixture, *[]state.Conflict) {
	f := newFixture(t)
	f.stagePage("a", rec("a", "1", "Ali", "B", []string{"ali@x.tn"}, []string{"+21620123456"}))
	f.stagePage("b", rec("b", "1", "Sami", "C", []string{"sami@x.tn"}, []string{"+21698123456"}))
	f.drain()
	var conflicts []state.Conflict
	f.stage.conflict = func(c state.Conflict) { conflicts = append(conflicts, c) }
	return f, &conflicts
}

func TestRecordJoiningTwoCRMLeadsIsAConflictNotAMerge(t *testing.T) {
	f, conflicts := twoCRMPersons(t)
	s := f.stagePage("c", rec("c", "9", "", "", []string{"ali@x.tn", "sami@x.tn"}, nil))
	if s.Conflicts != 1 || len(*conflicts) != 1 {
		t.Fatalf("conflicts = %d (%v), want 1", s.Conflicts, *conflicts)
	}
	if f.persons() != 2 {
		t.Fatalf("persons = %d, want the two CRM persons kept apart", f.persons())
	}
	f.st.View(func(tx *state.Tx) error {
		cs, _ := tx.Conflicts()
		if len(cs) != 1 {
			t.Errorf("stored conflicts = %d, want 1", len(cs))
		}
		return nil
	})
}

// A page speculated while another page commits is staged again, not
// applied stale: the other page took the person id the speculation gave
// Zed. Its conflict is reported once, for the page as committed.
func TestAStaleSpeculationIsStagedAgainAndReportsItsConflictOnce(t *testing.T) {
	f, conflicts := twoCRMPersons(t)
	page := connectors.Page{Label: "page c", Cursor: connectors.Cursor("c"), Records: []lead.Record{
		rec("c", "9", "", "", []string{"ali@x.tn", "sami@x.tn"}, nil),
		rec("c", "10", "Zed", "", []string{"zed@x.tn"}, nil),
	}}
	sp := f.stage.speculate(f.st, f.stage.prepare("c", page), nil)
	f.stagePage("d", rec("d", "1", "Dora", "", []string{"dora@x.tn"}, nil)) // commits meanwhile
	stats, rerun, err := f.stage.commitSpeculated(f.st, sp)
	if err != nil || !rerun {
		t.Fatalf("commitSpeculated: rerun %v, err %v; want the page staged again", rerun, err)
	}
	if stats.Conflicts != 1 || len(*conflicts) != 1 {
		t.Errorf("conflicts: %d counted, %d reported; want 1 and 1", stats.Conflicts, len(*conflicts))
	}
	if n := f.persons(); n != 4 {
		t.Errorf("%d persons, want 4 (Ali, Sami, Dora, Zed)", n)
	}
	f.st.View(func(tx *state.Tx) error {
		if z, d := tx.Identity(state.EmailKey("zed@x.tn")), tx.Identity(state.EmailKey("dora@x.tn")); z == "" || z == d {
			t.Errorf("Zed is %q and Dora %q: want two persons", z, d)
		}
		return nil
	})
	if c := f.cursor("c"); c != "c" {
		t.Errorf("cursor %q, want c", c)
	}
}

func TestMergeOfTwoPersonsWithoutCRMIdsKeepsOneOutboxEntry(t *testing.T) {
	f := newFixture(t)
	f.stagePage("a", rec("a", "1", "Ali", "", []string{"ali@x.tn"}, nil), rec("a", "2", "", "", nil, []string{"+21620123456"}))
	f.stagePage("b", rec("b", "1", "", "Ben", []string{"ali@x.tn"}, []string{"+21620123456"}))
	f.st.View(func(tx *state.Tx) error {
		if d := tx.OutboxDepth(); d != 1 {
			t.Errorf("outbox depth %d, want 1", d)
		}
		return nil
	})
	s := f.drain()
	if s.Created != 1 {
		t.Fatalf("created %d, want 1", s.Created)
	}
}

func TestSurvivorship(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := lead.Record{Source: "ask", SourceID: "1", FirstName: "Old", LastName: "Name", Emails: []string{"a@x.tn"}, UpdatedAt: t0}
	newer := lead.Record{Source: "bp", SourceID: "1", FirstName: "New", Emails: []string{"b@x.tn"}, UpdatedAt: t0.Add(time.Hour)}
	tests := []struct {
		name       string
		priority   []string
		wantFirst  string
		wantLast   string
		wantEmails []string
	}{
		{"most recent wins without priority", nil, "New", "Name", []string{"b@x.tn", "a@x.tn"}},
		{"priority beats recency", []string{"ask"}, "Old", "Name", []string{"a@x.tn", "b@x.tn"}},
		{"empty never overwrites a filled value", []string{"bp"}, "New", "Name", []string{"b@x.tn", "a@x.tn"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Survivorship{Priority: tc.priority}.Merge("P1", []lead.Record{old, newer})
			if p.FirstName != tc.wantFirst || p.LastName != tc.wantLast {
				t.Errorf("name = %q %q, want %q %q", p.FirstName, p.LastName, tc.wantFirst, tc.wantLast)
			}
			if diff := cmp.Diff(tc.wantEmails, p.Emails); diff != "" {
				t.Errorf("emails (-want +got):\n%s", diff)
			}
			if p.Won["last_name"] != "ask:1" {
				t.Errorf("last_name won by %q, want ask:1", p.Won["last_name"])
			}
		})
	}
}

// TestMergeIsIndependentOfOrderAndRepetition stages the same records in
// many random orders, with repetitions, and checks that the persons (as
// sets of record keys) and their merged fields never change.
func TestMergeIsIndependentOfOrderAndRepetition(t *testing.T) {
	base := messyRecords()
	want := partition(t, base)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 25 {
		recs := slices.Clone(base)
		r.Shuffle(len(recs), func(a, b int) { recs[a], recs[b] = recs[b], recs[a] })
		for range r.IntN(5) {
			recs = append(recs, recs[r.IntN(len(recs))])
		}
		got := partition(t, recs)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("order %d: persons differ (-want +got):\n%s", i, diff)
		}
	}
}

func messyRecords() []lead.Record {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return []lead.Record{
		{Source: "a", SourceID: "1", FirstName: "Ali", Emails: []string{"ali@x.tn"}, UpdatedAt: t0},
		{Source: "b", SourceID: "1", LastName: "Ben Salah", Phones: []string{"+21620123456"}, Emails: []string{"ali@x.tn"}, UpdatedAt: t0.Add(time.Hour)},
		{Source: "c", SourceID: "7", FirstName: "Aly", Phones: []string{"+21620123456"}, UpdatedAt: t0.Add(2 * time.Hour)},
		{Source: "a", SourceID: "2", FirstName: "Sara", Emails: []string{"sara@x.tn"}},
		{Source: "d", SourceID: "x", FirstName: "Sarra", Emails: []string{"sara@x.tn"}, Phones: []string{"+33612345678"}},
		{Source: "c", SourceID: "8", FirstName: "Nour", Phones: []string{"+21698000111"}},
		{Source: "b", SourceID: "5", FirstName: "Lone", OtherPhones: []string{"12"}},
	}
}

// partition stages recs one page per record and returns each person as its
// sorted record keys mapped to its merged fields.
func partition(t *testing.T, recs []lead.Record) map[string]lead.Person {
	f := newFixture(t)
	for _, r := range recs {
		f.stagePage(r.Source, r)
	}
	out := map[string]lead.Person{}
	f.st.View(func(tx *state.Tx) error {
		return tx.ForEachPerson(func(p state.Person) error {
			_, _, m, _, err := f.stage.loadPerson(tx, p.ID)
			keys := slices.Clone(p.Records)
			slices.Sort(keys)
			m.ID = ""
			out[strings.ReplaceAll(strings.Join(keys, ","), "\x00", ":")] = m
			return err
		})
	})
	return out
}

// A record's hash ignores its raw payload, changes with its content, and
// is the one earlier builds stored (sha256 of the record's JSON without raw,
// 16 bytes in hex), so records staged by them still read as unchanged. The
// encoding it returns is the one PutRecordWithoutRaw stores (state tests
// check that gives PutRecord's bytes).
func TestRecordHashIgnoresRawAndKeepsItsFormat(t *testing.T) {
	r := rec("ask", "1", "Ali", "Ben", []string{"ali@x.tn"}, []string{"+21620123456"})
	r.Raw = []byte(`{"seen_at":"2026-12-03T10:00:00Z"}`)
	h, noRaw := recordHash(&r)
	c := r
	c.Raw = []byte(`{"seen_at":"2026-12-03T11:00:00Z"}`)
	if h2, _ := recordHash(&c); h2 != h {
		t.Errorf("the raw payload changed the hash: %s, then %s", h, h2)
	}
	c.LastName = "Benali"
	if h2, _ := recordHash(&c); h2 == h {
		t.Error("a new last name left the hash as it was")
	}
	c = r
	c.Raw = nil
	b, err := gojson.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if want := hex.EncodeToString(sum[:16]); h != want {
		t.Errorf("hash %s, earlier builds stored %s", h, want)
	}
	want, err := state.EncodeRecordWithoutRaw(&r)
	if err != nil {
		t.Fatal(err)
	}
	if string(noRaw) != string(want) {
		t.Errorf("the returned encoding is\n%s\nwant EncodeRecordWithoutRaw's, which PutRecordWithoutRaw stores\n%s", noRaw, want)
	}
}
