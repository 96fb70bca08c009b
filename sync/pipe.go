package sync

import (
	"fmt"
	"runtime/debug"
)

// stagePipe stages a source's pages one page behind its reading: emit hands
// page N to a goroutine and returns at once, so the source fetches, parses
// and normalises page N+1 while page N's transaction commits (its fsyncs
// used to leave the source idle). The next emit first waits for page N: at
// most one page is staged at a time, in order, and a cursor still never
// moves ahead of its records. A failure is sticky: every later submit and
// wait returns it, so a source stops at most one page after the failed one
// (the read-ahead the Source contract allows).
type stagePipe struct {
	pending chan error
	err     error
}

// submit waits for the page before, then starts stage in the background.
func (p *stagePipe) submit(stage func() error) error {
	if err := p.wait(); err != nil {
		return err
	}
	ch := make(chan error, 1)
	go func() {
		defer func() {
			// A panic here would not reach the scheduler's recovery, which
			// guards only the run's own goroutine: report it as the page's
			// failure instead of ending the process.
			if r := recover(); r != nil {
				ch <- fmt.Errorf("panic while staging: %v\n%s", r, debug.Stack())
			}
		}()
		ch <- stage()
	}()
	p.pending = ch
	return nil
}

// wait waits for the page in flight, if any, and returns the first failure.
func (p *stagePipe) wait() error {
	if p.pending != nil {
		if err := <-p.pending; err != nil && p.err == nil {
			p.err = err
		}
		p.pending = nil
	}
	return p.err
}
