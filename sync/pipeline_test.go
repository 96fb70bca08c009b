package sync

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/lead"
	"github.com/leadsync/leadsync/state"
)

// pagedSource emits n one-record pages, cursor "c<i>", and stops at the
// first emit error, as the Source contract asks; emits counts its calls.
type pagedSource struct {
	n     int
	emits int
}

func (s *pagedSource) Pull(_ context.Context, _ connectors.Cursor, emit func(connectors.Page) error) error {
	for i := 1; i <= s.n; i++ {
		s.emits++
		p := connectors.Page{Label: fmt.Sprintf("page %d", i), Cursor: connectors.Cursor(fmt.Sprintf("c%d", i)),
			Records: []lead.Record{rec("src", fmt.Sprint(i), "N", "", []string{fmt.Sprintf("p%d@x.tn", i)}, nil)}}
		if err := emit(p); err != nil {
			return fmt.Errorf("%s: %w", p.Label, err)
		}
	}
	return nil
}

func pipelineEngine(f *fixture, src connectors.Source) *Engine {
	return &Engine{store: f.st, log: discardLogger(), metrics: NewMetrics("crm"), now: f.stage.now, stage: f.stage,
		sources: map[string]connectors.Source{"src": src}, order: []string{"src"}, status: map[string]*RunStatus{"src": {Instance: "src"}}}
}

func (f *fixture) cursor(instance string) string {
	var c state.Cursor
	f.st.View(func(tx *state.Tx) error { c, _, _ = tx.Cursor(instance); return nil })
	return string(c.Cursor)
}

// TestRunSourceStagesEveryPageBeforeReturning: with pages staged behind
// the source's emits, the last one is still committed before RunSource
// returns, with its cursor.
func TestRunSourceStagesEveryPageBeforeReturning(t *testing.T) {
	f := newFixture(t)
	res := pipelineEngine(f, &pagedSource{n: 5}).RunSource(context.Background(), "src", nil)
	if res.Err != nil || res.Pages != 5 || res.Stats.Changed != 5 {
		t.Fatalf("result = %+v, want 5 pages, 5 changed, no error", res)
	}
	if c := f.cursor("src"); c != "c5" {
		t.Errorf("cursor = %q, want c5", c)
	}
	if n := f.persons(); n != 5 {
		t.Errorf("persons = %d, want 5", n)
	}
}

// TestRunSourceStopsThePullAfterAFailedPage: page 2 fails to stage; the
// source learns it at the second emit after it at the latest (it never
// emits page 5: page 3 is speculated while page 2 commits),
// nothing after page 1 is stored, and the cursor stays at page 1's.
func TestRunSourceStopsThePullAfterAFailedPage(t *testing.T) {
	f := newFixture(t)
	boom := errors.New("disk full")
	commits := 0
	f.stage.beforeCommit = func() error {
		if commits++; commits == 2 {
			return boom
		}
		return nil
	}
	src := &pagedSource{n: 5}
	res := pipelineEngine(f, src).RunSource(context.Background(), "src", nil)
	if !errors.Is(res.Err, boom) {
		t.Fatalf("run error = %v, want %v", res.Err, boom)
	}
	if src.emits > 4 {
		t.Errorf("the source emitted %d pages, want at most 4 (page 2 failed)", src.emits)
	}
	if res.Pages != 1 {
		t.Errorf("pages staged = %d, want 1", res.Pages)
	}
	if c := f.cursor("src"); c != "c1" {
		t.Errorf("cursor = %q, want c1", c)
	}
	f.st.View(func(tx *state.Tx) error {
		for _, id := range []string{"2", "3", "4", "5"} {
			if _, ok, _ := tx.Record("src\x00" + id); ok {
				t.Errorf("record %s stored after the failed page", id)
			}
		}
		return nil
	})
}

// TestStagePipeStagesNothingAfterAnError: even a source that goes on
// emitting after an error gets the error back (from the second emit after
// the failed page's, at the latest: one page is speculated while the one
// before it commits) and nothing staged.
func TestStagePipeStagesNothingAfterAnError(t *testing.T) {
	var p stagePipe
	boom := errors.New("boom")
	ran := 0
	release := make(chan struct{})
	if err := p.emit(nil, func() error { <-release; ran++; return boom }); err != nil {
		t.Fatalf("first emit = %v, want nil (its page is staged behind)", err)
	}
	// Page 1 is still committing: page 2 is taken, and will never commit.
	if err := p.emit(nil, func() error { ran++; return nil }); err != nil {
		t.Fatalf("second emit = %v, want nil (page 1 not yet committed)", err)
	}
	close(release)
	for i := range 2 {
		if err := p.emit(nil, func() error { ran++; return nil }); !errors.Is(err, boom) {
			t.Fatalf("emit %d after the failure = %v, want %v", i+3, err, boom)
		}
	}
	if err := p.wait(); !errors.Is(err, boom) {
		t.Errorf("wait = %v, want %v", err, boom)
	}
	if ran != 1 {
		t.Errorf("%d pages staged, want 1", ran)
	}
}

// TestEmitGoesOnWhileThePageBeforeIsSpeculated: the source may decode the
// next page while the speculation of the last one runs; the speculations
// still run one after the other, each seeing the overlay of the one before.
func TestEmitGoesOnWhileThePageBeforeIsSpeculated(t *testing.T) {
	var p stagePipe
	emitted := make(chan struct{})
	first := &state.Overlay{}
	var secondParents []*state.Overlay
	spec1 := func([]*state.Overlay) *state.Overlay {
		select {
		case <-emitted:
		case <-time.After(10 * time.Second): // a guard against a deadlock, not a wait for an event
			t.Error("emit of page 2 waited for page 1's speculation")
		}
		return first
	}
	spec2ran := make(chan struct{})
	spec2 := func(parents []*state.Overlay) *state.Overlay {
		secondParents = parents
		close(spec2ran)
		return nil
	}
	// Page 1 commits only after page 2's speculation: page 2 must read
	// through page 1's overlay.
	if err := p.emit(spec1, func() error { <-spec2ran; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := p.emit(spec2, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	close(emitted)
	if err := p.wait(); err != nil {
		t.Fatal(err)
	}
	if len(secondParents) != 1 || secondParents[0] != first {
		t.Errorf("page 2 speculated through %v, want page 1's overlay alone", secondParents)
	}
}

// readAheadSource is pagedSource calling back once page 1's emit returned.
type readAheadSource struct {
	pagedSource
	back chan struct{}
}

func (s *readAheadSource) Pull(ctx context.Context, c connectors.Cursor, emit func(connectors.Page) error) error {
	return s.pagedSource.Pull(ctx, c, func(p connectors.Page) error {
		err := emit(p)
		if p.Label == "page 1" {
			close(s.back)
		}
		return err
	})
}

// The source reads page 2 while page 1 is still being staged: page 1's
// commit waits until the source has come back from emitting it.
func TestSourceReadsAheadWhilePageStages(t *testing.T) {
	f := newFixture(t)
	src := &readAheadSource{pagedSource: pagedSource{n: 3}, back: make(chan struct{})}
	commits := 0
	f.stage.beforeCommit = func() error {
		if commits++; commits > 1 {
			return nil
		}
		select {
		case <-src.back:
			return nil
		case <-time.After(10 * time.Second): // a guard against a deadlock, not a wait for an event
			return errors.New("emit of page 1 waited for its commit")
		}
	}
	res := pipelineEngine(f, src).RunSource(context.Background(), "src", nil)
	if res.Err != nil || res.Pages != 3 || res.Stats.Changed != 3 {
		t.Fatalf("run: err %v, %d pages, %+v; want 3 pages staged", res.Err, res.Pages, res.Stats)
	}
	if c := f.cursor("src"); c != "c3" {
		t.Errorf("cursor %s, want c3", c)
	}
}

// The last page's failure is the run's error even though Pull returned nil.
func TestFailureOfTheLastPageFailsTheRun(t *testing.T) {
	f := newFixture(t)
	commits := 0
	f.stage.beforeCommit = func() error {
		if commits++; commits == 2 {
			return errors.New("disk full")
		}
		return nil
	}
	res := pipelineEngine(f, &pagedSource{n: 2}).RunSource(context.Background(), "src", nil)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "staging page 2: disk full") {
		t.Fatalf("run error %v, want the last page's failure", res.Err)
	}
	if c := f.cursor("src"); c != "c1" {
		t.Errorf("cursor %s, want c1", c)
	}
}

// A panic while staging is the page's error, not the end of the process.
func TestPanicWhileStagingIsThePagesError(t *testing.T) {
	var p stagePipe
	if err := p.emit(nil, func() error { panic("boom") }); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(); err == nil || !strings.Contains(err.Error(), "panic while staging: boom") {
		t.Fatalf("wait = %v, want the panic as an error", err)
	}
	ran := false
	if err := p.emit(nil, func() error { ran = true; return nil }); err == nil || ran {
		t.Errorf("emit after a failure: err %v, ran %v; want the failure and nothing run", err, ran)
	}
}

// A page staged again because the store changed under its speculation is
// counted for operators (leadsync_source_pages_restaged_total); a page
// applied as speculated is not. Both count as one staged page.
func TestAPageStagedAgainIsCounted(t *testing.T) {
	f := newFixture(t)
	eng := pipelineEngine(f, &pagedSource{})
	count := func(c *prometheus.CounterVec) float64 {
		var m dto.Metric
		if err := c.WithLabelValues("c").Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	page := func(id string) connectors.Page {
		return connectors.Page{Label: "page " + id, Cursor: connectors.Cursor(id),
			Records: []lead.Record{rec("c", id, "N", "", []string{id + "@x.tn"}, nil)}}
	}
	var res RunResult
	fresh := f.stage.speculate(f.st, f.stage.prepare("c", page("1")), nil)
	if err := eng.stagePage(fresh, &res, discardLogger(), nil); err != nil {
		t.Fatal(err)
	}
	if got := count(eng.metrics.restaged); got != 0 {
		t.Errorf("a page applied as speculated counted %v times as staged again", got)
	}
	stale := f.stage.speculate(f.st, f.stage.prepare("c", page("2")), nil)
	f.stagePage("d", rec("d", "1", "Dora", "", []string{"dora@x.tn"}, nil)) // commits meanwhile
	if err := eng.stagePage(stale, &res, discardLogger(), nil); err != nil {
		t.Fatal(err)
	}
	if got := count(eng.metrics.restaged); got != 1 {
		t.Errorf("pages staged again: %v, want 1", got)
	}
	if got := count(eng.metrics.pages); got != 2 || res.Pages != 2 {
		t.Errorf("pages staged: %v counted, %d in the result; want 2", got, res.Pages)
	}
	if res.Restaged != 1 {
		t.Errorf("the run's result counts %d pages staged again, want 1", res.Restaged)
	}
}

// TestSourcesOfOneEngineSpeculateThroughEachOthersPages: a page of one
// source, emitted while a page of another is speculated and not yet
// committed, reads through that page's overlay, as it would through one of
// its own source: the two sources share one line.
func TestSourcesOfOneEngineSpeculateThroughEachOthersPages(t *testing.T) {
	line := newStageLine()
	a, b := stagePipe{line: line}, stagePipe{line: line}
	ovA := &state.Overlay{}
	bSpeculated := make(chan struct{})
	var bParents []*state.Overlay
	// Page a1 commits only once b1 is speculated: b1 must see it uncommitted.
	if err := a.emit(func([]*state.Overlay) *state.Overlay { return ovA }, func() error { <-bSpeculated; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := b.emit(func(parents []*state.Overlay) *state.Overlay {
		bParents = parents
		close(bSpeculated)
		return nil
	}, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := a.wait(); err != nil {
		t.Fatal(err)
	}
	if err := b.wait(); err != nil {
		t.Fatal(err)
	}
	if len(bParents) != 1 || bParents[0] != ovA {
		t.Errorf("b's page speculated through %v, want a's uncommitted overlay", bParents)
	}
}

// TestAFailedPageStopsOnlyItsOwnSource: on a shared line, a page of
// another source emitted after a failed one still commits, and its source
// goes on; the failed source gets its error back and stages nothing more.
func TestAFailedPageStopsOnlyItsOwnSource(t *testing.T) {
	line := newStageLine()
	a, b := stagePipe{line: line}, stagePipe{line: line}
	boom := errors.New("boom")
	release := make(chan struct{})
	var aRan, bRan int
	if err := a.emit(nil, func() error { <-release; aRan++; return boom }); err != nil {
		t.Fatal(err)
	}
	if err := b.emit(nil, func() error { bRan++; return nil }); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := a.emit(nil, func() error { aRan++; return nil }); !errors.Is(err, boom) {
		t.Errorf("a's emit after its failure = %v, want %v", err, boom)
	}
	for range 3 {
		if err := b.emit(nil, func() error { bRan++; return nil }); err != nil {
			t.Fatalf("b's emit after a's failure = %v, want nil", err)
		}
	}
	if err := a.wait(); !errors.Is(err, boom) {
		t.Errorf("a's wait = %v, want %v", err, boom)
	}
	if err := b.wait(); err != nil {
		t.Errorf("b's wait = %v, want nil", err)
	}
	if aRan != 1 || bRan != 4 {
		t.Errorf("pages committed: a %d, b %d; want 1 and 4", aRan, bRan)
	}
}

// TestSourcesPulledTogetherStageNoPageTwice: two sources of one engine
// pulled at the same time (as `once` does) stage every page as it was
// speculated, none again in a plain transaction, and join their persons.
// With a line per source, every commit of one made the other's page in
// flight stale.
func TestSourcesPulledTogetherStageNoPageTwice(t *testing.T) {
	f := newFixture(t)
	const n = 30
	eng := pipelineEngine(f, nil)
	eng.line = newStageLine()
	eng.sources = map[string]connectors.Source{"a": &pagedSource{n: n}, "b": &pagedSource{n: n}}
	eng.order = []string{"a", "b"}
	eng.status = map[string]*RunStatus{"a": {Instance: "a"}, "b": {Instance: "b"}}
	results := make(chan RunResult, 2)
	for _, name := range eng.order {
		go func() { results <- eng.RunSource(context.Background(), name, nil) }()
	}
	for range 2 {
		res := <-results
		if res.Err != nil || res.Pages != n || res.Restaged != 0 {
			t.Errorf("%s: err %v, %d pages, %d staged again; want %d pages, none again", res.Instance, res.Err, res.Pages, res.Restaged, n)
		}
	}
	if got := f.persons(); got != n {
		t.Errorf("%d persons, want %d (each page of b joins a's person by email)", got, n)
	}
	for _, name := range eng.order {
		if c := f.cursor(name); c != fmt.Sprintf("c%d", n) {
			t.Errorf("%s's cursor %s, want c%d", name, c, n)
		}
	}
}

// TestALineHoldsNoPageOnceItsPagesAreDone: an engine's line outlives its
// pulls, and once their pages are done it keeps none of them, nor their
// writes (an idle daemon would hold the last page's overlay until the next
// pull); the next page, with nothing in flight before it, speculates and
// commits alone.
func TestALineHoldsNoPageOnceItsPagesAreDone(t *testing.T) {
	line := newStageLine()
	pipe := stagePipe{line: line}
	var last weak.Pointer[state.Overlay]
	for range 3 {
		if err := pipe.emit(func([]*state.Overlay) *state.Overlay {
			ov := &state.Overlay{}
			last = weak.Make(ov)
			return ov
		}, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := pipe.wait(); err != nil {
		t.Fatal(err)
	}
	pipe = stagePipe{line: line} // the pull is over; the engine's line stays
	runtime.GC()
	if last.Value() != nil {
		t.Error("the line still holds the last page's overlay after its pull")
	}
	var parents []*state.Overlay
	if err := pipe.emit(func(p []*state.Overlay) *state.Overlay { parents = p; return nil }, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := pipe.wait(); err != nil || len(parents) != 0 {
		t.Errorf("the next pull's page: err %v, parents %v; want none", err, parents)
	}
}
