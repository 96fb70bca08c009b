// Command ratelimit measures the rate budget a vendor gets: requests arriving
// at a server from a client configured {rps: 5, burst: 1} with a backlog far
// larger than the budget. Two clients, one after the other:
//   - httpapi: the shared HTTP client itself, 8 goroutines calling Do in a loop;
//   - roborder: a real source (roborder, as leadsync builds it from
//     configuration) paging through a fake with one lead per page.
//
// For each: requests per second achieved (goal >= 0.95 x 5) and the most
// requests seen in any 1-second window, edges included (goal <= 6), from
// the server's own arrival times.
//
//	go run ./bench/ratelimit -duration 20s
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/leadsync/leadsync/config"
	"github.com/leadsync/leadsync/connectors"
	_ "github.com/leadsync/leadsync/connectors/all"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/roborder/robordertest"
)

// arrivals records when each request reached the server.
type arrivals struct {
	mu gosync.Mutex
	at []time.Time
}

func (a *arrivals) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.at = append(a.at, time.Now())
		a.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (a *arrivals) report(name string, rps float64, d time.Duration) {
	a.mu.Lock()
	at := slices.Clone(a.at)
	a.mu.Unlock()
	slices.SortFunc(at, func(x, y time.Time) int { return x.Compare(y) })
	if len(at) < 2 {
		log.Fatalf("%s: %d requests", name, len(at))
	}
	span := at[len(at)-1].Sub(at[0])
	steady := float64(len(at)-1) / span.Seconds()
	maxWin, j := 0, 0
	for i := range at {
		for j < len(at) && at[j].Sub(at[i]) <= time.Second {
			j++
		}
		maxWin = max(maxWin, j-i)
	}
	fmt.Printf("%-9s requests %4d in %s: %.3f req/s overall, %.3f req/s between first and last (goal >= %.2f), max %d in any 1 s window (goal <= %d)\n",
		name, len(at), d.Round(time.Millisecond), float64(len(at))/d.Seconds(), steady, 0.95*rps, maxWin, int(rps)+1)
}

func main() {
	d := flag.Duration("duration", 20*time.Second, "how long each client runs")
	rps := flag.Float64("rps", 5, "rate_limit.rps")
	burst := flag.Int("burst", 1, "rate_limit.burst")
	flag.Parse()
	fmt.Printf("ratelimit: {rps: %g, burst: %d}, %s per client\n", *rps, *burst, *d)

	var a arrivals
	srv := httptest.NewServer(a.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"ok":true}`))
	})))
	c, err := httpapi.New(httpapi.Config{Name: "bench", BaseURL: srv.URL, RPS: *rps, Burst: *burst})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *d)
	start := time.Now()
	var wg gosync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c.Do(ctx, &httpapi.Request{Method: http.MethodGet, Path: "items", Label: "items"})
			}
		}()
	}
	wg.Wait()
	cancel()
	a.report("httpapi", *rps, time.Since(start))
	srv.Close()

	// A real source: roborder with one lead per page, far more pages than the run can read.
	var b arrivals
	robo := robordertest.New()
	robo.SetShape(robordertest.Paginator)
	robo.SetPerPage(1)
	for i := range 1000 {
		robo.AddLeads(robordertest.Lead{ID: i + 1, CustomerName: fmt.Sprintf("P%d", i), Phone: fmt.Sprintf("2%07d", i), CreatedAt: "2026-11-01T10:00:00Z"})
	}
	rsrv := httptest.NewServer(b.wrap(robo.Handler()))
	defer rsrv.Close()
	cfg, err := config.Parse(fmt.Appendf(nil, `state: {path: /nonexistent}
target: crm
connectors:
  crm:
    type: epixel
    base_url: http://127.0.0.1:1/
    auth: {api_key: k, username: u, password: p}
  facebook:
    type: roborder
    base_url: %s/
    schedule: "@every 1h"
    rate_limit: {rps: %g, burst: %d}
    auth: {token: %q}
`, rsrv.URL, *rps, *burst, robordertest.Token), func(string) (string, bool) { return "", false })
	if err != nil {
		log.Fatal(err)
	}
	t, _ := connectors.Lookup("roborder")
	src, err := t.NewSource(cfg.Instance("facebook", nil))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), *d)
	defer cancel()
	start = time.Now()
	pages := 0
	err = src.Pull(ctx, nil, func(connectors.Page) error { pages++; return nil })
	// The run ends at the deadline, or just before it: x/time/rate refuses
	// at once a wait that would end after the context's deadline.
	switch {
	case err == nil:
		log.Fatalf("roborder: the backlog ran out after %d pages: make it larger", pages)
	case ctx.Err() == nil && !strings.Contains(err.Error(), "would exceed context deadline"):
		log.Fatalf("roborder: the pull failed after %d pages: %v", pages, err)
	}
	b.report("roborder", *rps, time.Since(start))
}
