package state

import (
	"errors"
	"fmt"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"
)

func openTemp(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(filepath.Join(tb.TempDir(), "s.db"), time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Batch shares commits, but each call still gets its own result: a failing
// call neither loses the others' writes nor leaves its own.
func TestBatchCommitsEveryCallAndIsolatesAFailingOne(t *testing.T) {
	s := openTemp(t)
	boom := errors.New("boom")
	var wg gosync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Batch(func(tx *Tx) error {
				if err := tx.PutTargetID(fmt.Sprintf("P%03d", i), "slug"); err != nil {
					return err
				}
				if i == 7 {
					return boom
				}
				return nil
			})
		}()
	}
	wg.Wait()
	s.View(func(tx *Tx) error {
		for i, err := range errs {
			stored := tx.TargetID(fmt.Sprintf("P%03d", i)) != ""
			switch {
			case i == 7 && (!errors.Is(err, boom) || stored):
				t.Errorf("failing call: err %v, stored %v; want boom and nothing stored", err, stored)
			case i != 7 && (err != nil || !stored):
				t.Errorf("call %d: err %v, stored %v; want nil and stored", i, err, stored)
			}
		}
		return nil
	})
}

// BenchmarkCommit compares Update and Batch for 4 concurrent writers, each
// committing small transactions one after the other (the pusher's pattern).
//
//	go test ./state -run '^$' -bench Commit
func BenchmarkCommit(b *testing.B) {
	for _, mode := range []string{"Update", "Batch"} {
		b.Run(mode, func(b *testing.B) {
			s := openTemp(b)
			commit := s.Update
			if mode == "Batch" {
				commit = s.Batch
			}
			b.SetParallelism(2) // 2 x GOMAXPROCS(2) = 4 writers
			n := 0
			var mu gosync.Mutex
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.Lock()
					n++
					id := fmt.Sprintf("P%08d", n)
					mu.Unlock()
					if err := commit(func(tx *Tx) error { return tx.PutTargetID(id, "slug") }); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}
