package sourcetest

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
)

// CredentialHeaders are every header any of the five vendors reads a
// credential from: a request to a foreign host must carry none of them.
var CredentialHeaders = []string{"Authorization", "Apikey", "X-Bot-Token", "X-Bp-Token"}

// Hostile wraps a fake: a request whose path contains the armed match gets a
// streamed oversized body or a redirect instead of the fake's answer.
// vendortest faults carry their body as a string; a streamed one keeps the
// test's own memory out of the measurement. Safe for concurrent use.
type Hostile struct {
	fake http.Handler

	mu       sync.Mutex
	match    string
	stream   int64  // bytes to stream; 0: off
	redirect string // Location of a 302; "": off
}

// NewHostile wraps fake, passing every request through until armed.
func NewHostile(fake http.Handler) *Hostile { return &Hostile{fake: fake} }

// Stream answers requests whose path contains match with a valid JSON array
// of about n bytes, written from one reused chunk.
func (h *Hostile) Stream(match string, n int64) { h.set(match, n, "") }

// Redirect answers requests whose path contains match with a 302 to location.
func (h *Hostile) Redirect(match, location string) { h.set(match, 0, location) }

func (h *Hostile) set(match string, stream int64, redirect string) {
	h.mu.Lock()
	h.match, h.stream, h.redirect = match, stream, redirect
	h.mu.Unlock()
}

func (h *Hostile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	match, stream, redirect := h.match, h.stream, h.redirect
	h.mu.Unlock()
	switch {
	case match == "" || !strings.Contains(r.URL.Path, match):
		h.fake.ServeHTTP(w, r)
	case redirect != "":
		http.Redirect(w, r, redirect, http.StatusFound)
	case stream > 0:
		streamJSONArray(w, stream)
	default:
		h.fake.ServeHTTP(w, r)
	}
}

// streamJSONArray writes a valid JSON array of about n bytes from one
// reused chunk; it stops when the client hangs up.
func streamJSONArray(w http.ResponseWriter, n int64) {
	w.Header().Set("Content-Type", "application/json")
	chunk := []byte(strings.Repeat(`"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",`, 1024))
	if _, err := w.Write([]byte("[")); err != nil {
		return
	}
	for sent := int64(1); sent < n; sent += int64(len(chunk)) {
		if _, err := w.Write(chunk); err != nil {
			return // the client stopped reading: what the test wants
		}
	}
	w.Write([]byte(`"end"]`))
}

// PeakRSS is the process's peak resident set (VmHWM), in MiB; 0 where
// /proc is missing. Logged next to allocation counts, which miss memory the
// runtime holds outside the Go heap.
func PeakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}
