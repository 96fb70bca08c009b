package state

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
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

// BatchAsync returns at once and reports each call's own result through
// its callback once committed, in groups shared with Batch callers: a
// failing call leaves nothing and costs the others nothing, and a Batch
// caller queued behind asynchronous calls is still committed and answered.
func TestBatchAsyncReportsEachResultAndLetsSyncCallersThrough(t *testing.T) {
	s := openTemp(t)
	boom := errors.New("boom")
	// Hold the writer lock so that the calls below pile up behind it and
	// commit in groups mixing both kinds.
	entered, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- s.Update(func(*Tx) error { close(entered); <-release; return nil })
	}()
	<-entered
	syncErrs := make(chan error, 2)
	go func() { syncErrs <- s.Batch(func(tx *Tx) error { return tx.PutTargetID("S1", "slug") }) }()
	results := make(chan string, 30)
	for i := range 30 {
		s.BatchAsync(AsyncWrite{Fn: func(tx *Tx) error {
			if err := tx.PutTargetID(fmt.Sprintf("A%02d", i), "slug"); err != nil {
				return err
			}
			if i == 11 {
				return boom
			}
			return nil
		}, Done: func(err error) { results <- fmt.Sprintf("A%02d:%v", i, err) }})
	}
	go func() { syncErrs <- s.Batch(func(tx *Tx) error { return tx.PutTargetID("S2", "slug") }) }()
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-syncErrs; err != nil {
			t.Errorf("Batch behind asynchronous calls: %v", err)
		}
	}
	got := map[string]bool{}
	for range 30 {
		got[<-results] = true
	}
	s.View(func(tx *Tx) error {
		for i := range 30 {
			id := fmt.Sprintf("A%02d", i)
			want := id + ":<nil>"
			if i == 11 {
				want = id + ":boom"
			}
			if !got[want] {
				t.Errorf("no result %q among %v", want, got)
			}
			if stored := tx.TargetID(id) != ""; stored != (i != 11) {
				t.Errorf("%s stored = %v", id, stored)
			}
		}
		for _, id := range []string{"S1", "S2"} {
			if tx.TargetID(id) == "" {
				t.Errorf("%s not stored", id)
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

// Writes given to BatchAsync together are queued together, so that they
// share one commit even when none is under way when they arrive (queued
// one by one, the first could start a commit of its own), and they do.
func TestBatchAsyncCommitsWritesGivenTogetherAsOne(t *testing.T) {
	s := openTemp(t)
	var adds []int
	s.queued = func(n int) { adds = append(adds, n) } // called under gmu
	ids, errs := make(chan int, 3), make(chan error, 3)
	var writes []AsyncWrite
	for i := range 3 {
		writes = append(writes, AsyncWrite{
			Fn: func(tx *Tx) error {
				ids <- tx.tx.ID()
				return tx.PutTargetID(fmt.Sprintf("P%d", i), "slug")
			},
			Done: func(err error) { errs <- err },
		})
	}
	s.BatchAsync(writes...)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	s.gmu.Lock()
	got := slices.Clone(adds)
	s.gmu.Unlock()
	if !slices.Equal(got, []int{3}) {
		t.Errorf("queued %v at a time, want the 3 writes at once", got)
	}
	first := <-ids
	for range 2 {
		if id := <-ids; id != first {
			t.Errorf("writes given together committed in transactions %d and %d", first, id)
		}
	}
}
