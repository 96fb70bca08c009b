package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/internal/demo"
)

// nthMatch returns the index in reqs of the n-th (1-based) request whose
// path contains match, or -1.
func nthMatch(reqs []vendortest.Request, match string, n int) int {
	for i, r := range reqs {
		if strings.Contains(r.Path, match) {
			n--
			if n == 0 {
				return i
			}
		}
	}
	return -1
}

// TestFaultStormStillDeliversEverything runs `once` while every vendor
// misbehaves — 429 bursts with Retry-After in both forms, 5xx bursts, a
// timeout, a connection reset, a malformed page, a token revoked in the
// middle of pagination, a slow CRM — and checks that a second `once`
// completes delivery with no duplicate, and that no vendor saw a request
// before the time its Retry-After named.
func TestFaultStormStillDeliversEverything(t *testing.T) {
	e := newE2E(t, "@every 1h")
	phones := e.env.SeedMany(40, time.Now())
	// One request of the widget times out: give it a short attempt timeout.
	b, _ := os.ReadFile(e.cfg)
	cfg := strings.Replace(string(b), "    type: askhandle\n", "    type: askhandle\n    timeout: 300ms\n    page_size: 10\n", 1)
	os.WriteFile(e.cfg, []byte(cfg), 0o600)

	rob := e.env.Roborder.Recorder()
	rob.Inject(vendortest.Fault{Match: "/api/v1/leads", Status: 429, RetryAfter: "1", Body: `{"message":"Too Many Attempts."}`})
	rob.Inject(vendortest.Fault{Match: "/api/v1/leads", Drop: true})
	ask := e.env.Ask.Recorder()
	dateAt := time.Now().Add(2 * time.Second).UTC()
	ask.Inject(vendortest.Fault{Match: "/api/v1/leads/", Skip: 1, Status: 503, RetryAfter: dateAt.Format(http.TimeFormat), Body: `{"detail":"Service unavailable"}`})
	ask.Inject(vendortest.Fault{Match: "/api/v1/rooms/", Delay: time.Second})
	ask.Inject(vendortest.Fault{Match: "/api/v1/messages/", Times: 2, Status: 502, Body: "<html>bad gateway</html>"})
	nc := e.env.Netcore.Recorder()
	nc.Inject(vendortest.Fault{Match: "/users", Skip: 2, Status: 401, Body: `{"message":"token expired"}`})
	bp := e.env.BotPenguin.Recorder()
	bp.Inject(vendortest.Fault{Match: "/inbox/direct/chats", Status: 200, Body: `{"success":true,"data":[{"_id": `})
	crm := e.env.CRM.Recorder()
	crm.Inject(vendortest.Fault{Match: "create/lead", Skip: 3, Times: 2, Status: 502, Body: "bad gateway"})
	crm.Inject(vendortest.Fault{Match: "create/lead", Skip: 8, Times: 2, Status: 429, RetryAfter: "1", Body: "{}"})
	e.env.SetCRMHook(func(s demo.Stage, r *http.Request) {
		if s == demo.Before && r.Method == http.MethodPost {
			time.Sleep(5 * time.Millisecond)
		}
	})

	out, stderr, code := e.leadsync("once", "--config", e.cfg)
	if code == 0 {
		t.Fatalf("once with a malformed BotPenguin page exited 0:\n%s", out)
	}
	if !strings.Contains(stderr, "chatbot") || !strings.Contains(out, "page") {
		t.Errorf("the failing run is not named with its page:\nstdout:\n%s\nstderr:\n%s", out, stderr)
	}
	out, stderr, code = e.leadsync("once", "--config", e.cfg)
	if code != 0 {
		t.Fatalf("second once: exit %d\n%s\n%s", code, out, stderr)
	}
	leads := byPhone(e.env.CRM.Leads())
	for _, p := range phones {
		if len(leads[p]) != 1 {
			t.Errorf("phone %s: %d CRM leads, want 1", p, len(leads[p]))
		}
	}
	if len(leads["21655111222"]) != 1 || len(leads["21698765432"]) != 1 {
		t.Errorf("demo persons missing after the storm")
	}

	// Retry-After, delta-seconds form (Roborder, first leads request).
	reqs := rob.Requests()
	if i := nthMatch(reqs, "/api/v1/leads", 1); i < 0 || i+1 >= len(reqs) {
		t.Fatal("roborder: no retry after the 429")
	} else if gap := reqs[i+1].At.Sub(reqs[i].At); gap < time.Second {
		t.Errorf("roborder: next request %v after a 429 with Retry-After: 1", gap)
	}
	// Retry-After, HTTP-date form (AskHandle, second leads request).
	reqs = ask.Requests()
	if i := nthMatch(reqs, "/api/v1/leads/", 2); i < 0 || i+1 >= len(reqs) {
		t.Fatal("askhandle: no retry after the 503")
	} else if next := reqs[i+1].At; next.Before(dateAt.Truncate(time.Second)) {
		t.Errorf("askhandle: next request at %v, before Retry-After %v", next, dateAt)
	}
	// CRM 429 under concurrent pushes: requests already in flight may still
	// arrive, but none sent after the answer (200 ms of slack for those in
	// flight) may arrive before the Retry-After second is over.
	reqs = crm.Requests()
	if i := nthMatch(reqs, "create/lead", 9); i >= 0 {
		t429 := reqs[i].At
		for _, r := range reqs[i+1:] {
			if d := r.At.Sub(t429); d > 200*time.Millisecond && d < time.Second {
				t.Errorf("crm: %s %s %v after a 429 with Retry-After: 1", r.Method, r.Path, d)
			}
		}
	}
}
