package state

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestUpdateWritesPersonsBackOnceAndReadsSeeThemAtOnce: in an Update, a
// person put is read back (Person, ForEachPerson) as last put, reaches the
// bucket only when the function returns, and is counted once.
func TestUpdateWritesPersonsBackOnceAndReadsSeeThemAtOnce(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	defer s.Close()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.Update(func(tx *Tx) error {
		if err := tx.PutPerson(Person{ID: "P1", Records: []string{"a"}, UpdatedAt: at}); err != nil {
			return err
		}
		if tx.b(bPersons).Get([]byte("P1")) != nil {
			t.Error("person encoded into the bucket at PutPerson, want at the end of the transaction's function")
		}
		p, ok, err := tx.Person("P1")
		if err != nil || !ok || !slices.Equal(p.Records, []string{"a"}) {
			t.Fatalf("Person after PutPerson = %+v, %v, %v", p, ok, err)
		}
		p.Records = append(p.Records, "b")
		p.Hash = "h2"
		if err := tx.PutPerson(p); err != nil {
			return err
		}
		var seen []Person
		if err := tx.ForEachPerson(func(p Person) error { seen = append(seen, p); return nil }); err != nil {
			return err
		}
		if len(seen) != 1 || seen[0].Hash != "h2" || !slices.Equal(seen[0].Records, []string{"a", "b"}) {
			t.Errorf("ForEachPerson in the transaction saw %+v, want the last put", seen)
		}
		p.Hash = "h3"
		return tx.PutPerson(p)
	}); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		p, ok, err := tx.Person("P1")
		if err != nil || !ok || p.Hash != "h3" || !slices.Equal(p.Records, []string{"a", "b"}) || !p.UpdatedAt.Equal(at) {
			t.Errorf("stored person = %+v, %v, %v; want the last put", p, ok, err)
		}
		if n := tx.Counts()["persons"]; n != 1 {
			t.Errorf("persons counted %d, want 1", n)
		}
		return nil
	})
}

// TestFailedUpdateLeavesNoPersonBehind: persons put by a function that
// fails are neither stored nor counted, and a person put then deleted in
// the same transaction leaves nothing.
func TestFailedUpdateLeavesNoPersonBehind(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	defer s.Close()
	if err := s.Update(func(tx *Tx) error { return tx.PutPerson(Person{ID: "P1", Hash: "kept"}) }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		if err := tx.PutPerson(Person{ID: "P1", Hash: "changed"}); err != nil {
			return err
		}
		if err := tx.PutPerson(Person{ID: "P2"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want %v", err, boom)
	}
	if err := s.Update(func(tx *Tx) error {
		if err := tx.PutPerson(Person{ID: "P3"}); err != nil {
			return err
		}
		return tx.DeletePerson("P3")
	}); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		if p, _, _ := tx.Person("P1"); p.Hash != "kept" {
			t.Errorf("P1's hash = %q after a failed update, want %q", p.Hash, "kept")
		}
		for _, id := range []string{"P2", "P3"} {
			if _, ok, _ := tx.Person(id); ok {
				t.Errorf("%s stored", id)
			}
		}
		if n := tx.Counts()["persons"]; n != 1 {
			t.Errorf("persons counted %d, want 1", n)
		}
		return nil
	})
}
