package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors/vendortest"
)

// fakeClock is Config.Now and Config.Sleep: sleeping advances the clock at
// once, so retry and Retry-After tests wait for nothing.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Slept is the total time slept, zero sleeps included.
func (c *fakeClock) Slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t time.Duration
	for _, d := range c.sleeps {
		t += d
	}
	return t
}

// NonZeroSleeps lists the sleeps that waited for something.
func (c *fakeClock) NonZeroSleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for _, d := range c.sleeps {
		if d > 0 {
			out = append(out, d)
		}
	}
	return out
}

// okHandler answers every request with a small JSON object.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"ok":true}`))
})

// serve starts h on 127.0.0.1 behind a vendortest recorder.
func serve(t *testing.T, h http.Handler) (*httptest.Server, *vendortest.Server) {
	t.Helper()
	rec := vendortest.New(h)
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return srv, rec
}

// newClient builds a client on base with a fake clock; mod adjusts the config.
func newClient(t *testing.T, base string, clk *fakeClock, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{Name: "test", BaseURL: base, MaxAttempts: 4, BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	if clk != nil {
		cfg.Now, cfg.Sleep = clk.Now, clk.Sleep
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// observer records every event, for assertions.
type observer struct {
	mu       sync.Mutex
	statuses []int
	retries  []string
	waits    int
}

func (o *observer) Request(_, _ string, status int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.statuses = append(o.statuses, status)
}

func (o *observer) Retry(_, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retries = append(o.retries, reason)
}

func (o *observer) RateWait(string, time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waits++
}

func (o *observer) Retries() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.retries...)
}
