package state

import (
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// leafFill is how full the bucket's leaf pages are, in bytes used over bytes
// allocated.
func leafFill(t *testing.T, st *Store, name []byte) float64 {
	t.Helper()
	var s bolt.BucketStats
	if err := st.db.View(func(tx *bolt.Tx) error { s = tx.Bucket(name).Stats(); return nil }); err != nil {
		t.Fatal(err)
	}
	if s.LeafAlloc == 0 {
		t.Fatalf("bucket %s has no leaf pages", name)
	}
	return float64(s.LeafInuse) / float64(s.LeafAlloc)
}

// Persons added in id order fill their pages to FillPercent (0.9), through a
// plain transaction and through a speculation applied; the identities, whose
// keys land anywhere, keep bbolt's half. With bbolt's default every page
// split at the end of the key order stays half full.
func TestAppendedBucketsFillTheirPages(t *testing.T) {
	st := openTemp(t)
	page := func(from int) func(*Tx) error {
		return func(tx *Tx) error {
			for i := from; i < from+100; i++ {
				id, err := tx.NewPersonID()
				if err != nil {
					return err
				}
				p := Person{ID: id, Records: []string{fmt.Sprintf("roborder:%06d", i)}, Hash: fmt.Sprintf("%064d", i)}
				if err := tx.PutPerson(p); err != nil {
					return err
				}
				if err := tx.PutIdentity(fmt.Sprintf("e:%06d@x.tn", (i*7919)%100000), id); err != nil {
					return err
				}
			}
			return nil
		}
	}
	for from := 0; from < 3000; from += 200 {
		if err := st.Update(page(from)); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.Apply(st.Speculate(nil, page(from+100)), nil); err != nil || !ok {
			t.Fatalf("Apply = %v, %v", ok, err)
		}
	}
	if got := leafFill(t, st, bPersons); got < 0.8 {
		t.Errorf("persons' leaf pages %.2f full, want about %.1f", got, FillPercent(bPersons))
	}
	if FillPercent(bIdentity) != bolt.DefaultFillPercent {
		t.Errorf("identities fill %.2f, want bbolt's default", FillPercent(bIdentity))
	}
}
