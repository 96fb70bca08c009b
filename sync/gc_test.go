package sync

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestTuneGCSetsItsTargetOnlyWithoutGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "80")
	if tuneGC(HeapHeadroom) != nil {
		t.Error("tuneGC started although GOGC is set")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d with GOGC set, want it left alone (100)", got)
	}
	os.Unsetenv("GOGC")
	tu := tuneGC(HeapHeadroom)
	if tu == nil {
		t.Fatal("tuneGC did nothing without GOGC")
	}
	// A collection may come between tuneGC and stop, and tune the target.
	want := GCPercent
	if set := tu.stop(); set != 0 {
		want = set
	}
	if got := debug.SetGCPercent(100); got != want {
		t.Errorf("GC percent %d without GOGC, want %d", got, want)
	}
}

// The target after each collection gives the heap the headroom, and the
// tuner runs again after the next collection.
func TestHeadroomTunerSetsTheTargetAfterEachCollection(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	const headroom = 64 << 20
	tuned := make(chan [2]uint64, 1)
	tu := tuneGC(headroom)
	if tu == nil {
		t.Skip("GOGC is set")
	}
	tu.mu.Lock()
	tu.tuned = tuned
	tu.mu.Unlock()
	for round := range 3 {
		runtime.GC()
		var got [2]uint64
		select {
		case got = <-tuned:
		case <-time.After(10 * time.Second):
			tu.stop()
			t.Fatalf("round %d: no tuning after a collection", round)
		}
		live, set := got[0], int(got[1])
		if want := percentFor(live, headroom); set != want {
			t.Errorf("round %d: target %d for %d bytes live, want %d", round, set, live, want)
		}
		if set <= GCPercent {
			t.Fatalf("round %d: %d bytes live is not under twice the headroom: the test proves nothing", round, live)
		}
	}
	last := tu.stop()
	if got := debug.SetGCPercent(100); got != last {
		t.Errorf("the collector's target is %d, want the last one set, %d", got, last)
	}
}

func TestPercentForGivesTheHeadroomOrGCPercent(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live, headroom uint64
		want           int
	}{
		{5 * mb, 8 * mb, 160},        // a push's heap may grow by 8 MB, not 2.5
		{16 * mb, 8 * mb, GCPercent}, // from twice the headroom: GCPercent
		{30 * mb, 8 * mb, GCPercent}, // the 100,000-person peak is unchanged
		{3 * mb, 8 * mb, 267},        // rounded up: at least the headroom
		{0, 8 * mb, 10000},
		{1, 8 * mb, 10000},
		{5 * mb, 0, GCPercent},
	} {
		got := percentFor(c.live, c.headroom)
		if got != c.want {
			t.Errorf("percentFor(%d, %d) = %d, want %d", c.live, c.headroom, got, c.want)
		}
		if c.live > 0 && got < 10000 && c.live*uint64(got)/100 < min(c.headroom, c.live*GCPercent/100) {
			t.Errorf("percentFor(%d, %d) = %d gives less than the headroom", c.live, c.headroom, got)
		}
	}
}
