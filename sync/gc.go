package sync

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	gosync "sync"
)

// GCPercent is the garbage collector's target the daemon runs with when the
// environment sets no GOGC: the heap may grow to 1.5 times what is live
// instead of Go's default 2 times. A sidecar is sized by its memory, and at
// 100,000 persons this took the peak RSS of a first `once` from 61.6–63.2 MB
// to 52.5 MB for 12 % more CPU (PERFORMANCE.md §4). GOGC, and GOMEMLIMIT,
// still apply as Go documents them.
const GCPercent = 50

// HeapHeadroom is the least the heap may grow by between two collections
// when the environment sets no GOGC. GCPercent alone lets a small heap grow
// by half of itself only: a push, ~5 MB live, was collected every ~2.8 MB
// allocated, 26 times per 1,000 leads, and the collector took ~100 µs of
// each lead's ~530 µs of CPU. After each collection the target is raised so
// that the heap may grow by HeapHeadroom while half the live heap is less
// than that; from twice HeapHeadroom live (the 100,000-person peak is
// above it) the target is GCPercent's and the peak unchanged. 16 MB took
// that peak from 56.5 to 63.8 MB (PERFORMANCE.md §2).
const HeapHeadroom = 8 << 20

// TuneGC sets GCPercent, raised after each collection to give the heap
// HeapHeadroom, unless GOGC is set; it reports whether it did. It is for a
// process's main: the collector's target is the process's, and the tuning
// lasts as long as the process.
func TuneGC() bool {
	t := tuneGC(HeapHeadroom)
	return t != nil
}

// tuneGC is TuneGC with its tuner returned (nil: GOGC is set), for the
// caller to stop.
func tuneGC(headroom uint64) *headroomTuner {
	if _, set := os.LookupEnv("GOGC"); set {
		return nil
	}
	debug.SetGCPercent(GCPercent)
	t := &headroomTuner{headroom: headroom, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.arm()
	return t
}

// headroomTuner sets the collector's target after each collection, from a
// cleanup of an object allocated after the collection before it: the next
// collection finds the object unreachable, and its cleanup tunes and arms
// the next one.
type headroomTuner struct {
	headroom uint64

	mu      gosync.Mutex
	sample  []metrics.Sample
	stopped bool
	set     int              // the last target set; 0: none yet
	tuned   chan<- [2]uint64 // tests: each tuning's live heap and target, when there is room
}

func (t *headroomTuner) arm() {
	// Not a tiny allocation: tiny objects share a block, whose cleanups
	// wait for every object in it.
	s := new([16]byte)
	runtime.AddCleanup(s, (*headroomTuner).tune, t)
}

func (t *headroomTuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	// Armed first: an object allocated while a collection marks survives
	// it, and would miss the collection after this one.
	t.arm()
	metrics.Read(t.sample)
	if v := t.sample[0].Value; v.Kind() == metrics.KindUint64 {
		live := v.Uint64()
		t.set = percentFor(live, t.headroom)
		debug.SetGCPercent(t.set)
		select {
		case t.tuned <- [2]uint64{live, uint64(t.set)}:
		default:
		}
	}
}

// stop ends the tuning: once it returns, the target is not set again. It
// reports the last target set (0: none).
func (t *headroomTuner) stop() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	return t.set
}

// percentFor is the collector's target for a live heap: GCPercent, or more,
// so that the heap may grow by headroom before the next collection.
func percentFor(live, headroom uint64) int {
	const most = 10000 // a nearly empty heap: 100 times itself
	if live == 0 || headroom*100 >= live*most {
		return most
	}
	return max(GCPercent, int((headroom*100+live-1)/live))
}
