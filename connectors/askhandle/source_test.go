package askhandle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/askhandle"
	"github.com/leadsync/leadsync/connectors/askhandle/askhandletest"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
	"github.com/leadsync/leadsync/lead"
)

// now is the clock of every test: 2024-03-20 12:00 UTC.
var now = time.Date(2024, 3, 20, 12, 0, 0, 0, time.UTC)

func apiKeyAuth() map[string]string { return map[string]string{"api_key": askhandletest.APIKey} }

func loginAuth() map[string]string {
	return map[string]string{"username": askhandletest.Username, "password": askhandletest.Password}
}

func instance(baseURL string, auth map[string]string) *connectors.Instance {
	return &connectors.Instance{
		Name: "ah", Type: "askhandle", BaseURL: baseURL, Region: "TN",
		Auth:    auth,
		Options: map[string]any{"page_size": 2},
		Clock:   func() time.Time { return now },
	}
}

// serve starts f on 127.0.0.1 under a path prefix, as vendorsim mounts it.
func serve(t testing.TB, f *askhandletest.Fake) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/askhandle/", http.StripPrefix("/askhandle", f.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/askhandle/"
}

func newSource(t testing.TB, in *connectors.Instance) connectors.Source {
	t.Helper()
	s, err := askhandle.NewSource(in)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pull runs one Pull and returns the pages it emitted.
func pull(t *testing.T, s connectors.Source, cur connectors.Cursor) ([]connectors.Page, error) {
	t.Helper()
	var pages []connectors.Page
	err := s.Pull(context.Background(), cur, func(p connectors.Page) error {
		pages = append(pages, p)
		return nil
	})
	return pages, err
}

func mustPull(t *testing.T, s connectors.Source, cur connectors.Cursor) []connectors.Page {
	t.Helper()
	pages, err := pull(t, s, cur)
	if err != nil {
		t.Fatal(err)
	}
	return pages
}

// sample fills f with five leads in the window, one older, and three rooms.
func sample(f *askhandletest.Fake) {
	for i, day := range []int{19, 18, 17, 16, 15} {
		f.AddLead(askhandletest.Lead{
			UUID:        fmt.Sprintf("lead-%d", i+1),
			Nickname:    fmt.Sprintf("Visitor %d", i+1),
			Email:       fmt.Sprintf("v%d@example.com", i+1),
			PhoneNumber: fmt.Sprintf("+216 20 123 45%d", i),
			CreatedAt:   fmt.Sprintf("2024-03-%02dT10:00:00Z", day),
		})
	}
	f.AddLead(askhandletest.Lead{UUID: "lead-old", Email: "old@example.com", CreatedAt: "2023-01-01T10:00:00Z"})
	five := 5
	f.AddRoom(askhandletest.Room{UUID: "room-1", Label: "Pricing", Rating: &five, IsBotUse: true, CreatedAt: "2024-03-19T09:00:00Z"})
	f.AddRoom(askhandletest.Room{UUID: "room-2", Name: "Visitor 2", CreatedAt: "2024-03-18T09:00:00Z"})
	f.AddRoom(askhandletest.Room{UUID: "room-3", Label: "Silent", CreatedAt: "2024-03-17T09:00:00Z"})
	f.AddMessage(askhandletest.Message{UUID: "m-1b", Nickname: "Bot", Body: "How can I help?", IsSupportSender: true, SentAt: "2024-03-19T09:00:05Z", Room: "room-1"})
	f.AddMessage(askhandletest.Message{UUID: "m-1a", Nickname: "Visitor 1", Email: "v1@example.com", Body: "Hi", SentAt: "2024-03-19T09:00:01Z", Room: "room-1"})
	f.AddMessage(askhandletest.Message{UUID: "m-2a", Nickname: "Visitor 2", PhoneNumber: "+21620123451", Body: "Call me", SentAt: "2024-03-18T09:00:01Z", Room: "room-2"})
	f.AddMessage(askhandletest.Message{UUID: "m-2b", Nickname: "Agent Sami", Email: "sami@shop.example", Body: "Sure", IsSupportSender: true, SentAt: "2024-03-18T09:01:00Z", Room: "room-2"})
}

type pageSummary struct {
	Label   string
	IDs     []string
	Cursor  string
	Problem int
}

func summarize(pages []connectors.Page) []pageSummary {
	var out []pageSummary
	for _, p := range pages {
		s := pageSummary{Label: p.Label, Cursor: string(p.Cursor), Problem: len(p.Problems)}
		for _, r := range p.Records {
			s.IDs = append(s.IDs, r.SourceID)
		}
		out = append(out, s)
	}
	return out
}

func TestPullReadsLeadsThenRoomsInEveryShape(t *testing.T) {
	// Every shape reads as the same pages.
	want := []pageSummary{
		{Label: "leads offset 0", IDs: []string{"lead-1", "lead-2"}},
		{Label: "leads offset 2", IDs: []string{"lead-3", "lead-4"}},
		{Label: "leads offset 4", IDs: []string{"lead-5"}, Cursor: `{"leads_date":"2024-03-19"}`},
		{Label: "rooms page 1", IDs: []string{"room:room-1", "room:room-2"}},
		{Label: "rooms page 2", IDs: []string{"room:room-3"}},
	}
	tests := []struct {
		name   string
		shape  askhandletest.Shape
		field  askhandletest.RoomField
		inline askhandletest.Inline
	}{
		{
			name: "paginated, room objects, inline message objects", shape: askhandletest.Paginated,
			field: askhandletest.RoomObject, inline: askhandletest.InlineObjects,
		},
		{
			name: "bare arrays, room strings, inline uuids", shape: askhandletest.BareArray,
			field: askhandletest.RoomString, inline: askhandletest.InlineUUIDs,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := askhandletest.New()
			f.SetShape(tt.shape)
			f.SetRoomField(tt.field)
			f.SetInline(tt.inline)
			sample(f)
			pages := mustPull(t, newSource(t, instance(serve(t, f), apiKeyAuth())), nil)
			if diff := cmp.Diff(want, summarize(pages)); diff != "" {
				t.Fatalf("pages (-want +got):\n%s", diff)
			}
			rooms := pages[3].Records
			wantConv := []lead.Conversation{{
				ID: "room-1", Channel: "webchat", Title: "Pricing",
				Messages: []lead.Message{
					{ID: "m-1a", Sender: lead.SenderUser, Name: "Visitor 1", Text: "Hi", At: time.Date(2024, 3, 19, 9, 0, 1, 0, time.UTC)},
					{ID: "m-1b", Sender: lead.SenderBot, Name: "Bot", Text: "How can I help?", At: time.Date(2024, 3, 19, 9, 0, 5, 0, time.UTC)},
				},
			}}
			if diff := cmp.Diff(wantConv, rooms[0].Conversations); diff != "" {
				t.Errorf("room-1 conversation (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"v1@example.com"}, rooms[0].Emails); diff != "" {
				t.Errorf("room-1 emails (-want +got):\n%s", diff)
			}
			r2 := rooms[1]
			if r2.Emails != nil || !cmp.Equal(r2.Phones, []string{"+21620123451"}) || r2.Conversations[0].Messages[1].Sender != lead.SenderAgent {
				t.Errorf("room-2 = emails %v phones %v messages %+v; want only the visitor's phone and an agent reply", r2.Emails, r2.Phones, r2.Conversations[0].Messages)
			}
			if silent := pages[4].Records[0]; len(silent.Emails)+len(silent.Phones) != 0 {
				t.Errorf("room-3 has contacts %v %v", silent.Emails, silent.Phones)
			}
		})
	}
}

func TestWindowStartsAtCursorDateMinusOverlap(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	tests := []struct {
		name      string
		cursor    string
		overlap   time.Duration
		backfill  time.Duration
		loc       *time.Location
		wantStart string
		wantEnd   string
	}{
		{name: "default overlap is one day", cursor: `{"leads_date":"2024-03-10"}`, wantStart: "2024-03-09", wantEnd: "2024-03-20"},
		{name: "two days", cursor: `{"leads_date":"2024-03-10"}`, overlap: 48 * time.Hour, wantStart: "2024-03-08", wantEnd: "2024-03-20"},
		{name: "part of a day rounds up to a day", cursor: `{"leads_date":"2024-03-10"}`, overlap: 10 * time.Minute, wantStart: "2024-03-09", wantEnd: "2024-03-20"},
		{name: "no cursor backfills 90 days", wantStart: "2023-12-20", wantEnd: "2024-03-20"},
		{name: "no cursor, configured backfill", backfill: 7 * 24 * time.Hour, wantStart: "2024-03-12", wantEnd: "2024-03-20"},
		{name: "today is the instance zone's", cursor: `{"leads_date":"2024-03-10"}`, loc: tokyo, wantStart: "2024-03-09", wantEnd: "2024-03-20"},
		{name: "a cursor ahead of the clock", cursor: `{"leads_date":"2024-04-01"}`, wantStart: "2024-03-20", wantEnd: "2024-03-20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := askhandletest.New()
			in := instance(serve(t, f), apiKeyAuth())
			in.Overlap, in.Backfill, in.Location = tt.overlap, tt.backfill, tt.loc
			var cur connectors.Cursor
			if tt.cursor != "" {
				cur = connectors.Cursor(tt.cursor)
			}
			mustPull(t, newSource(t, in), cur)
			q := leadsQueries(t, f)[0]
			got := [2]string{q.Get("start_date"), q.Get("end_date")}
			if diff := cmp.Diff([2]string{tt.wantStart, tt.wantEnd}, got); diff != "" {
				t.Errorf("start_date, end_date (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTodayFollowsTheInstanceZone(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	f := askhandletest.New()
	in := instance(serve(t, f), apiKeyAuth())
	in.Location = tokyo
	in.Clock = func() time.Time { return time.Date(2024, 3, 20, 20, 0, 0, 0, time.UTC) } // 21st in Tokyo
	mustPull(t, newSource(t, in), connectors.Cursor(`{"leads_date":"2024-03-10"}`))
	if got := leadsQueries(t, f)[0].Get("end_date"); got != "2024-03-21" {
		t.Errorf("end_date = %s, want 2024-03-21", got)
	}
}

func leadsQueries(t *testing.T, f *askhandletest.Fake) []url.Values {
	t.Helper()
	var out []url.Values
	for _, r := range f.Recorder().Requests() {
		if strings.HasSuffix(r.Path, "/api/v1/leads/") {
			q, err := url.ParseQuery(r.Query)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, q)
		}
	}
	if len(out) == 0 {
		t.Fatal("no leads request")
	}
	return out
}

func lastCursor(pages []connectors.Page) string {
	c := ""
	for _, p := range pages {
		if p.Cursor != nil {
			c = string(p.Cursor)
		}
	}
	return c
}

func TestCursor(t *testing.T) {
	tests := []struct {
		name   string
		cursor connectors.Cursor
		leads  []string // created_at
		want   string
	}{
		{name: "moves to the newest day seen", leads: []string{"2024-03-12T23:59:00Z", "2024-03-14T00:10:00Z"}, want: `{"leads_date":"2024-03-14"}`},
		{name: "never moves backwards", cursor: connectors.Cursor(`{"leads_date":"2024-03-10"}`), leads: []string{"2024-03-09T10:00:00Z"}, want: `{"leads_date":"2024-03-10"}`},
		{name: "ignores a created_at past today", leads: []string{"2024-03-12T10:00:00Z", "2024-03-20T10:00:00Z", "2024-05-01T10:00:00Z"}, want: `{"leads_date":"2024-03-20"}`},
		{name: "stays unset when nothing was seen", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := askhandletest.New()
			for i, c := range tt.leads {
				f.AddLead(askhandletest.Lead{UUID: fmt.Sprint("l", i), Email: fmt.Sprintf("l%d@example.com", i), CreatedAt: c})
			}
			pages := mustPull(t, newSource(t, instance(serve(t, f), apiKeyAuth())), tt.cursor)
			if got := lastCursor(pages); got != tt.want {
				t.Errorf("cursor = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOnlyTheLastLeadsPageCarriesTheCursor(t *testing.T) {
	// The fake answers newest first: a cursor on the first page would skip
	// the older leads of the later pages after a crash.
	f := askhandletest.New()
	sample(f)
	pages := mustPull(t, newSource(t, instance(serve(t, f), apiKeyAuth())), nil)
	for _, p := range pages {
		if (p.Cursor != nil) != (p.Label == "leads offset 4") {
			t.Errorf("page %q cursor = %s", p.Label, p.Cursor)
		}
	}
}

func TestAuthHeaderIsTokenKeyInBothForms(t *testing.T) {
	tests := []struct {
		name      string
		auth      map[string]string
		wantKey   func(*askhandletest.Fake) string
		wantLogin int
	}{
		{"api_key", apiKeyAuth(), func(*askhandletest.Fake) string { return askhandletest.APIKey }, 0},
		{"username and password", loginAuth(), (*askhandletest.Fake).Token, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := askhandletest.New()
			sample(f)
			mustPull(t, newSource(t, instance(serve(t, f), tt.auth)), nil)
			logins := 0
			for _, r := range f.Recorder().Requests() {
				if strings.HasSuffix(r.Path, "/api/v1/auth/api-token") {
					logins++
					if h := r.Header.Get("Authorization"); h != "" {
						t.Errorf("login sent Authorization %q", h)
					}
					var body map[string]string
					if err := json.Unmarshal(r.Body, &body); err != nil || !cmp.Equal(body, loginAuth()) || r.Method != http.MethodPost {
						t.Errorf("login %s body %s (%v); want POST of the username and password as JSON", r.Method, r.Body, err)
					}
					continue
				}
				if got, want := r.Header.Get("Authorization"), "Token "+tt.wantKey(f); got != want {
					t.Errorf("%s: Authorization = %q, want %q", r.Path, got, want)
				}
				if got := r.Header.Get("Accept"); got != "application/json" {
					t.Errorf("%s: Accept = %q", r.Path, got)
				}
			}
			if logins != tt.wantLogin {
				t.Errorf("%d logins, want %d", logins, tt.wantLogin)
			}
		})
	}
}

func TestRevokedTokenLogsInAgainOnce(t *testing.T) {
	f := askhandletest.New()
	sample(f)
	s := newSource(t, instance(serve(t, f), loginAuth()))
	mustPull(t, s, nil)
	f.RevokeToken()
	mustPull(t, s, nil)
	if n := f.Recorder().Count(http.MethodPost, "/api/v1/auth/api-token"); n != 2 {
		t.Errorf("%d logins, want 2 (first use, then after the 401)", n)
	}
}

func TestRefusedCredentialsAreConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		auth map[string]string
		want string
	}{
		{"wrong api key", map[string]string{"api_key": "not-the-key"}, "Invalid token."},
		{"wrong password", map[string]string{"username": askhandletest.Username, "password": "nope"}, "Unable to log in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := askhandletest.New()
			_, err := pull(t, newSource(t, instance(serve(t, f), tt.auth)), nil)
			if !errors.Is(err, connectors.ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want a configuration error with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.auth["api_key"]+tt.auth["password"]) {
				t.Errorf("error leaks the credential: %v", err)
			}
		})
	}
}

func TestNotFoundIsAConfigError(t *testing.T) {
	f := askhandletest.New()
	_, err := pull(t, newSource(t, instance(serve(t, f)+"wrong/", apiKeyAuth())), nil)
	if !errors.Is(err, connectors.ErrConfig) || !strings.Contains(err.Error(), "leads offset 0") {
		t.Fatalf("err = %v; want a configuration error naming the page", err)
	}
}

func TestBadPhoneIsAProblemAndTheRecordIsKept(t *testing.T) {
	f := askhandletest.New()
	f.AddLead(askhandletest.Lead{UUID: "lead-x", Nickname: "X", PhoneNumber: "12", Email: "x@example.com", CreatedAt: "2024-03-19T10:00:00Z"})
	f.AddRoom(askhandletest.Room{UUID: "room-x", CreatedAt: "2024-03-19T10:00:00Z"})
	f.AddMessage(askhandletest.Message{UUID: "m-x", PhoneNumber: "phone?", Body: "hi", SentAt: "2024-03-19T10:00:00Z", Room: "room-x"})
	pages := mustPull(t, newSource(t, instance(serve(t, f), apiKeyAuth())), nil)
	for _, p := range pages {
		if len(p.Records) != 1 || len(p.Problems) != 1 {
			t.Fatalf("page %q: %d records, problems %v; want the record and one problem", p.Label, len(p.Records), p.Problems)
		}
		if got := p.Records[0].OtherPhones; len(got) != 1 {
			t.Errorf("page %q: OtherPhones = %v", p.Label, got)
		}
		if strings.Contains(p.Problems[0].Error(), "phone?") && p.Label == "rooms page 1" {
			t.Errorf("problem shows the raw phone: %v", p.Problems[0])
		}
	}
}

func TestMalformedJSONFailsTheRunNamingThePage(t *testing.T) {
	bad := string(fixture.ReadTestdata(t, "malformed.json"))
	tests := []struct {
		name  string
		fault vendortest.Fault
		want  string
	}{
		{"second leads page", vendortest.Fault{Match: "/api/v1/leads/", Skip: 1, Status: 200, Body: bad}, "leads offset 2"},
		{"first messages page", vendortest.Fault{Match: "/api/v1/messages/", Status: 200, Body: bad}, "messages page 1"},
		{"second rooms page", vendortest.Fault{Match: "/api/v1/rooms/", Skip: 1, Status: 200, Body: bad}, "rooms page 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := askhandletest.New()
			sample(f)
			f.Recorder().Inject(tt.fault)
			_, err := pull(t, newSource(t, instance(serve(t, f), apiKeyAuth())), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "malformed JSON") {
				t.Fatalf("err = %v; want malformed JSON on %q", err, tt.want)
			}
		})
	}
}

func TestThrottledRequestIsRetried(t *testing.T) {
	f := askhandletest.New()
	sample(f)
	f.Throttle(2, "0")
	pages := mustPull(t, newSource(t, instance(serve(t, f), apiKeyAuth())), nil)
	if len(pages) != 5 {
		t.Errorf("%d pages after a throttled start, want 5", len(pages))
	}
	if n := f.Recorder().Count(http.MethodGet, "/api/v1/leads/"); n != 5 {
		t.Errorf("%d leads requests, want 5 (2 throttled, 3 pages)", n)
	}
}

// foreign serves a first page whose next link points to another host.
func TestForeignNextHostIsRefused(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"count":3,"next":"http://attacker.example/api/v1/leads/?offset=2","previous":null,"results":[{"uuid":"a","created_at":"2024-03-19T00:00:00Z"},{"uuid":"b"}]}`)
	}))
	defer srv.Close()
	_, err := pull(t, newSource(t, instance(srv.URL, apiKeyAuth())), nil)
	if !errors.Is(err, httpapi.ErrForeignHost) {
		t.Fatalf("err = %v, want ErrForeignHost", err)
	}
	if hits.Load() != 1 {
		t.Errorf("%d requests, want only the first page", hits.Load())
	}
}

func TestServerIgnoringPagingDoesNotLoop(t *testing.T) {
	tests := []struct {
		name  string
		items int
		want  int // requests to leads
	}{
		{"longer than limit: the whole list", 3, 1},
		{"exactly the limit: a repeated page stops it", 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var leads atomic.Int32
			items := make([]string, tt.items)
			for i := range items {
				items[i] = fmt.Sprintf(`{"uuid":"l%d","created_at":"2024-03-19T00:00:00Z"}`, i)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/leads/") {
					leads.Add(1)
					fmt.Fprint(w, "["+strings.Join(items, ",")+"]")
					return
				}
				fmt.Fprint(w, "[]")
			}))
			defer srv.Close()
			pages := mustPull(t, newSource(t, instance(srv.URL, apiKeyAuth())), nil)
			if int(leads.Load()) != tt.want {
				t.Errorf("%d leads requests, want %d", leads.Load(), tt.want)
			}
			if n := len(pages[0].Records); n != tt.items {
				t.Errorf("%d records, want %d", n, tt.items)
			}
		})
	}
}

func TestMessagesOfUnlistedRoomsAreStillEmitted(t *testing.T) {
	f := askhandletest.New()
	f.AddMessage(askhandletest.Message{UUID: "m", Email: "lost@example.com", Body: "anyone?", SentAt: "2024-03-19T10:00:00Z", Room: "gone"})
	pages := mustPull(t, newSource(t, instance(serve(t, f), apiKeyAuth())), nil)
	last := pages[len(pages)-1]
	if last.Label != "messages of unlisted rooms" || len(last.Records) != 1 || last.Records[0].SourceID != "room:gone" {
		t.Fatalf("last page = %+v", summarize([]connectors.Page{last}))
	}
	if got := last.Records[0].CreatedAt; !got.Equal(time.Date(2024, 3, 19, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("CreatedAt = %v, want the first message's time", got)
	}
}

func TestPullStopsAtEmitError(t *testing.T) {
	f := askhandletest.New()
	sample(f)
	boom := errors.New("store full")
	err := newSource(t, instance(serve(t, f), apiKeyAuth())).Pull(context.Background(), nil, func(connectors.Page) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the emit error", err)
	}
	// The first page is emitted once the second is read; nothing after.
	if n := len(f.Recorder().Requests()); n != 2 {
		t.Errorf("%d requests after emit failed, want 2", n)
	}
}

func TestCancelledPullReturnsContextError(t *testing.T) {
	f := askhandletest.New()
	sample(f)
	ctx, cancel := context.WithCancel(context.Background())
	err := newSource(t, instance(serve(t, f), apiKeyAuth())).Pull(ctx, nil, func(connectors.Page) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestUnreadableCursorFailsTheRun(t *testing.T) {
	f := askhandletest.New()
	_, err := pull(t, newSource(t, instance(serve(t, f), apiKeyAuth())), connectors.Cursor(`{"leads_date":"10/03/2024"}`))
	if err == nil || !strings.Contains(err.Error(), "cursor") {
		t.Fatalf("err = %v, want an unreadable cursor error", err)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		auth    map[string]string
		options map[string]any
		want    string // "" means valid
	}{
		{name: "api key", auth: apiKeyAuth()},
		{name: "username and password", auth: loginAuth(), options: map[string]any{"page_size": 500}},
		{name: "no credentials", auth: nil, want: "connectors.ah.auth: missing [api_key] (or [username password])"},
		{name: "username only", auth: map[string]string{"username": "u"}, want: "connectors.ah.auth: missing [password]"},
		{name: "unknown option", auth: apiKeyAuth(), options: map[string]any{"pagesize": 5}, want: "pagesize"},
		{name: "page size too large", auth: apiKeyAuth(), options: map[string]any{"page_size": 5000}, want: "connectors.ah.page_size"},
		{name: "negative page size", auth: apiKeyAuth(), options: map[string]any{"page_size": -1}, want: "connectors.ah.page_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &connectors.Instance{Name: "ah", Type: "askhandle", BaseURL: "http://127.0.0.1:1/", Auth: tt.auth, Options: tt.options}
			err := askhandle.Check(in)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Check = %v, want an error with %q", err, tt.want)
			}
			if tt.want != "" {
				if _, err := askhandle.NewSource(in); err == nil {
					t.Error("NewSource accepted what Check refused")
				}
			}
		})
	}
}

func TestRegisteredAsSourceOnly(t *testing.T) {
	typ, ok := connectors.Lookup("askhandle")
	if !ok || typ.NewSource == nil || typ.Check == nil || typ.NewTarget != nil {
		t.Fatalf("registry entry = %+v, %v", typ, ok)
	}
}

// The /messages/ list is held in a spool file in the instance's scratch
// directory; with none to write in, it is held in memory, with a warning,
// and the pull reads the same.
func TestMessagesAreHeldInMemoryWhenNoSpoolFileCanBeMade(t *testing.T) {
	f := askhandletest.New()
	f.SetInline(askhandletest.InlineUUIDs) // the rooms' messages come from the list only
	sample(f)
	f.AddMessage(askhandletest.Message{UUID: "m", Email: "lost@example.com", Body: "anyone?", SentAt: "2024-03-19T10:00:00Z", Room: "gone"})
	base := serve(t, f)
	read := func(dir string) ([]connectors.Page, string) {
		var logs bytes.Buffer
		in := instance(base, apiKeyAuth())
		in.ScratchDir = dir
		in.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		return mustPull(t, newSource(t, in), nil), logs.String()
	}
	spooled, quiet := read(t.TempDir())
	missing := filepath.Join(t.TempDir(), "missing")
	held, warned := read(missing)
	if strings.Contains(quiet, "held in memory") {
		t.Errorf("a writable scratch directory logged %q", quiet)
	}
	if !strings.Contains(warned, "messages held in memory") || !strings.Contains(warned, missing) {
		t.Errorf("logs %q, want a warning naming %s", warned, missing)
	}
	if diff := cmp.Diff(spooled, held); diff != "" {
		t.Fatalf("pages held in memory differ from spooled ones (-spooled +memory):\n%s", diff)
	}
	if n := len(spooled[3].Records[0].Conversations[0].Messages); n != 2 {
		t.Fatalf("room-1 has %d messages, want its 2 listed ones", n)
	}
}
