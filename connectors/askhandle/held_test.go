package askhandle_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/askhandle/askhandletest"
)

// BenchmarkHeldMessages measures what the source holds while it reads the
// rooms: the whole /messages/ list (the endpoint has no per-room filter),
// grouped by room: in a spool file now, with each room's newest offset in
// memory (held as decoded structs, it was the largest heap of a first
// sync's staging at 100,000 persons: PERFORMANCE.md §4–6, tenth and
// eleventh sessions). The figure is the live heap at the first
// rooms page's emit, above the heap before the pull, per message held;
// the rooms are shaped as demo.SeedMany seeds them (two messages each, a
// visitor's question and an agent's answer).
func BenchmarkHeldMessages(b *testing.B) {
	const rooms = 20000
	f := askhandletest.New()
	for i := range rooms {
		room := fmt.Sprintf("room-gen-%06d", i)
		at := "2024-03-19T10:00:00+00:00"
		f.AddRoom(askhandletest.Room{UUID: room, Label: "Question", CreatedAt: at})
		f.AddMessage(askhandletest.Message{UUID: room + "-1", Nickname: "Person", Email: fmt.Sprintf("gen%06d@example.com", i),
			Body: fmt.Sprintf("Question number %d", i), SentAt: at, Room: room})
		f.AddMessage(askhandletest.Message{UUID: room + "-2", Body: fmt.Sprintf("Answer number %d", i), IsSupportSender: true, SentAt: at, Room: room})
	}
	srv := serve(b, f)
	in := instance(srv, apiKeyAuth())
	in.Options = map[string]any{"page_size": 1000}
	var held float64
	for b.Loop() {
		s := newSource(b, in)
		var before, at runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		measured := false
		err := s.Pull(context.Background(), nil, func(p connectors.Page) error {
			if !measured && strings.HasPrefix(p.Label, "rooms page") {
				measured = true
				runtime.GC()
				runtime.ReadMemStats(&at)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if !measured {
			b.Fatal("no rooms page emitted")
		}
		held = float64(int64(at.HeapAlloc)-int64(before.HeapAlloc)) / (2 * rooms)
	}
	b.ReportMetric(held, "held-B/msg")
}
