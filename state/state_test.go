package state

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/leadsync/leadsync/lead"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestStoredFormatGolden pins the bytes of every stored value type: a change
// to the format must be deliberate (bump Version, write a migration) and
// shows up here.
func TestStoredFormatGolden(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	values := []struct {
		name string
		v    any
	}{
		{"cursor", Cursor{Cursor: []byte(`{"date":"2026-11-01"}`), SavedAt: at}},
		{"record", StoredRecord{Person: "P00000001", Hash: "abc", Record: lead.Record{Source: "ask", SourceID: "u1", FirstName: "Ali", Emails: []string{"ali@x.tn"}, Phones: []string{"+21620123456"}, CreatedAt: at,
			Conversations: []lead.Conversation{{ID: "r1", Messages: []lead.Message{{ID: "m1", Sender: lead.SenderUser, Text: "Hi", At: at}}}}}}},
		{"person", Person{ID: "P00000001", Records: []string{"ask\x00u1"}, Hash: "h1", PushedHash: "h0", PushedFields: "f0", UpdatedAt: at}},
		{"outbox", OutboxItem{Attempts: 2, NextAt: at, LastError: "HTTP 503", EnqueuedAt: at}},
		{"dlq", DLQEntry{ID: "D000001", Person: "P00000001", Emails: []string{"ali@x.tn"}, Reason: "rejected: phone: required", Fields: map[string][]string{"phone": {"required"}}, At: at}},
		{"intent", Intent{At: at}},
		{"conflict", Conflict{Record: "ask\x00u1", Persons: []string{"P1", "P2"}, Key: "e:ali@x.tn", At: at}},
	}
	var b strings.Builder
	for _, v := range values {
		raw, err := encode(v.v)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(v.name + " " + string(raw) + "\n")
	}
	golden := filepath.Join("testdata", "format.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Fatalf("stored format changed (-golden +now); bump state.Version and migrate, or run with -update:\n%s", diff)
	}
}

// openStore opens the store at path or fails the test.
func openStore(tb testing.TB, path string) *Store {
	tb.Helper()
	s, err := Open(path, time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestDecodeRefusesOtherVersions(t *testing.T) {
	var c Cursor
	err := decode([]byte(`{"v":2,"d":{}}`), &c)
	if err == nil || !strings.Contains(err.Error(), "v2") {
		t.Fatalf("err = %v, want a version error naming v2", err)
	}
}

func TestSecondOpenFailsFastWithClearMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path)
	defer s.Close()
	_, err := Open(path, 50*time.Millisecond)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another leadsync process") {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

func TestStateFileMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path)
	s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestCompactGivesBackSpaceAfterDeletions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path)
	big := strings.Repeat("x", 2000)
	s.Update(func(tx *Tx) error {
		for i := range 3000 {
			tx.PutRecord(string(rune('a'+i%26))+strings.Repeat("k", i%50)+string(rune(i)), StoredRecord{Hash: "h", Record: lead.Record{Context: big}})
		}
		return nil
	})
	s.Update(func(tx *Tx) error {
		c := tx.b(bRecords).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	s.Close()
	before, after, err := Compact(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if after >= before/2 {
		t.Fatalf("compaction %d -> %d bytes, want at least half given back", before, after)
	}
	s, err = Open(path, time.Second)
	if err != nil {
		t.Fatalf("reopening after compaction: %v", err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// A store past bbolt's 16 MB growth step, with nothing to give back,
// comes out of compaction no larger than it went in, and its file holds
// its data and no space grown ahead of it.
func TestCompactedFileIsTheSizeOfItsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path)
	big := strings.Repeat("x", 2000)
	for page := range 10 {
		if err := s.Update(func(tx *Tx) error {
			for i := range 1000 {
				if err := tx.PutRecord(fmt.Sprintf("r%02d-%04d", page, i), StoredRecord{Hash: "h", Record: lead.Record{Context: big}}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	before, after, err := Compact(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, time.Second)
	if err != nil {
		t.Fatalf("reopening after compaction: %v", err)
	}
	defer s.Close()
	data, err := s.Size()
	if err != nil {
		t.Fatal(err)
	}
	if data < 16<<20 {
		t.Fatalf("the store holds %d bytes: too little to pass bbolt's growth step", data)
	}
	if after > before || after > data+1<<20 {
		t.Errorf("compaction %d -> %d bytes for %d bytes of data: the copy holds space grown ahead of its data", before, after, data)
	}
	if fi, err := os.Stat(path); err != nil {
		t.Error(err)
	} else if fi.Size() != after {
		t.Errorf("Compact reported %d bytes, the file has %d", after, fi.Size())
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestDueHonoursNextAt(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	s.Update(func(tx *Tx) error {
		tx.Enqueue("P1", now)
		tx.PutOutbox("P2", OutboxItem{NextAt: now.Add(time.Minute)})
		return nil
	})
	s.View(func(tx *Tx) error {
		due, next, err := tx.Due(now, 0)
		if err != nil || len(due) != 1 || due[0] != "P1" || !next.Equal(now.Add(time.Minute)) {
			t.Fatalf("due %v next %v err %v", due, next, err)
		}
		return nil
	})
}

// Enqueueing a person already waiting keeps its entry: a person restaged
// while in backoff is not retried early, and is counted once.
func TestEnqueueKeepsAnEntryInBackoff(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	backoff := OutboxItem{Attempts: 3, NextAt: now.Add(time.Hour), LastError: "HTTP 503", EnqueuedAt: now}
	s.Update(func(tx *Tx) error {
		if err := tx.PutOutbox("P1", backoff); err != nil {
			return err
		}
		return tx.Enqueue("P1", now)
	})
	s.View(func(tx *Tx) error {
		it, ok, err := tx.OutboxItem("P1")
		if err != nil || !ok || !cmp.Equal(it, backoff) {
			t.Errorf("entry after Enqueue = %+v, %v, %v; want %+v", it, ok, err, backoff)
		}
		if d := tx.OutboxDepth(); d != 1 {
			t.Errorf("outbox depth %d, want 1", d)
		}
		return nil
	})
}

// TestRecordHashFallsBackToTheRecordAndFillsTheBucket covers a store
// written before the hashes had their own bucket: the hash is read from the
// record once, then from the bucket.
func TestRecordHashFallsBackToTheRecordAndFillsTheBucket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path)
	if err := s.Update(func(tx *Tx) error {
		if err := tx.PutRecord("ask\x00u1", StoredRecord{Person: "P1", Hash: "h1"}); err != nil {
			return err
		}
		// as an older leadsync left it: no hashes bucket, and no mark
		if err := tx.tx.Bucket(bMeta).Delete(metaAllHashes); err != nil {
			return err
		}
		return tx.tx.DeleteBucket(bRecHashes)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, path)
	defer s.Close()
	s.View(func(tx *Tx) error {
		if h, ok, err := tx.RecordHash("ask\x00u1"); h != "h1" || !ok || err != nil {
			t.Errorf("read-only RecordHash = %q, %v, %v; want h1 from the record", h, ok, err)
		}
		if _, ok, _ := tx.RecordHash("ask\x00none"); ok {
			t.Error("RecordHash found a record never staged")
		}
		return nil
	})
	s.Update(func(tx *Tx) error {
		if h, ok, err := tx.RecordHash("ask\x00u1"); h != "h1" || !ok || err != nil {
			t.Errorf("RecordHash = %q, %v, %v; want h1 from the record", h, ok, err)
		}
		return nil
	})
	s.View(func(tx *Tx) error {
		if v := tx.b(bRecHashes).Get([]byte("ask\x00u1")); string(v) != "h1" {
			t.Errorf("hashes bucket holds %q after the fallback, want h1", v)
		}
		return nil
	})
}

// A store created empty keeps every record's hash in the hashes bucket and
// says so (metaAllHashes), from one opening to the next: RecordHash then
// does not look for a record whose hash is not there. A store with records
// and without the mark (an older leadsync's) is not marked on opening.
func TestANewStoreLooksForHashesInTheirBucketOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path)
	if err := s.Update(func(tx *Tx) error {
		if err := tx.PutRecord("ask\x00u1", StoredRecord{Person: "P1", Hash: "h1"}); err != nil {
			return err
		}
		return tx.tx.Bucket(bRecHashes).Delete([]byte("ask\x00u1")) // lost, as it never is
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, path)
	s.View(func(tx *Tx) error {
		if _, ok, _ := tx.RecordHash("ask\x00u1"); ok {
			t.Error("RecordHash read the record of a store that keeps every hash in its bucket")
		}
		return nil
	})
	s.Update(func(tx *Tx) error { return tx.tx.Bucket(bMeta).Delete(metaAllHashes) })
	s.Close()
	s = openStore(t, path)
	defer s.Close()
	s.View(func(tx *Tx) error {
		if h, ok, _ := tx.RecordHash("ask\x00u1"); !ok || h != "h1" {
			t.Errorf("unmarked store with records: RecordHash = %q, %v; want h1 from the record", h, ok)
		}
		return nil
	})
}

// Compaction marks a store not marked yet whose every record has its hash
// in the hashes bucket (an older leadsync's, once its hashes were copied
// over), and leaves unmarked one with a record whose hash is not there.
func TestCompactMarksAStoreWhoseRecordsAllHaveHashes(t *testing.T) {
	for _, c := range []struct {
		name     string
		lostHash bool
		want     bool
	}{{"every hash there", false, true}, {"a hash missing", true, false}} {
		path := filepath.Join(t.TempDir(), "s.db")
		s := openStore(t, path)
		if err := s.Update(func(tx *Tx) error {
			for _, k := range []string{"ask\x00u1", "ask\x00u2", "robo\x001"} {
				if err := tx.PutRecord(k, StoredRecord{Person: "P1", Hash: "h-" + k}); err != nil {
					return err
				}
			}
			if c.lostHash {
				if err := tx.tx.Bucket(bRecHashes).Delete([]byte("ask\x00u2")); err != nil {
					return err
				}
			}
			return tx.tx.Bucket(bMeta).Delete(metaAllHashes) // as an older leadsync's store
		}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, _, err := Compact(path, time.Second); err != nil {
			t.Fatal(err)
		}
		s = openStore(t, path)
		if s.allHashes != c.want {
			t.Errorf("%s: marked %v after compaction, want %v", c.name, s.allHashes, c.want)
		}
		s.View(func(tx *Tx) error {
			if h, ok, _ := tx.RecordHash("ask\x00u2"); c.lostHash && (!ok || h != "h-ask\x00u2") {
				t.Errorf("%s: RecordHash = %q, %v; want the record's own hash", c.name, h, ok)
			}
			return nil
		})
		s.Close()
	}
}

// TestCountersMatchBucketSizesAfterRandomOperations drives every method
// that adds or removes persons, outbox and DLQ entries and conflicts, with
// repeats (an entry put twice, a key deleted that is not there), across
// transactions, one of them rolled back, and compares the kept counters
// with what bbolt counts by walking the buckets.
func TestCountersMatchBucketSizesAfterRandomOperations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path)
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	id := func(prefix string) string { return fmt.Sprintf("%s%d", prefix, rng.IntN(30)) }
	var dlqIDs []string
	step := func(tx *Tx) error {
		switch rng.IntN(9) {
		case 0:
			p, _, err := tx.Person(id("P"))
			if err != nil {
				return err
			}
			p.ID = id("P")
			return tx.PutPerson(p)
		case 1:
			nid, err := tx.NewPersonID()
			if err != nil {
				return err
			}
			return tx.PutPerson(Person{ID: nid})
		case 2:
			return tx.DeletePerson(id("P"))
		case 3:
			return tx.Enqueue(id("P"), now)
		case 4:
			return tx.PutOutbox(id("P"), OutboxItem{Attempts: 1, NextAt: now})
		case 5:
			return tx.Dequeue(id("P"))
		case 6:
			d, err := tx.AddDLQ(DLQEntry{Person: id("P")})
			dlqIDs = append(dlqIDs, d)
			return err
		case 7:
			if len(dlqIDs) == 0 {
				return tx.DeleteDLQ("D999999")
			}
			return tx.DeleteDLQ(dlqIDs[rng.IntN(len(dlqIDs))])
		default:
			return tx.PutConflict(Conflict{Record: id("r"), Key: id("e:")})
		}
	}
	check := func(when string) {
		t.Helper()
		s.View(func(tx *Tx) error {
			got := tx.Counts()
			want := map[string]int{}
			for _, b := range countedBuckets {
				want[string(b)] = tx.b(b).Stats().KeyN
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s: counters differ from the buckets (-walked +kept):\n%s", when, diff)
			}
			if tx.OutboxDepth() != want["outbox"] || tx.DLQDepth() != want["dlq"] {
				t.Fatalf("%s: OutboxDepth %d DLQDepth %d, want %d %d", when, tx.OutboxDepth(), tx.DLQDepth(), want["outbox"], want["dlq"])
			}
			return nil
		})
	}
	for round := range 20 {
		err := s.Update(func(tx *Tx) error {
			for range 50 {
				if err := step(tx); err != nil {
					return err
				}
			}
			if round == 7 {
				return errors.New("roll back")
			}
			return nil
		})
		if err != nil && round != 7 {
			t.Fatal(err)
		}
		check(fmt.Sprintf("round %d", round))
	}
	s.View(func(tx *Tx) error {
		if c := tx.Counts(); c["persons"] == 0 || c["outbox"] == 0 || c["conflicts"] == 0 {
			t.Fatalf("counts %v: the mix should leave entries in every bucket", c)
		}
		return nil
	})
}

// TestOpenCountsAStoreWithoutCounters covers a store written before the
// counters were kept: Open counts the buckets once and saves the counts.
func TestOpenCountsAStoreWithoutCounters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path)
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	if err := s.Update(func(tx *Tx) error {
		for _, p := range []string{"P1", "P2", "P3"} {
			if err := tx.PutPerson(Person{ID: p}); err != nil {
				return err
			}
		}
		if err := tx.Enqueue("P1", now); err != nil {
			return err
		}
		if _, err := tx.AddDLQ(DLQEntry{Person: "P2"}); err != nil {
			return err
		}
		for _, b := range countedBuckets {
			if err := tx.b(bMeta).Delete(counterKey(b)); err != nil { // as an older leadsync left it
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, path)
	defer s.Close()
	s.View(func(tx *Tx) error {
		want := map[string]int{"persons": 3, "outbox": 1, "dlq": 1, "conflicts": 0}
		if diff := cmp.Diff(want, tx.Counts()); diff != "" {
			t.Errorf("counts after reopening (-want +got):\n%s", diff)
		}
		if v := tx.b(bMeta).Get(counterKey(bPersons)); string(v) != "3" {
			t.Errorf("persons counter stored as %q, want 3", v)
		}
		return nil
	})
}

func TestDueAfterWalksTheOutboxInPieces(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	later := map[string]time.Time{"P3": now.Add(2 * time.Minute), "P6": now.Add(time.Minute)}
	s.Update(func(tx *Tx) error {
		for _, p := range []string{"P1", "P2", "P3", "P4", "P5", "P6", "P7"} {
			if at, ok := later[p]; ok {
				tx.PutOutbox(p, OutboxItem{NextAt: at})
			} else {
				tx.Enqueue(p, now)
			}
		}
		return nil
	})
	type piece struct {
		Due  []string
		Next time.Time
		More bool
	}
	var got []piece
	after := ""
	for {
		var pc piece
		if err := s.View(func(tx *Tx) error {
			var err error
			pc.Due, pc.Next, pc.More, err = tx.DueAfter(now, after, 2)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got = append(got, pc)
		if !pc.More {
			break
		}
		after = pc.Due[len(pc.Due)-1]
	}
	want := []piece{
		{Due: []string{"P1", "P2"}, More: true},
		{Due: []string{"P4", "P5"}, Next: later["P3"], More: true},
		{Due: []string{"P7"}, Next: later["P6"]},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("pieces (-want +got):\n%s", diff)
	}
}

// TestRecordFieldsIsRecordWithoutRaw: a stored record read with RecordFields
// has every field but the raw payload; one cached in the transaction keeps it.
func TestRecordFieldsIsRecordWithoutRaw(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	defer s.Close()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := StoredRecord{Person: "P1", Hash: "h", Record: lead.Record{
		Source: "ask", SourceID: "1", FirstName: "Ali", Emails: []string{"ali@x.tn"}, Phones: []string{"+21620123456"},
		Tags: []string{"t"}, Attributes: map[string]string{"k": "v"}, CreatedAt: at,
		Conversations: []lead.Conversation{{ID: "c", Messages: []lead.Message{{ID: "m", Text: "hi", At: at}}}},
		Raw:           []byte(`{"id":1,"raw":"x"}`),
	}}
	if err := s.Update(func(tx *Tx) error {
		if err := tx.PutRecord("ask\x001", want); err != nil {
			return err
		}
		if r, _, _ := tx.RecordFields("ask\x001"); string(r.Record.Raw) != string(want.Record.Raw) {
			t.Errorf("cached record's raw = %q, want it kept", r.Record.Raw)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		got, ok, err := tx.RecordFields("ask\x001")
		if err != nil || !ok {
			t.Fatalf("RecordFields = %v, %v", ok, err)
		}
		noRaw := want
		noRaw.Record.Raw = nil
		if d := cmp.Diff(noRaw, got); d != "" {
			t.Errorf("RecordFields (-want +got):\n%s", d)
		}
		if _, ok, err := tx.RecordFields("ask\x002"); ok || err != nil {
			t.Errorf("RecordFields of a missing key = %v, %v", ok, err)
		}
		return nil
	})
}

// PutRecordWithoutRaw stores exactly the bytes PutRecord stores, whatever
// the record holds (HTML characters, raw payload, invalid UTF-8, odd ids),
// and caches the record for reads in the same transaction.
func TestPutRecordWithoutRawStoresPutRecordsBytes(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	cases := []StoredRecord{
		{Person: "P00000001", Hash: "0123456789abcdef", Record: lead.Record{Source: "ask", SourceID: "u1", FirstName: "Ali <&>", Emails: []string{"ali@x.tn"},
			Raw: []byte(`{"a":"<b>"}`), CreatedAt: at, Attributes: map[string]string{"note:x": "y\u2028z"},
			Conversations: []lead.Conversation{{ID: "r1", Messages: []lead.Message{{ID: "m1", Sender: lead.SenderUser, Text: "Hi \xff", At: at}}}}}},
		{Hash: "h", Record: lead.Record{Source: "s", SourceID: "no person"}},
		{Person: `P"1\`, Hash: "é", Record: lead.Record{Source: "s", SourceID: "odd ids"}},
	}
	for i, r := range cases {
		noRaw, err := EncodeRecordWithoutRaw(&r.Record)
		if err != nil {
			t.Fatal(err)
		}
		var viaPut, viaNoRaw []byte
		s.Update(func(tx *Tx) error {
			if err := tx.PutRecord("a", r); err != nil {
				return err
			}
			if err := tx.PutRecordWithoutRaw("c", r, noRaw); err != nil {
				return err
			}
			got, ok, err := tx.Record("c")
			if err != nil || !ok || !cmp.Equal(got, r, cmpopts.EquateEmpty()) {
				t.Errorf("case %d: read back in the transaction %+v, %v, %v", i, got, ok, err)
			}
			return nil
		})
		s.View(func(tx *Tx) error {
			viaPut = bytes.Clone(tx.tx.Bucket(bRecords).Get([]byte("a")))
			viaNoRaw = bytes.Clone(tx.tx.Bucket(bRecords).Get([]byte("c")))
			if h, _, _ := tx.RecordHash("c"); h != r.Hash {
				t.Errorf("case %d: hash via PutRecordWithoutRaw %q, want %q", i, h, r.Hash)
			}
			return nil
		})
		if !bytes.Equal(viaPut, viaNoRaw) {
			t.Errorf("case %d: PutRecordWithoutRaw stored\n%s\nPutRecord\n%s", i, viaNoRaw, viaPut)
		}
	}
}
