package state

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"weak"
)

func identityOf(t *testing.T, st *Store, key string) string {
	t.Helper()
	var p string
	if err := st.View(func(tx *Tx) error { p = tx.Identity(key); return nil }); err != nil {
		t.Fatal(err)
	}
	return p
}

func newPerson(key string) func(*Tx) error {
	return func(tx *Tx) error {
		id, err := tx.NewPersonID()
		if err != nil {
			return err
		}
		if err := tx.PutPerson(Person{ID: id}); err != nil {
			return err
		}
		return tx.PutIdentity(key, id)
	}
}

// A speculation applied with nothing committed since its snapshot writes
// what the function wrote, persons and counters included.
func TestApplyWritesTheSpeculatedTransaction(t *testing.T) {
	st := openTemp(t)
	ov := st.Speculate(nil, newPerson("e:a@x.tn"))
	if p := identityOf(t, st, "e:a@x.tn"); p != "" {
		t.Fatalf("speculation wrote to the store: identity -> %q", p)
	}
	if ok, err := st.Apply(ov, nil); err != nil || !ok {
		t.Fatalf("Apply = %v, %v; want applied", ok, err)
	}
	if p := identityOf(t, st, "e:a@x.tn"); p != "P00000001" {
		t.Errorf("identity -> %q, want P00000001", p)
	}
	var n int
	st.View(func(tx *Tx) error { n = tx.Counts()["persons"]; return nil })
	if n != 1 {
		t.Errorf("persons counter %d, want 1", n)
	}
}

// Any commit the snapshot did not see (a push's, another source's) makes
// the speculation stale: Apply refuses it and writes nothing.
func TestApplyRefusesASpeculationAfterAnotherCommit(t *testing.T) {
	st := openTemp(t)
	ov := st.Speculate(nil, newPerson("e:a@x.tn"))
	if err := st.Batch(newPerson("e:b@x.tn")); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.Apply(ov, nil); err != nil || ok {
		t.Fatalf("Apply = %v, %v; want refused", ok, err)
	}
	if p := identityOf(t, st, "e:a@x.tn"); p != "" {
		t.Errorf("a refused overlay was written: identity -> %q", p)
	}
}

// A speculation reads through its uncommitted parent (its writes, its
// sequence) and applies after it; a child of a parent that was not applied
// as speculated is refused.
func TestSpeculationReadsThroughItsParents(t *testing.T) {
	st := openTemp(t)
	a := st.Speculate(nil, newPerson("e:a@x.tn"))
	var seen string
	b := st.Speculate([]*Overlay{a}, func(tx *Tx) error {
		seen = tx.Identity("e:a@x.tn")
		return newPerson("e:b@x.tn")(tx)
	})
	if seen != "P00000001" {
		t.Errorf("child read identity %q through its parent, want P00000001", seen)
	}
	for _, ov := range []*Overlay{a, b} {
		if ok, err := st.Apply(ov, nil); err != nil || !ok {
			t.Fatalf("Apply = %v, %v; want applied", ok, err)
		}
	}
	if p := identityOf(t, st, "e:b@x.tn"); p != "P00000002" {
		t.Errorf("child's person %q, want P00000002 (the parent's sequence read through)", p)
	}

	// The parent is refused (a commit came between), so is its child.
	c := st.Speculate(nil, newPerson("e:c@x.tn"))
	d := st.Speculate([]*Overlay{c}, newPerson("e:d@x.tn"))
	if err := st.Batch(newPerson("e:z@x.tn")); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.Apply(c, nil); ok {
		t.Fatal("parent applied after another commit")
	}
	if err := st.Update(newPerson("e:c@x.tn")); err != nil { // staged again
		t.Fatal(err)
	}
	if ok, err := st.Apply(d, nil); err != nil || ok {
		t.Errorf("child of a refused parent: Apply = %v, %v; want refused", ok, err)
	}
}

// A speculation that walks a bucket, or fails, is void, and so is its
// child; a failing before hook aborts the apply.
func TestVoidSpeculationsNeverApply(t *testing.T) {
	st := openTemp(t)
	walk := st.Speculate(nil, func(tx *Tx) error { _, err := tx.Cursors(); return err })
	if !walk.Void() {
		t.Fatal("a speculation walking a bucket is not void")
	}
	child := st.Speculate([]*Overlay{walk}, newPerson("e:a@x.tn"))
	for _, ov := range []*Overlay{walk, child} {
		if ok, err := st.Apply(ov, nil); ok || err != nil {
			t.Errorf("void overlay: Apply = %v, %v; want refused", ok, err)
		}
	}
	boom := errors.New("boom")
	ov := st.Speculate(nil, newPerson("e:a@x.tn"))
	if ok, err := st.Apply(ov, func() error { return boom }); ok || !errors.Is(err, boom) {
		t.Errorf("Apply with a failing hook = %v, %v; want %v", ok, err, boom)
	}
	if p := identityOf(t, st, "e:a@x.tn"); p != "" || ov.Applied() {
		t.Errorf("aborted apply wrote identity %q (applied %v)", p, ov.Applied())
	}
}

// An applied overlay lets go of its parents: in a pull whose pages are
// always in flight, each page speculated through the one before, the
// overlays do not form a chain back to the first page that keeps them all
// in memory.
func TestAppliedOverlaysDoNotChainTheirParents(t *testing.T) {
	st := openTemp(t)
	prev := st.Speculate(nil, newPerson("e:0@x.tn"))
	first := weak.Make(prev)
	for i := 1; i <= 5; i++ {
		// The next page is speculated while the one before is in flight.
		ov := st.Speculate([]*Overlay{prev}, newPerson(fmt.Sprintf("e:%d@x.tn", i)))
		if ok, err := st.Apply(prev, nil); err != nil || !ok {
			t.Fatalf("Apply of page %d = %v, %v; want applied", i-1, ok, err)
		}
		prev = ov
	}
	if ok, err := st.Apply(prev, nil); err != nil || !ok {
		t.Fatalf("Apply of the last page = %v, %v; want applied", ok, err)
	}
	runtime.GC()
	if first.Value() != nil {
		t.Error("the first overlay is still reachable from the last one")
	}
	runtime.KeepAlive(prev)
	if p := identityOf(t, st, "e:5@x.tn"); p != "P00000006" {
		t.Errorf("identity of the last page -> %q, want P00000006", p)
	}
}
