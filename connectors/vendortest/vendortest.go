// Package vendortest is what every fake vendor server shares: a recorder of
// the requests it got and a queue of faults tests inject (429 with
// Retry-After, 5xx bursts, 401s, malformed bodies, delays, dropped
// connections). Fakes wrap their handler with New and tests drive it.
package vendortest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Request is one request a fake received.
type Request struct {
	Method string
	Path   string // URL path, as received
	Query  string // raw query
	Header http.Header
	Body   []byte
	At     time.Time
}

// Fault is an answer injected instead of the fake's own, for requests whose
// path contains Match (and whose method equals Method, when set).
type Fault struct {
	Method string
	Match  string
	// Times is how many matching requests get the fault (0 means 1).
	Times int
	// Skip lets this many matching requests through first.
	Skip int

	Status     int
	RetryAfter string // Retry-After header value, if any
	Body       string // body sent with Status
	// Delay waits before answering (or before running the real handler when Status is 0).
	Delay time.Duration
	// After runs the real handler first, then drops the connection without an
	// answer (the write happened; the client never learns it).
	After bool
	// Drop closes the connection without any answer, before the real handler.
	Drop bool
}

// Server wraps a fake's handler with recording and fault injection.
type Server struct {
	next http.Handler

	mu     sync.Mutex
	reqs   []Request
	faults []*Fault
}

// New wraps h.
func New(h http.Handler) *Server { return &Server{next: h} }

// Inject queues a fault; faults are matched in the order they were queued.
func (s *Server) Inject(f Fault) {
	if f.Times == 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Requests returns a copy of everything received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Count returns how many requests had method (any when "") and a path containing match.
func (s *Server) Count(method, match string) int {
	n := 0
	for _, r := range s.Requests() {
		if (method == "" || r.Method == method) && strings.Contains(r.Path, match) {
			n++
		}
	}
	return n
}

// Reset forgets recorded requests and queued faults.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs, s.faults = nil, nil
}

func (s *Server) take(r *http.Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.Method != "" && f.Method != r.Method) || !strings.Contains(r.URL.Path, f.Match) {
			continue
		}
		if f.Skip > 0 {
			f.Skip--
			return nil
		}
		f.Times--
		if f.Times <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		c := *f
		return &c
	}
	return nil
}

// ServeHTTP records the request, then answers with a fault or the fake.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, At: time.Now()})
	s.mu.Unlock()

	f := s.take(r)
	if f == nil {
		s.next.ServeHTTP(w, r)
		return
	}
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case f.Drop:
		hijackClose(w)
	case f.After:
		s.next.ServeHTTP(discard{h: http.Header{}}, r)
		hijackClose(w)
	case f.Status != 0:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		io.WriteString(w, f.Body)
	default:
		s.next.ServeHTTP(w, r)
	}
}

func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

// WriteJSON answers status with v encoded as JSON, as every fake does.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
