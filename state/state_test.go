package state

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

func TestDecodeRefusesOtherVersions(t *testing.T) {
	var c Cursor
	err := decode([]byte(`{"v":2,"d":{}}`), &c)
	if err == nil || !strings.Contains(err.Error(), "v2") {
		t.Fatalf("err = %v, want a version error naming v2", err)
	}
}

func TestSecondOpenFailsFastWithClearMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Open(path, 50*time.Millisecond)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another leadsync process") {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

func TestStateFileMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
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
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 2000)
	s.Update(func(tx *Tx) error {
		for i := range 3000 {
			tx.PutRecord(string(rune('a'+i%26))+strings.Repeat("k", i%50)+string(rune(i)), StoredRecord{Hash: big})
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
