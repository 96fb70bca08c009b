package epixel

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/epixel/epixeltest"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/lead"
)

// These tests serve hostile answers through the fake and prove each one is
// an error for its page or a problem on its record, never a panic, an
// unbounded read or a credential sent to another host.

// hostile wraps the fake: a request whose path contains match gets a
// streamed oversized body or a redirect instead of the fake's answer.
// vendortest faults carry their body as a string; a streamed one keeps the
// test's own memory out of the measurement.
type hostile struct {
	fake http.Handler

	mu       sync.Mutex
	match    string
	huge     int64  // bytes to stream; 0: off
	redirect string // Location of a 302; "": off
}

func (h *hostile) set(match string, huge int64, redirect string) {
	h.mu.Lock()
	h.match, h.huge, h.redirect = match, huge, redirect
	h.mu.Unlock()
}

func (h *hostile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	match, huge, redirect := h.match, h.huge, h.redirect
	h.mu.Unlock()
	switch {
	case match == "" || !strings.Contains(r.URL.Path, match):
		h.fake.ServeHTTP(w, r)
	case redirect != "":
		http.Redirect(w, r, redirect, http.StatusFound)
	case huge > 0:
		streamJSONArray(w, huge)
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

// credentialHeaders are every header any of the five vendors reads a
// credential from.
var credentialHeaders = []string{"Authorization", "Apikey", "X-Bot-Token", "X-Bp-Token"}

type badEnv struct {
	fake *epixeltest.Fake
	h    *hostile
	in   *connectors.Instance
}

func newBadEnv(t *testing.T) *badEnv {
	t.Helper()
	fake := epixeltest.New()
	fake.AddLead(epixeltest.Lead{FirstName: "Mohamed", LastName: "Laarbi", Email: "mohamed@example.tn", Phone: "21655111222", Status: "contact"})
	h := &hostile{fake: fake.Handler()}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &badEnv{fake: fake, h: h, in: &connectors.Instance{
		Name: "crm", Type: "epixel", BaseURL: srv.URL + "/", Region: "TN", Timeout: 10 * time.Second,
		Auth:    map[string]string{"api_key": epixeltest.APIKey, "username": epixeltest.Username, "password": epixeltest.Password},
		Options: map[string]any{"placeholder_email": "{phone}@no-email.invalid", "placeholder_last_name": "-"},
	}}
}

func (e *badEnv) pull(t *testing.T) ([]connectors.Page, error) {
	t.Helper()
	src, err := NewSource(e.in)
	if err != nil {
		t.Fatal(err)
	}
	var pages []connectors.Page
	err = src.Pull(context.Background(), nil, func(p connectors.Page) error {
		pages = append(pages, p)
		return nil
	})
	return pages, err
}

// peakRSS is the process's peak resident set (VmHWM), in MiB; 0 where
// /proc is missing.
func peakRSS() float64 {
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

func TestFiftyMegabyteBodyIsRefusedAtTheLimit(t *testing.T) {
	e := newBadEnv(t)
	e.h.set("leads/list/", 50<<20, "")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := e.pull(t)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, httpapi.ErrBodyTooLarge) {
		t.Fatalf("Pull error = %v, want the body limit", err)
	}
	for _, want := range []string{"size limit", "leads offset 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	allocated := float64(after.TotalAlloc-before.TotalAlloc) / (1 << 20)
	t.Logf("50 MiB body: allocated %.1f MiB during the pull; heap sys %.1f MiB; peak RSS (VmHWM) %.1f MiB",
		allocated, float64(after.HeapSys)/(1<<20), peakRSS())
	// Reading up to the 8 MiB default limit costs a few buffers of that
	// size (more under -race, where sync.Pool keeps less); holding the
	// 50 MiB body would cost at least 50 MiB plus the buffers it grew from.
	if allocated > 64 {
		t.Errorf("allocated %.1f MiB reading a 50 MiB body: the limit is not applied while reading", allocated)
	}
}

func TestMalformedPageIsAnErrorNamingThePage(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"100000 nested arrays", strings.Repeat("[", 100000), "malformed JSON"},
		{"nested inside the envelope", `{"status_code":200,"errors":{},"data":{"count":1,"results":` + strings.Repeat("[", 100000), "malformed JSON"},
		{"truncated", `{"status_code":200,"errors":{},"data":{"count":1,"results":[{"slug":"a"`, "malformed JSON"},
		{"html error page", "<html><body>502 Bad Gateway</body></html>", "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newBadEnv(t)
			e.fake.Recorder().Inject(vendortest.Fault{Match: "leads/list/", Status: 200, Body: tt.body})
			pages, err := e.pull(t)
			if err == nil {
				t.Fatalf("Pull accepted %.40q (%d pages)", tt.body, len(pages))
			}
			for _, want := range []string{tt.want, "leads offset 0"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if len(err.Error()) > 600 {
				t.Errorf("error is %d bytes long: it quotes the body", len(err.Error()))
			}
		})
	}
}

func TestOddFieldsAreProblemsOnTheirRecord(t *testing.T) {
	tests := []struct {
		name, item string
		problem    string // "" when the record must have none
		created    time.Time
	}{
		{"invalid UTF-8 in strings", "{\"slug\":\"odd-1\",\"first_name\":\"Al\xffi\",\"last_name\":\"\xc3\x28Ben\",\"email\":\"al\xffi@exa\xc3\x28mple.tn\",\"created_at\":\"2024-03-10T09:15:02Z\"}", "invalid email", time.Date(2024, 3, 10, 9, 15, 2, 0, time.UTC)},
		{"date as dd/mm/yyyy", `{"slug":"odd-2","created_at":"01/02/2026"}`, `created_at: unrecognised timestamp "01/02/2026"`, time.Time{}},
		{"date as a word", `{"slug":"odd-3","created_at":"yesterday"}`, `created_at: unrecognised timestamp "yesterday"`, time.Time{}},
		{"date as epoch seconds", `{"slug":"odd-4","created_at":1700000000}`, `created_at: unrecognised timestamp "1700000000"`, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newBadEnv(t)
			e.fake.Recorder().Inject(vendortest.Fault{Match: "leads/list/", Status: 200, Body: `{"status_code":200,"errors":{},"data":[` + tt.item + `]}`})
			pages, err := e.pull(t)
			if err != nil {
				t.Fatalf("Pull: %v", err)
			}
			var rec *lead.Record
			var problems []string
			for _, p := range pages {
				for i := range p.Records {
					if strings.HasPrefix(p.Records[i].SourceID, "odd-") {
						rec = &p.Records[i]
					}
				}
				for _, pr := range p.Problems {
					problems = append(problems, pr.Error())
				}
			}
			if rec == nil {
				t.Fatalf("the record was dropped; problems: %q", problems)
			}
			for _, s := range append([]string{rec.FirstName, rec.LastName, rec.Context}, rec.Emails...) {
				if !utf8.ValidString(s) {
					t.Errorf("record field %q is not valid UTF-8", s)
				}
			}
			if !rec.CreatedAt.Equal(tt.created) {
				t.Errorf("CreatedAt = %v, want %v", rec.CreatedAt, tt.created)
			}
			joined := strings.Join(problems, "\n")
			if tt.problem == "" && len(problems) > 0 {
				t.Errorf("unexpected problems: %q", problems)
			}
			if want := `lead "` + rec.SourceID + `": ` + tt.problem; tt.problem != "" && !strings.Contains(joined, want) {
				t.Errorf("problems %q lack %q", problems, want)
			}
		})
	}
}

func TestCredentialsNeverLeaveTheirHost(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(evil.Close)
	tests := []struct {
		name    string
		arrange func(e *badEnv, evil string)
	}{
		{"next link", func(e *badEnv, evil string) {
			e.fake.Recorder().Inject(vendortest.Fault{Match: "leads/list/", Status: 200,
				Body: `{"status_code":200,"errors":{},"data":{"count":2,"next":"` + evil + `/leads/list/?limit=1&offset=1","results":[{"slug":"a"}]}}`})
		}},
		{"redirect", func(e *badEnv, evil string) { e.h.set("leads/list/", 0, evil+"/leads/list/") }},
		{"redirect of the login", func(e *badEnv, evil string) { e.h.set("user/login/", 0, evil+"/user/login/") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			e := newBadEnv(t)
			tt.arrange(e, evil.URL)
			_, err := e.pull(t)
			if !errors.Is(err, httpapi.ErrForeignHost) {
				t.Errorf("Pull error = %v, want the foreign host refused", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, h := range seen {
				for _, k := range credentialHeaders {
					if v := h.Get(k); v != "" {
						t.Errorf("the other host got %s: %s", k, v)
					}
				}
			}
			if len(seen) > 0 {
				t.Errorf("the other host got %d requests, want none", len(seen))
			}
		})
	}
}
