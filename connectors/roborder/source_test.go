package roborder_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/roborder"
	"github.com/leadsync/leadsync/connectors/roborder/robordertest"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
	"github.com/leadsync/leadsync/lead"
)

var tokenAuth = map[string]string{"token": robordertest.Token}

var loginAuth = map[string]string{"email": robordertest.Email, "password": robordertest.Password}

// sampleLeads are five valid leads, ids 1..5.
func sampleLeads() []robordertest.Lead {
	var ls []robordertest.Lead
	for i := 1; i <= 5; i++ {
		ls = append(ls, robordertest.Lead{
			CustomerName: fmt.Sprintf("Client Number%d", i),
			Platform:     "Facebook",
			PageName:     "Amine Pharma",
			Phone:        fmt.Sprintf("2200000%d", i),
			CreatedAt:    "2024-05-01T10:00:00.000000Z",
			UpdatedAt:    "2024-05-02T10:00:00.000000Z",
		})
	}
	return ls
}

func start(t *testing.T, f *robordertest.Fake) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func newSource(t *testing.T, baseURL string, auth map[string]string) *roborder.Source {
	t.Helper()
	src, err := roborder.NewSource(&connectors.Instance{Name: "rb", Type: "roborder", BaseURL: baseURL, Region: "TN", Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// leadQueries lists the raw query of every leads request the fake received.
func leadQueries(rec *vendortest.Server) []string {
	out := []string{}
	for _, r := range rec.Requests() {
		if strings.HasSuffix(r.Path, "/api/v1/leads") {
			out = append(out, r.Query)
		}
	}
	return out
}

func TestPullReadsEveryShape(t *testing.T) {
	tests := []struct {
		name    string
		shape   robordertest.Shape
		ids     []string
		labels  []string
		queries []string
	}{
		{"array", robordertest.Array, []string{"1", "2", "3", "4", "5"}, []string{"leads page 1"}, []string{"page=1"}},
		{"single", robordertest.Single, []string{"1"}, []string{"leads page 1"}, []string{"page=1"}},
		{"paginator", robordertest.Paginator, []string{"1", "2", "3", "4", "5"},
			[]string{"leads page 1", "leads page 2", "leads page 3"}, []string{"page=1", "page=2", "page=3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := robordertest.New()
			f.AddLeads(sampleLeads()...)
			f.SetShape(tt.shape)
			f.SetPerPage(2)
			src := newSource(t, start(t, f).URL, tokenAuth)
			pages, err := sourcetest.Pull(src)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.ids, sourcetest.SourceIDs(pages)); diff != "" {
				t.Errorf("source ids (-want +got):\n%s", diff)
			}
			var labels []string
			for _, p := range pages {
				labels = append(labels, p.Label)
				if p.Cursor != nil {
					t.Errorf("%s: cursor %q, want nil (full scan)", p.Label, p.Cursor)
				}
				if len(p.Problems) > 0 {
					t.Errorf("%s: problems %v", p.Label, p.Problems)
				}
			}
			if diff := cmp.Diff(tt.labels, labels); diff != "" {
				t.Errorf("page labels (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.queries, leadQueries(f.Recorder())); diff != "" {
				t.Errorf("leads requests (-want +got):\n%s", diff)
			}
		})
	}
}

// The real service may ignore ?page= and answer the same list again: a
// connector that asked for page 2 would loop or double-count.
func TestPullNeverAsksForPage2WithoutPaginator(t *testing.T) {
	for _, shape := range []robordertest.Shape{robordertest.Array, robordertest.Single} {
		f := robordertest.New()
		f.AddLeads(sampleLeads()...)
		f.SetShape(shape)
		src := newSource(t, start(t, f).URL, tokenAuth)
		for run := 0; run < 2; run++ {
			if _, err := sourcetest.Pull(src); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range leadQueries(f.Recorder()) {
			if q != "page=1" {
				t.Errorf("shape %d: requested leads with %q, want only page=1", shape, q)
			}
		}
		if n := f.Recorder().Count(http.MethodGet, "api/v1/leads"); n != 2 {
			t.Errorf("shape %d: %d leads requests for two runs, want 2", shape, n)
		}
	}
}

func TestPullMapsFakeLead(t *testing.T) {
	f := robordertest.New()
	f.AddLeads(robordertest.Lead{
		ID: 42, Code: "ORD-00042", CustomerName: " Salma  Ben Ali", Platform: "Instagram", PageName: "Cafe Sidi",
		Phone: "98765432", Email: "Salma@Example.com", CreatedAt: "2024-05-01T10:00:00.000000Z",
	})
	pages, err := sourcetest.Pull(newSource(t, start(t, f).URL, tokenAuth))
	if err != nil {
		t.Fatal(err)
	}
	want := []lead.Record{{
		Source: "rb", SourceID: "42", FirstName: "Salma", LastName: "Ben Ali",
		Emails: []string{"salma@example.com"}, Phones: []string{"+21698765432"},
		Channel: "instagram", Context: "roborder Instagram page Cafe Sidi (ORD-00042)",
		CreatedAt: fixture.MustTime(t, "2024-05-01T10:00:00Z"),
	}}
	if diff := cmp.Diff(want, pages[0].Records, cmpopts.IgnoreFields(lead.Record{}, "Raw")); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(pages[0].Records[0].Raw), `"code":"ORD-00042"`) {
		t.Errorf("Raw = %s, want the vendor's lead JSON", pages[0].Records[0].Raw)
	}
}

func TestPullFollowsPaginatorUnderPathPrefix(t *testing.T) {
	f := robordertest.New()
	f.AddLeads(sampleLeads()...)
	f.SetShape(robordertest.Paginator)
	f.SetPerPage(3)
	mux := http.NewServeMux()
	mux.Handle("/shop/v1/", http.StripPrefix("/shop/v1", f.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	pages, err := sourcetest.Pull(newSource(t, srv.URL+"/shop/v1/", tokenAuth))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1", "2", "3", "4", "5"}, sourcetest.SourceIDs(pages)); diff != "" {
		t.Errorf("source ids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"page=1", "page=2"}, leadQueries(f.Recorder())); diff != "" {
		t.Errorf("leads requests (-want +got):\n%s", diff)
	}
}

func TestLoginFormLogsInOnceAndAgainAfter401(t *testing.T) {
	f := robordertest.New()
	f.AddLeads(sampleLeads()...)
	src := newSource(t, start(t, f).URL, loginAuth)
	if _, err := sourcetest.Pull(src); err != nil {
		t.Fatal(err)
	}
	if _, err := sourcetest.Pull(src); err != nil {
		t.Fatal(err)
	}
	if n := f.Recorder().Count(http.MethodPost, "api/v1/login"); n != 1 {
		t.Fatalf("%d logins for two runs with a valid token, want 1", n)
	}

	f.RevokeTokens()
	pages, err := sourcetest.Pull(src)
	if err != nil {
		t.Fatalf("run after revocation: %v", err)
	}
	if len(sourcetest.SourceIDs(pages)) != 5 {
		t.Errorf("got %d records after renewal, want 5", len(sourcetest.SourceIDs(pages)))
	}
	if n := f.Recorder().Count(http.MethodPost, "api/v1/login"); n != 2 {
		t.Errorf("%d logins, want 2 (one renewal after the 401)", n)
	}
	reqs := f.Recorder().Requests()
	last := reqs[len(reqs)-1]
	if last.Header.Get("Authorization") == "Bearer "+robordertest.Token || !strings.HasPrefix(last.Header.Get("Authorization"), "Bearer ") {
		t.Errorf("Authorization = %q, want the issued token", last.Header.Get("Authorization"))
	}
}

func TestLoginAnswerFromTestdataIsUsedAsBearerToken(t *testing.T) {
	var gotAuth string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/login", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, "testdata/login.json")
	})
	mux.HandleFunc("GET /api/v1/leads", func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		http.ServeFile(w, r, "testdata/leads_single.json")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	if _, err := sourcetest.Pull(newSource(t, srv.URL, loginAuth)); err != nil {
		t.Fatal(err)
	}
	if want := "Bearer 8|MgowQLkdpShwrb8AI9j1YAGmwnDjAOeE17XrP5nb"; gotAuth != want {
		t.Errorf("Authorization = %q, want %q", gotAuth, want)
	}
}

func TestRefusedCredentialsFailTheRunAsConfigError(t *testing.T) {
	tests := []struct {
		name string
		auth map[string]string
		want string
	}{
		{"wrong password", map[string]string{"email": robordertest.Email, "password": "nope-nope"}, "Unauthorised."},
		{"revoked dashboard token", map[string]string{"token": "0|revoked-token"}, "Unauthenticated."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := robordertest.New()
			f.AddLeads(sampleLeads()...)
			_, err := sourcetest.Pull(newSource(t, start(t, f).URL, tt.auth))
			if !errors.Is(err, connectors.ErrConfig) {
				t.Fatalf("err = %v, want a configuration error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want the vendor's message %q", err, tt.want)
			}
			for _, secret := range tt.auth {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("err %q reveals a credential", err)
				}
			}
		})
	}
}

func TestBadPhoneIsProblemAndRecordIsEmitted(t *testing.T) {
	f := robordertest.New()
	f.AddLeads(robordertest.Lead{ID: 7, CustomerName: "Bad Phone", Platform: "Facebook", Phone: "12"})
	pages, err := sourcetest.Pull(newSource(t, start(t, f).URL, tokenAuth))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 1 || len(pages[0].Records) != 1 {
		t.Fatalf("pages = %+v, want one page with the record", pages)
	}
	rec := pages[0].Records[0]
	if len(rec.Phones) != 0 || !cmp.Equal(rec.OtherPhones, []string{"12"}) {
		t.Errorf("Phones=%v OtherPhones=%v, want the bad phone kept aside", rec.Phones, rec.OtherPhones)
	}
	if len(pages[0].Problems) != 1 || !strings.Contains(pages[0].Problems[0].Error(), "lead 7") {
		t.Errorf("problems = %v, want one naming lead 7", pages[0].Problems)
	}
}

func TestMalformedJSONFailsRunNamingThePage(t *testing.T) {
	f := robordertest.New()
	f.AddLeads(sampleLeads()...)
	f.SetShape(robordertest.Paginator)
	f.SetPerPage(2)
	f.Recorder().Inject(vendortest.Fault{Match: "api/v1/leads", Skip: 1, Status: http.StatusOK, Body: `{"success":true,"data":{"current_page":2,"data":[{"id":3,`})
	var emitted int
	err := newSource(t, start(t, f).URL, tokenAuth).Pull(context.Background(), nil, func(connectors.Page) error {
		emitted++
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "leads page 2") || !strings.Contains(err.Error(), "malformed JSON") {
		t.Fatalf("err = %v, want a malformed JSON error naming leads page 2", err)
	}
	if emitted != 1 {
		t.Errorf("%d pages emitted before the bad one, want 1", emitted)
	}
}

func TestSuccessFalseFailsRunWithVendorMessage(t *testing.T) {
	f := robordertest.New()
	f.SetFailure("Facebook page disconnected.")
	_, err := sourcetest.Pull(newSource(t, start(t, f).URL, tokenAuth))
	if err == nil || !strings.Contains(err.Error(), "Facebook page disconnected.") || !strings.Contains(err.Error(), "leads page 1") {
		t.Fatalf("err = %v, want the vendor's message and the page", err)
	}
}

func TestTooManyAttemptsIsRetriedAfterRetryAfter(t *testing.T) {
	f := robordertest.New()
	f.AddLeads(sampleLeads()...)
	fault := robordertest.TooManyAttempts("0")
	fault.Match = "api/v1/leads"
	f.Recorder().Inject(fault)
	pages, err := sourcetest.Pull(newSource(t, start(t, f).URL, tokenAuth))
	if err != nil {
		t.Fatal(err)
	}
	if len(sourcetest.SourceIDs(pages)) != 5 {
		t.Errorf("got %d records, want 5", len(sourcetest.SourceIDs(pages)))
	}
	if n := f.Recorder().Count(http.MethodGet, "api/v1/leads"); n != 2 {
		t.Errorf("%d leads requests, want 2 (the 429 and its retry)", n)
	}
}

func TestForeignNextPageLinkIsRefused(t *testing.T) {
	f := robordertest.New()
	f.Recorder().Inject(vendortest.Fault{Match: "api/v1/leads", Status: http.StatusOK, Body: `{"success":true,"data":{"current_page":1,"data":[{"id":1,"phone":"22000001"}],"next_page_url":"https://evil.example/api/v1/leads?page=2","last_page":2}}`})
	var emitted int
	err := newSource(t, start(t, f).URL, tokenAuth).Pull(context.Background(), nil, func(connectors.Page) error {
		emitted++
		return nil
	})
	if !errors.Is(err, httpapi.ErrForeignHost) {
		t.Fatalf("err = %v, want ErrForeignHost", err)
	}
	if emitted != 1 {
		t.Errorf("emitted %d pages, want the first one only", emitted)
	}
}

func TestRepeatedNextPageLinkStopsWithError(t *testing.T) {
	f := robordertest.New()
	page := `{"success":true,"data":{"current_page":1,"data":[{"id":1,"phone":"22000001"}],"next_page_url":"%s/api/v1/leads?page=2","last_page":9}}`
	srv := start(t, f)
	f.Recorder().Inject(vendortest.Fault{Match: "api/v1/leads", Times: 3, Status: http.StatusOK, Body: fmt.Sprintf(page, srv.URL)})
	_, err := sourcetest.Pull(newSource(t, srv.URL, tokenAuth))
	if err == nil || !strings.Contains(err.Error(), "pagination loop") {
		t.Fatalf("err = %v, want a pagination loop error", err)
	}
}

func TestEmitErrorStopsPull(t *testing.T) {
	f := robordertest.New()
	f.AddLeads(sampleLeads()...)
	f.SetShape(robordertest.Paginator)
	f.SetPerPage(2)
	stop := errors.New("store full")
	err := newSource(t, start(t, f).URL, tokenAuth).Pull(context.Background(), nil, func(connectors.Page) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want emit's error", err)
	}
	if n := f.Recorder().Count(http.MethodGet, "api/v1/leads"); n != 1 {
		t.Errorf("%d leads requests after emit failed, want 1", n)
	}
}

func TestCancelledContextEndsPull(t *testing.T) {
	f := robordertest.New()
	f.AddLeads(sampleLeads()...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := newSource(t, start(t, f).URL, tokenAuth).Pull(ctx, nil, func(connectors.Page) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestCheck(t *testing.T) {
	sourcetest.RunCheck(t, "roborder", "rb", "https://app.roborder.ai/", []sourcetest.CheckCase{
		{Name: "token", Auth: tokenAuth},
		{Name: "email and password", Auth: loginAuth},
		{Name: "nothing", Auth: nil, Want: "connectors.rb.auth: missing [token]"},
		{Name: "email alone", Auth: map[string]string{"email": "a@b.c"}, Want: "missing [password]"},
		{Name: "unknown option", Auth: tokenAuth, Options: map[string]any{"page_size": 10}, Want: "page_size"},
	})
}

func TestLoginAnswerProblems(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantConfig bool
		want       string
	}{
		{"success false with 200", `{"success":false,"message":"Account suspended.","data":[]}`, true, "Account suspended."},
		{"malformed, token inside", `{"success":true,"data":{"access_token":"9|SecretTokenValue",}}`, false, "not the documented JSON"},
		{"no token", `{"success":true,"data":{"name":"x"}}`, false, "without data.access_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := robordertest.New()
			f.Recorder().Inject(vendortest.Fault{Match: "api/v1/login", Status: http.StatusOK, Body: tt.body})
			_, err := sourcetest.Pull(newSource(t, start(t, f).URL, loginAuth))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if errors.Is(err, connectors.ErrConfig) != tt.wantConfig {
				t.Errorf("configuration error = %v, want %v", !tt.wantConfig, tt.wantConfig)
			}
			if strings.Contains(err.Error(), "SecretTokenValue") {
				t.Errorf("err %q reveals the token", err)
			}
		})
	}
}

// TestVendorErrorBodiesFromTestdata replays the captured error answers with
// their statuses.
func TestVendorErrorBodiesFromTestdata(t *testing.T) {
	var throttled atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/login", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		w.Write(mustRead(t, "testdata/login_refused.json"))
	})
	mux.HandleFunc("GET /api/v1/leads", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "Bearer "+robordertest.Token:
			w.WriteHeader(http.StatusUnauthorized)
			w.Write(mustRead(t, "testdata/unauthenticated.json"))
		case !throttled.Load():
			throttled.Store(true)
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write(mustRead(t, "testdata/too_many_attempts.json"))
		default:
			w.Write(mustRead(t, "testdata/leads_array.json"))
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	_, err := sourcetest.Pull(newSource(t, srv.URL, loginAuth))
	if !errors.Is(err, connectors.ErrConfig) || !strings.Contains(err.Error(), "Unauthorised.") {
		t.Errorf("refused login: err = %v, want a configuration error with the vendor's message", err)
	}
	_, err = sourcetest.Pull(newSource(t, srv.URL, map[string]string{"token": "0|stale-token"}))
	if !errors.Is(err, connectors.ErrConfig) || !strings.Contains(err.Error(), "Unauthenticated.") {
		t.Errorf("stale token: err = %v, want a configuration error with the vendor's message", err)
	}
	pages, err := sourcetest.Pull(newSource(t, srv.URL, tokenAuth))
	if err != nil || !throttled.Load() {
		t.Fatalf("after Too Many Attempts: err = %v (throttled %v), want a retried success", err, throttled.Load())
	}
	if diff := cmp.Diff([]string{"2", "3", "4"}, sourcetest.SourceIDs(pages)); diff != "" {
		t.Errorf("source ids (-want +got):\n%s", diff)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
	}
	return b
}
