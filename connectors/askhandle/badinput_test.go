package askhandle

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
	"github.com/leadsync/leadsync/connectors/askhandle/askhandletest"
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
	fake *askhandletest.Fake
	h    *hostile
	in   *connectors.Instance
}

func newBadEnv(t *testing.T, auth map[string]string) *badEnv {
	t.Helper()
	fake := askhandletest.New()
	fake.AddLead(askhandletest.Lead{UUID: "lead-ok", Nickname: "Ali", Email: "ali@example.tn", CreatedAt: time.Now().UTC().Format(time.RFC3339)})
	h := &hostile{fake: fake.Handler()}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if auth == nil {
		auth = map[string]string{"api_key": askhandletest.APIKey}
	}
	return &badEnv{fake: fake, h: h, in: &connectors.Instance{
		Name: "ah", Type: "askhandle", BaseURL: srv.URL + "/", Region: "TN", Auth: auth, Timeout: 10 * time.Second,
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
	e := newBadEnv(t, nil)
	e.h.set("api/v1/leads/", 50<<20, "")
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

func TestMalformedListIsAnErrorNamingThePage(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"100000 nested arrays", strings.Repeat("[", 100000), "malformed JSON"},
		{"nested inside results", `{"count":1,"results":` + strings.Repeat("[", 100000), "malformed JSON"},
		{"truncated", `{"count":1,"results":[{"uuid":"a"`, "malformed JSON"},
		{"html error page", "<html><body>502 Bad Gateway</body></html>", "malformed JSON"},
		{"results of the wrong type", `{"count":1,"results":"none"}`, "unexpected JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newBadEnv(t, nil)
			e.fake.Recorder().Inject(vendortest.Fault{Match: "api/v1/leads/", Status: 200, Body: tt.body})
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
		name, lead string
		problem    string // "" when the record must have none
	}{
		{"invalid UTF-8 in strings", "{\"uuid\":\"odd-1\",\"nickname\":\"Al\xffi \xc3\x28Ben\",\"from_page_title\":\"\xed\xa0\x80\",\"email\":\"ali@example.tn\",\"created_at\":\"2024-03-10T09:15:02Z\"}", ""},
		{"invalid UTF-8 in the email", "{\"uuid\":\"odd-2\",\"email\":\"al\xffi@exa\xc3\x28mple.tn\"}", "invalid email"},
		{"date as dd/mm/yyyy", `{"uuid":"odd-3","created_at":"01/02/2026"}`, `created_at: unrecognised timestamp "01/02/2026"`},
		{"date as a word", `{"uuid":"odd-4","created_at":"yesterday"}`, `created_at: unrecognised timestamp "yesterday"`},
		{"date as epoch seconds", `{"uuid":"odd-5","created_at":1700000000}`, `created_at: unrecognised timestamp "1700000000"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newBadEnv(t, nil)
			e.fake.Recorder().Inject(vendortest.Fault{Match: "api/v1/leads/", Status: 200, Body: "[" + tt.lead + "]"})
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
			joined := strings.Join(problems, "\n")
			if tt.problem == "" && len(problems) > 0 {
				t.Errorf("unexpected problems: %q", problems)
			}
			if tt.problem != "" && !strings.Contains(joined, rec.SourceID+": "+tt.problem) {
				t.Errorf("problems %q lack %q", problems, rec.SourceID+": "+tt.problem)
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
		w.Write([]byte(`[]`))
	}))
	t.Cleanup(evil.Close)
	auths := map[string]map[string]string{
		"api key":  {"api_key": askhandletest.APIKey},
		"password": {"username": askhandletest.Username, "password": askhandletest.Password},
	}
	for authName, auth := range auths {
		for _, how := range []string{"next link", "redirect"} {
			t.Run(authName+" "+how, func(t *testing.T) {
				mu.Lock()
				seen = nil
				mu.Unlock()
				e := newBadEnv(t, auth)
				if how == "redirect" {
					e.h.set("api/v1/leads/", 0, evil.URL+"/api/v1/leads/")
				} else {
					e.fake.Recorder().Inject(vendortest.Fault{Match: "api/v1/leads/", Status: 200,
						Body: `{"count":2,"next":"` + evil.URL + `/api/v1/leads/?limit=1&offset=1","results":[{"uuid":"a"}]}`})
				}
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
}
