package sync

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
)

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
	if err := p.emit(func() error { panic("boom") }); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(); err == nil || !strings.Contains(err.Error(), "panic while staging: boom") {
		t.Fatalf("wait = %v, want the panic as an error", err)
	}
	ran := false
	if err := p.emit(func() error { ran = true; return nil }); err == nil || ran {
		t.Errorf("emit after a failure: err %v, ran %v; want the failure and nothing run", err, ran)
	}
}
