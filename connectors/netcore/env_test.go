package netcore

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/netcore/netcoretest"
	"github.com/leadsync/leadsync/connectors/vendortest"
)

// t0 is "now" in every source test.
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is time the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// gauges records what the source reports through connectors.Metrics.
type gauges struct {
	mu sync.Mutex
	m  map[string]float64 // "name channel connector"
}

func (g *gauges) Gauge(name string, labels map[string]string, v float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[string]float64{}
	}
	g.m[name+" "+labels["channel"]+" "+labels["connector"]] = v
}

// syncBuffer is a log sink safe to read while the logger writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type env struct {
	fake  *netcoretest.Fake
	clock *fakeClock
	in    *connectors.Instance
	gauge *gauges
	logs  *syncBuffer
}

// newEnv serves a fake under a path prefix (base URLs may carry one) and
// builds an instance whose clock is shared with the fake.
func newEnv(t *testing.T, opts map[string]any) *env {
	t.Helper()
	e := &env{fake: netcoretest.New(), clock: &fakeClock{t: t0}, gauge: &gauges{}, logs: &syncBuffer{}}
	e.fake.SetClock(e.clock.Now)
	mux := http.NewServeMux()
	mux.Handle("/bot/v1/", http.StripPrefix("/bot/v1", e.fake.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.in = &connectors.Instance{
		Name:     "nc",
		Type:     "netcore",
		BaseURL:  srv.URL + "/bot/v1/",
		Region:   "TN",
		Backfill: 5 * 24 * time.Hour,
		Overlap:  time.Hour,
		Auth:     map[string]string{"app_id": netcoretest.AppID, "app_secret": netcoretest.AppSecret},
		Options:  opts,
		Logger:   slog.New(slog.NewTextHandler(e.logs, nil)),
		Metrics:  e.gauge,
		Clock:    e.clock.Now,
		Timeout:  5 * time.Second,
	}
	return e
}

// pull runs one Pull and collects its pages; each emit also runs onPage.
func (e *env) pull(t *testing.T, cur connectors.Cursor, onPage func(connectors.Page)) ([]connectors.Page, error) {
	t.Helper()
	src, err := NewSource(e.in)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	var pages []connectors.Page
	err = src.Pull(context.Background(), cur, func(p connectors.Page) error {
		pages = append(pages, p)
		if onPage != nil {
			onPage(p)
		}
		return nil
	})
	return pages, err
}

func (e *env) mustPull(t *testing.T, cur connectors.Cursor) []connectors.Page {
	t.Helper()
	pages, err := e.pull(t, cur, nil)
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	return pages
}

// requests returns the decoded JSON bodies of the requests whose path ends with suffix.
func (e *env) requests(t *testing.T, suffix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range e.fake.Recorder().Requests() {
		if !strings.HasSuffix(r.Path, "/"+suffix) {
			continue
		}
		m := map[string]any{"?": r.Query, "Authorization": r.Header.Get("Authorization")}
		if len(r.Body) > 0 {
			if err := json.Unmarshal(r.Body, &m); err != nil {
				t.Fatalf("%s body: %v", suffix, err)
			}
		}
		out = append(out, m)
	}
	return out
}

func records(pages []connectors.Page) (n int, problems []string) {
	for _, p := range pages {
		n += len(p.Records)
		for _, pr := range p.Problems {
			problems = append(problems, pr.Error())
		}
	}
	return n, problems
}

func ts(t time.Time) string { return t.UTC().Format(apiTime) }

func fault(e *env, f vendortest.Fault) { e.fake.Recorder().Inject(f) }

// statusFault answers the next request whose path contains match with status.
func statusFault(match string, status int, body string) vendortest.Fault {
	return vendortest.Fault{Match: match, Status: status, Body: body}
}

// bodyFault answers the next matching request 200 with body.
func bodyFault(match, body string) vendortest.Fault {
	return vendortest.Fault{Match: match, Status: 200, Body: body}
}

// netcoreUser is a user whose botUserId is its userId, active an hour ago.
func netcoreUser(id, channel string) netcoretest.User {
	return netcoretest.User{UserID: id, BotUserID: id, ChannelName: channel, LastInteracted: ts(t0.Add(-time.Hour))}
}

func entryText(from, text, at string) netcoretest.Entry {
	return netcoretest.Entry{From: from, Type: "text", Payload: map[string]any{"message": text}, CreatedAt: at}
}
