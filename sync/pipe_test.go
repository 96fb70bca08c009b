package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/lead"
	"github.com/leadsync/leadsync/state"
)

// pagesSource emits n pages of one record each, calling afterEmit(i) once
// emit of page i returned nil.
type pagesSource struct {
	n         int
	emitted   []int
	afterEmit func(i int)
}

func (s *pagesSource) Pull(ctx context.Context, _ connectors.Cursor, emit func(connectors.Page) error) error {
	for i := 1; i <= s.n; i++ {
		s.emitted = append(s.emitted, i)
		r := rec("src", fmt.Sprint(i), "N", "", []string{fmt.Sprintf("p%d@x.tn", i)}, nil)
		if err := emit(connectors.Page{Label: fmt.Sprintf("page %d", i), Records: []lead.Record{r},
			Cursor: connectors.Cursor(fmt.Sprintf(`{"page":%d}`, i))}); err != nil {
			return fmt.Errorf("page %d: %w", i, err)
		}
		if s.afterEmit != nil {
			s.afterEmit(i)
		}
	}
	return nil
}

func pipeEngine(f *fixture, src connectors.Source) *Engine {
	return &Engine{store: f.st, log: discardLogger(), metrics: NewMetrics("crm"), now: func() time.Time { return f.clock },
		sources: map[string]connectors.Source{"src": src}, status: map[string]*RunStatus{"src": {Instance: "src"}},
		stage: f.stage, push: f.push}
}

func storedCursor(t *testing.T, st *state.Store) string {
	t.Helper()
	var c string
	st.View(func(tx *state.Tx) error {
		cur, _, err := tx.Cursor("src")
		c = string(cur.Cursor)
		return err
	})
	return c
}

// The source reads page 2 while page 1 is still being staged: page 1's
// commit waits until the source has come back from emitting it.
func TestSourceReadsAheadWhilePageStages(t *testing.T) {
	f := newFixture(t)
	back := make(chan struct{})
	src := &pagesSource{n: 3, afterEmit: func(i int) {
		if i == 1 {
			close(back)
		}
	}}
	commits := 0
	f.stage.beforeCommit = func() error {
		if commits++; commits > 1 {
			return nil
		}
		select {
		case <-back:
			return nil
		case <-time.After(10 * time.Second): // a guard against a deadlock, not a wait for an event
			return errors.New("emit of page 1 waited for its commit")
		}
	}
	res := pipeEngine(f, src).RunSource(context.Background(), "src", nil)
	if res.Err != nil || res.Pages != 3 || res.Stats.Changed != 3 {
		t.Fatalf("run: err %v, %d pages, %+v; want 3 pages staged", res.Err, res.Pages, res.Stats)
	}
	if c := storedCursor(t, f.st); c != `{"page":3}` {
		t.Errorf("cursor %s, want page 3's", c)
	}
}

// A page that fails to stage fails the run with its name; the source is
// stopped at its next emit (one page read ahead at most), and the cursor
// stays at the last page staged.
func TestStagingFailureStopsTheSourceAndKeepsTheCursor(t *testing.T) {
	f := newFixture(t)
	src := &pagesSource{n: 5}
	commits := 0
	f.stage.beforeCommit = func() error {
		if commits++; commits == 2 {
			return errors.New("disk full")
		}
		return nil
	}
	res := pipeEngine(f, src).RunSource(context.Background(), "src", nil)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "staging page 2: disk full") {
		t.Fatalf("run error %v, want one naming page 2", res.Err)
	}
	if len(src.emitted) > 3 {
		t.Errorf("source emitted pages %v after page 2 failed, want at most one more", src.emitted)
	}
	if c := storedCursor(t, f.st); c != `{"page":1}` {
		t.Errorf("cursor %s, want page 1's", c)
	}
	if res.Pages != 1 {
		t.Errorf("%d pages counted staged, want 1", res.Pages)
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
	res := pipeEngine(f, &pagesSource{n: 2}).RunSource(context.Background(), "src", nil)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "page 2") {
		t.Fatalf("run error %v, want the last page's failure", res.Err)
	}
}

// A panic while staging is the page's error, not the end of the process.
func TestPanicWhileStagingIsThePagesError(t *testing.T) {
	var p stagePipe
	if err := p.submit(func() error { panic("boom") }); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(); err == nil || !strings.Contains(err.Error(), "panic while staging: boom") {
		t.Fatalf("wait = %v, want the panic as an error", err)
	}
	ran := false
	if err := p.submit(func() error { ran = true; return nil }); err == nil || ran {
		t.Errorf("submit after a failure: err %v, ran %v; want the failure and nothing run", err, ran)
	}
}
