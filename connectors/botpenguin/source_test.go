package botpenguin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/botpenguin"
	"github.com/leadsync/leadsync/connectors/botpenguin/botpenguintest"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
	"github.com/leadsync/leadsync/lead"
)

var options = map[string]any{"bot_id": botpenguintest.BotID, "customer_id": botpenguintest.CustomerID}

func instance(baseURL string) *connectors.Instance {
	return &connectors.Instance{
		Name: "bp", Type: "botpenguin", BaseURL: baseURL, Region: "IN",
		Auth: map[string]string{"token": botpenguintest.Token}, Options: options,
	}
}

func start(t *testing.T, f *botpenguintest.Fake) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func newSource(t *testing.T, in *connectors.Instance) *botpenguin.Source {
	t.Helper()
	src, err := botpenguin.NewSource(in)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// sampleChats are n lead chats (uuid lead-1..n) alternating flat and nested
// contacts, plus two non-lead chats.
func sampleChats(n int) []botpenguintest.Chat {
	var cs []botpenguintest.Chat
	for i := 1; i <= n; i++ {
		cs = append(cs, botpenguintest.Chat{
			UUID: fmt.Sprintf("lead-%d", i), Status: "OPEN", Lead: true, Nested: i%2 == 0,
			Name: fmt.Sprintf("Visitor Number%d", i), Email: fmt.Sprintf("visitor%d@example.in", i),
			Phone: fmt.Sprintf("98765432%02d", i), DialCode: "+91",
			CreatedAt: "2024-06-01T10:00:00.000Z", UpdatedAt: "2024-06-02T10:00:00.000Z",
		})
	}
	cs = append(cs,
		botpenguintest.Chat{UUID: "visitor-a", Name: "Just Browsing", Phone: "9000000001", DialCode: "+91"},
		botpenguintest.Chat{UUID: "visitor-b", Name: "Also Browsing"})
	return cs
}

// chatQueries lists the query of every chats request the fake received.
func chatQueries(t *testing.T, rec *vendortest.Server) []url.Values {
	t.Helper()
	var out []url.Values
	for _, r := range rec.Requests() {
		if strings.HasSuffix(r.Path, "/inbox/direct/chats") {
			q, err := url.ParseQuery(r.Query)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, q)
		}
	}
	return out
}

func TestPullReadsEveryContactShapeAndPageSize(t *testing.T) {
	tests := []struct {
		name     string
		shape    botpenguintest.Shape
		pageSize int
		requests int // pages with chats + the empty one that ends the scan
	}{
		{"flat, pages of 2", botpenguintest.Flat, 2, 4},
		{"nested, pages of 3", botpenguintest.Nested, 3, 3},
		{"per chat, pages of 10", botpenguintest.PerChat, 10, 2},
		{"per chat, page size equals total", botpenguintest.PerChat, 5, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := botpenguintest.New()
			f.AddChats(sampleChats(5)...)
			f.SetShape(tt.shape)
			f.SetPageSize(tt.pageSize)
			pages, err := sourcetest.Pull(newSource(t, instance(start(t, f).URL)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"lead-1", "lead-2", "lead-3", "lead-4", "lead-5"}, sourcetest.SourceIDs(pages)); diff != "" {
				t.Errorf("source ids (-want +got):\n%s", diff)
			}
			for i, p := range pages {
				if want := fmt.Sprintf("chats page %d", i+1); p.Label != want || p.Cursor != nil || len(p.Problems) > 0 {
					t.Errorf("page %d: label %q cursor %q problems %v; want %q, nil, none", i, p.Label, p.Cursor, p.Problems, want)
				}
				for _, r := range p.Records {
					if len(r.Emails) != 1 || len(r.Phones) != 1 || r.FirstName != "Visitor" {
						t.Errorf("%s: contact not read: %+v", r.SourceID, r)
					}
				}
			}
			qs := chatQueries(t, f.Recorder())
			if len(qs) != tt.requests {
				t.Fatalf("%d chats requests, want %d", len(qs), tt.requests)
			}
			for i, q := range qs {
				want := url.Values{"botId": {botpenguintest.BotID}, "customerId": {botpenguintest.CustomerID}, "page": {fmt.Sprint(i + 1)}, "type": {"lead"}}
				if diff := cmp.Diff(want, q); diff != "" {
					t.Errorf("request %d query (-want +got):\n%s", i+1, diff)
				}
			}
		})
	}
}

func TestPullMapsFakeChat(t *testing.T) {
	f := botpenguintest.New()
	f.AddChats(botpenguintest.Chat{
		UUID: "u-1", Lead: true, Nested: true, Status: "ONHOLD",
		Name: "Meera Nair", Email: "Meera@Example.in", Phone: "9123456780", DialCode: "91",
		CreatedAt: "2024-06-05T11:00:00.000Z", UpdatedAt: "2024-06-06T11:00:00.000Z",
		LastMessage: &botpenguintest.LastMessage{By: "user", At: "2024-06-06T11:00:00.000Z", Channel: "Instagram"},
		Tags:        []string{"vip"},
		Attributes:  []botpenguintest.Attribute{{Key: "age", Value: 31}, {Key: "city", Value: "Kochi"}},
		Notes:       []botpenguintest.Note{{Title: "Follow-up", Description: "Send brochure"}},
	})
	pages, err := sourcetest.Pull(newSource(t, instance(start(t, f).URL)))
	if err != nil {
		t.Fatal(err)
	}
	want := []lead.Record{{
		Source: "bp", SourceID: "u-1", FirstName: "Meera", LastName: "Nair",
		Emails: []string{"meera@example.in"}, Phones: []string{"+919123456780"},
		Channel: "instagram", Status: "ONHOLD", Context: "botpenguin bot " + botpenguintest.BotID,
		Tags:       []string{"vip"},
		Attributes: map[string]string{"age": "31", "city": "Kochi", "note:Follow-up": "Send brochure"},
		CreatedAt:  fixture.MustTime(t, "2024-06-05T11:00:00Z"), UpdatedAt: fixture.MustTime(t, "2024-06-06T11:00:00Z"),
	}}
	if diff := cmp.Diff(want, pages[0].Records, cmpopts.IgnoreFields(lead.Record{}, "Raw")); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if !json.Valid(pages[0].Records[0].Raw) || !strings.Contains(string(pages[0].Records[0].Raw), `"userDetails"`) {
		t.Errorf("Raw = %s, want the chat as the vendor sent it", pages[0].Records[0].Raw)
	}
}

func TestPullSendsEveryTokenHeader(t *testing.T) {
	f := botpenguintest.New()
	if _, err := sourcetest.Pull(newSource(t, instance(start(t, f).URL))); err != nil {
		t.Fatal(err)
	}
	h := f.Recorder().Requests()[0].Header
	want := map[string]string{
		"X-Bot-Token":   botpenguintest.Token,
		"X-Bp-Token":    botpenguintest.Token,
		"Authorization": "Bearer " + botpenguintest.Token,
		"Authtype":      "Key",
		"Accept":        "application/json",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestPullUnderPathPrefix(t *testing.T) {
	f := botpenguintest.New()
	f.AddChats(sampleChats(3)...)
	f.SetPageSize(2)
	mux := http.NewServeMux()
	mux.Handle("/bp/v7/", http.StripPrefix("/bp/v7", f.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	pages, err := sourcetest.Pull(newSource(t, instance(srv.URL+"/bp/v7/")))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"lead-1", "lead-2", "lead-3"}, sourcetest.SourceIDs(pages)); diff != "" {
		t.Errorf("source ids (-want +got):\n%s", diff)
	}
}

func TestBadPhoneIsProblemAndRecordIsEmitted(t *testing.T) {
	f := botpenguintest.New()
	f.AddChats(botpenguintest.Chat{UUID: "bad-1", Lead: true, Name: "Bad Phone", Phone: "12", DialCode: "+91"})
	pages, err := sourcetest.Pull(newSource(t, instance(start(t, f).URL)))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 1 || len(pages[0].Records) != 1 {
		t.Fatalf("pages = %+v, want one page with the record", pages)
	}
	if rec := pages[0].Records[0]; len(rec.Phones) != 0 || len(rec.OtherPhones) != 1 {
		t.Errorf("Phones=%v OtherPhones=%v, want the bad phone kept aside", rec.Phones, rec.OtherPhones)
	}
	if len(pages[0].Problems) != 1 || !strings.Contains(pages[0].Problems[0].Error(), "chat bad-1") {
		t.Errorf("problems = %v, want one naming chat bad-1", pages[0].Problems)
	}
}

func TestMalformedJSONFailsRunNamingThePage(t *testing.T) {
	f := botpenguintest.New()
	f.AddChats(sampleChats(4)...)
	f.SetPageSize(2)
	f.Recorder().Inject(vendortest.Fault{Match: "inbox/direct/chats", Skip: 1, Status: http.StatusOK, Body: `{"success":true,"data":[{"_id":`})
	var emitted int
	err := newSource(t, instance(start(t, f).URL)).Pull(context.Background(), nil, func(connectors.Page) error {
		emitted++
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "chats page 2") || !strings.Contains(err.Error(), "malformed JSON") {
		t.Fatalf("err = %v, want a malformed JSON error naming chats page 2", err)
	}
	if emitted != 1 {
		t.Errorf("%d pages emitted before the bad one, want 1", emitted)
	}
}

func TestSuccessFalseFailsRunWithVendorMessage(t *testing.T) {
	f := botpenguintest.New()
	f.Recorder().Inject(vendortest.Fault{Match: "inbox/direct/chats", Status: http.StatusOK, Body: `{"success":false,"message":"Bot is inactive","code":200}`})
	_, err := sourcetest.Pull(newSource(t, instance(start(t, f).URL)))
	if err == nil || !strings.Contains(err.Error(), "Bot is inactive") || !strings.Contains(err.Error(), "chats page 1") {
		t.Fatalf("err = %v, want the vendor's message and the page", err)
	}
}

func TestConfigurationErrorsFailTheRun(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(in *connectors.Instance)
		want   string
	}{
		{"wrong token", func(in *connectors.Instance) { in.Auth = map[string]string{"token": "wrong-token-123"} }, "Unauthorized"},
		{"unknown bot", func(in *connectors.Instance) {
			in.Options = map[string]any{"bot_id": "nope", "customer_id": botpenguintest.CustomerID}
		}, "Bot not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := botpenguintest.New()
			in := instance(start(t, f).URL)
			tt.mutate(in)
			_, err := sourcetest.Pull(newSource(t, in))
			if !errors.Is(err, connectors.ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a configuration error with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "wrong-token-123") {
				t.Errorf("err %q reveals the token", err)
			}
			if n := f.Recorder().Count("", "inbox/direct/chats"); n != 1 {
				t.Errorf("%d requests, want 1 (no retry of a configuration error)", n)
			}
		})
	}
}

func TestRepeatedPageEndsTheScan(t *testing.T) {
	f := botpenguintest.New()
	page := `{"success":true,"message":"ok","code":200,"data":[{"uuid":"same-1","name":"A"},{"uuid":"same-2","name":"B"}]}`
	f.Recorder().Inject(vendortest.Fault{Match: "inbox/direct/chats", Times: 5, Status: http.StatusOK, Body: page})
	pages, err := sourcetest.Pull(newSource(t, instance(start(t, f).URL)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"same-1", "same-2"}, sourcetest.SourceIDs(pages)); diff != "" {
		t.Errorf("source ids (-want +got):\n%s", diff)
	}
	if n := f.Recorder().Count("", "inbox/direct/chats"); n != 2 {
		t.Errorf("%d requests, want 2 (the repeat is noticed on page 2)", n)
	}
}

func TestEmitErrorStopsPull(t *testing.T) {
	f := botpenguintest.New()
	f.AddChats(sampleChats(5)...)
	f.SetPageSize(2)
	stop := errors.New("store full")
	err := newSource(t, instance(start(t, f).URL)).Pull(context.Background(), nil, func(connectors.Page) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want emit's error", err)
	}
	if n := f.Recorder().Count("", "inbox/direct/chats"); n != 1 {
		t.Errorf("%d requests after emit failed, want 1", n)
	}
}

func TestCancelledContextEndsPull(t *testing.T) {
	f := botpenguintest.New()
	f.AddChats(sampleChats(2)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := newSource(t, instance(start(t, f).URL)).Pull(ctx, nil, func(connectors.Page) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestUpsertLead(t *testing.T) {
	f := botpenguintest.New()
	f.AddChats(botpenguintest.Chat{UUID: "u-1", Lead: true, Status: "OPEN", Name: "Old Name", Tags: []string{"a"}})
	client := newSource(t, instance(start(t, f).URL)).Client()
	ctx := context.Background()

	err := client.UpsertLead(ctx, botpenguin.LeadUpdate{
		UUID: "u-1", Name: "Priya Sharma", Email: "priya@example.in", Phone: "9876543210", DialCode: "91",
		Status: "review", Tags: []string{"b"}, Attributes: []botpenguin.Attribute{{Key: "city", Value: "Pune"}},
		Notes: []botpenguin.Note{{Title: "Synced", Description: "from leadsync"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := f.Chat("u-1")
	want := botpenguintest.Chat{
		UUID: "u-1", Lead: true, Status: "REVIEW", Name: "Priya Sharma", Email: "priya@example.in",
		Phone: "9876543210", DialCode: "+91", Tags: []string{"a", "b"},
		Attributes: []botpenguintest.Attribute{{Key: "city", Value: "Pune"}},
		Notes:      []botpenguintest.Note{{Title: "Synced", Description: "from leadsync"}},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(botpenguintest.Chat{}, "ID")); diff != "" {
		t.Errorf("stored chat (-want +got):\n%s", diff)
	}

	// The body carries the bot and the account the instance is bound to.
	reqs := f.Recorder().Requests()
	var body map[string]any
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body["botId"] != botpenguintest.BotID || body["customerId"] != botpenguintest.CustomerID || body["uuid"] != "u-1" {
		t.Errorf("body = %v, want uuid, botId and customerId", body)
	}
	if _, sent := body["agentId"]; sent {
		t.Errorf("body = %v, want empty fields left out", body)
	}

	// A new uuid creates a lead that the source then reads.
	if err := client.UpsertLead(ctx, botpenguin.LeadUpdate{UUID: "u-2", Name: "New Lead", Phone: "9123456780", DialCode: "+91"}); err != nil {
		t.Fatal(err)
	}
	pages, err := sourcetest.Pull(newSource(t, instance(start(t, f).URL)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"u-1", "u-2"}, sourcetest.SourceIDs(pages)); diff != "" {
		t.Errorf("leads after upsert (-want +got):\n%s", diff)
	}
}

func TestUpsertLeadRefusals(t *testing.T) {
	f := botpenguintest.New()
	srv := start(t, f)
	client := newSource(t, instance(srv.URL)).Client()
	tests := []struct {
		name string
		u    botpenguin.LeadUpdate
		want string
	}{
		{"no uuid", botpenguin.LeadUpdate{Name: "x"}, "uuid is required"},
		{"unknown status", botpenguin.LeadUpdate{UUID: "u", Status: "WON"}, `status "WON"`},
	}
	for _, tt := range tests {
		if err := client.UpsertLead(context.Background(), tt.u); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	if n := f.Recorder().Count(http.MethodPut, "inbox/direct/lead"); n != 0 {
		t.Errorf("%d upserts sent, want none: the client refuses before sending", n)
	}

	f.Recorder().Inject(vendortest.Fault{Match: "inbox/direct/lead", Status: http.StatusOK, Body: `{"success":false,"message":"Lead is locked","code":200}`})
	if err := client.UpsertLead(context.Background(), botpenguin.LeadUpdate{UUID: "u"}); err == nil || !strings.Contains(err.Error(), "Lead is locked") {
		t.Errorf("err = %v, want the vendor's message", err)
	}
	bad := instance(srv.URL)
	bad.Auth = map[string]string{"token": "wrong-token-123"}
	if err := newSource(t, bad).Client().UpsertLead(context.Background(), botpenguin.LeadUpdate{UUID: "u"}); !errors.Is(err, connectors.ErrConfig) {
		t.Errorf("wrong token: err = %v, want a configuration error", err)
	}
}

func TestCheck(t *testing.T) {
	sourcetest.RunCheck(t, "botpenguin", "bp", "https://api.v7.botpenguin.com/", []sourcetest.CheckCase{
		{Name: "valid", Auth: map[string]string{"token": "t0k3n"}, Options: options},
		{Name: "no token", Options: options, Want: "connectors.bp.auth: missing [token]"},
		{Name: "no bot_id", Auth: map[string]string{"token": "t0k3n"}, Options: map[string]any{"customer_id": "c"}, Want: "connectors.bp.bot_id: required"},
		{Name: "no customer_id", Auth: map[string]string{"token": "t0k3n"}, Options: map[string]any{"bot_id": "b"}, Want: "connectors.bp.customer_id: required"},
		{Name: "no options", Auth: map[string]string{"token": "t0k3n"}, Want: "bot_id"},
		{Name: "unknown option", Auth: map[string]string{"token": "t0k3n"}, Options: map[string]any{"bot_id": "b", "customer_id": "c", "page_size": 5}, Want: "page_size"},
	})
}

// TestCapturedAnswersFromTestdata replays the captured upsert and 401 answers.
func TestCapturedAnswersFromTestdata(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /inbox/direct/lead", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, "testdata/lead_upsert.json")
	})
	mux.HandleFunc("GET /inbox/direct/chats", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile("testdata/unauthorized.json")
		if err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusUnauthorized)
		w.Write(b)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	src := newSource(t, instance(srv.URL))
	if err := src.Client().UpsertLead(context.Background(), botpenguin.LeadUpdate{UUID: "c6c1a3e0-9f3b-4a43-8d0e-2b8f1f9d7a11", Status: "REVIEW"}); err != nil {
		t.Errorf("upsert: %v", err)
	}
	if _, err := sourcetest.Pull(src); !errors.Is(err, connectors.ErrConfig) || !strings.Contains(err.Error(), "Unauthorized") {
		t.Errorf("401: err = %v, want a configuration error with the vendor's message", err)
	}
}
