package netcoretest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
)

var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*Fake, *httptest.Server) {
	t.Helper()
	f := New()
	f.SetClock(func() time.Time { return now })
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return f, srv
}

func call(t *testing.T, srv *httptest.Server, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	return fixture.DoJSON(t, req)
}

func login(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	st, m := call(t, srv, "POST", "/login", "", `{"appId":"`+AppID+`","appSecret":"`+AppSecret+`"}`)
	if st != 200 {
		t.Fatalf("login: %d %v", st, m)
	}
	return m["authToken"].(string)
}

func TestLoginShapes(t *testing.T) {
	tests := []struct {
		key    string
		format ExpiryFormat
		want   any
	}{
		{"", ExpiryRFC3339, "2024-05-01T13:00:00.000Z"},
		{"expiresAt", ExpiryRFC3339, "2024-05-01T13:00:00.000Z"},
		{"expireAt", ExpiryEpochSeconds, float64(now.Add(time.Hour).Unix())},
		{"expiresAt", ExpiryEpochMillis, float64(now.Add(time.Hour).UnixMilli())},
	}
	for _, tt := range tests {
		f, srv := setup(t)
		f.SetExpiryKey(tt.key)
		f.SetExpiryFormat(tt.format)
		_, m := call(t, srv, "POST", "/login", "", `{"appId":"`+AppID+`","appSecret":"`+AppSecret+`"}`)
		key := tt.key
		if key == "" {
			key = "expireAt"
		}
		if m[key] != tt.want || m["authToken"] == "" {
			t.Errorf("%s/%d: login answered %v", key, tt.format, m)
		}
	}
}

func TestAuthFailures(t *testing.T) {
	f, srv := setup(t)
	if st, _ := call(t, srv, "POST", "/login", "", `{"appId":"`+AppID+`","appSecret":"nope"}`); st != 401 {
		t.Errorf("wrong secret: %d, want 401", st)
	}
	tok := login(t, srv)
	body := `{"channelIds":[1010]}`
	if st, _ := call(t, srv, "POST", "/users", "Bearer "+tok, body); st != 401 {
		t.Errorf("Bearer token: %d, want 401 (the token is sent bare)", st)
	}
	if st, _ := call(t, srv, "POST", "/users", tok, body); st != 200 {
		t.Errorf("bare token: %d, want 200", st)
	}
	f.SetTokenTTL(time.Minute)
	short := login(t, srv)
	f.SetClock(func() time.Time { return now.Add(2 * time.Minute) })
	if st, _ := call(t, srv, "POST", "/users", short, body); st != 401 {
		t.Errorf("expired token: %d, want 401", st)
	}
	if f.Unauthorized() != 2 || f.Logins() != 2 {
		t.Errorf("unauthorized %d logins %d", f.Unauthorized(), f.Logins())
	}
}

func TestUsersValidatesFiltersAndPaginates(t *testing.T) {
	f, srv := setup(t)
	tok := login(t, srv)
	f.AddUsers(
		User{UserID: "in-wa", ChannelName: "whatsapp", Name: "A", LastInteracted: "2024-04-30T10:00:00.000Z"},
		User{UserID: "in-wc", ChannelName: "webchat", Name: "B", LastInteracted: "2024-04-30T11:00:00.000Z"},
		User{UserID: "other-channel", ChannelName: "telegram", LastInteracted: "2024-04-30T11:00:00.000Z"},
		User{UserID: "too-old", ChannelName: "whatsapp", LastInteracted: "2024-04-01T11:00:00.000Z"},
	)
	if st, _ := call(t, srv, "POST", "/users", tok, `{"startDate":"2024-04-29T00:00:00.000Z"}`); st != 500 {
		t.Errorf("no channelIds: %d, want 500", st)
	}
	body := `{"channelIds":[1014,1010],"startDate":"2024-04-29T00:00:00.000Z","endDate":"2024-05-01T00:00:00.000Z"}`
	st, m := call(t, srv, "POST", "/users?page=1&limit=1", tok, body)
	if st != 200 || m["hasNextPage"] != true || m["pages"] != 2.0 || m["total"] != 2.0 {
		t.Fatalf("page 1: %d %v", st, m)
	}
	if u := m["users"].([]any)[0].(map[string]any); u["userId"] != "in-wa" || u["userName"] != "A" || u["last interacted date"] == nil {
		t.Errorf("page 1 user = %v", u)
	}
	f.SetHasNextShape(Int)
	f.SetNameKey("name")
	_, m = call(t, srv, "POST", "/users?page=2&limit=1", tok, body)
	if m["hasNextPage"] != 0.0 {
		t.Errorf("hasNextPage = %v, want 0", m["hasNextPage"])
	}
	if u := m["users"].([]any)[0].(map[string]any); u["userId"] != "in-wc" || u["name"] != "B" {
		t.Errorf("page 2 user = %v", u)
	}
}

func TestTranscriptsValidation(t *testing.T) {
	f, srv := setup(t)
	tok := login(t, srv)
	f.AddTranscript(1014, "+919876543210",
		Entry{From: "User", Type: "text", Payload: map[string]any{"message": "hi"}, CreatedAt: "2024-04-30T10:00:00.000Z"},
		Entry{From: "Bot", Type: "hologram", Payload: map[string]any{"beam": 3}, CreatedAt: "2024-04-30T10:00:01.000Z"},
	)
	f.SetBotUser(1014, "+919876543210", BotUser{CustomFields: map[string]any{"city": "Pune"}, Tags: []string{"vip"}})
	tests := []struct {
		name, query, body string
		want              int
	}{
		{"older than 3 months", "?limit=25", `{"botUserId":"+919876543210","channelId":1014,"startDate":"2024-01-31T00:00:00.000Z"}`, 400},
		{"limit under 25", "?limit=10", `{"botUserId":"+919876543210","channelId":1014}`, 400},
		{"limit over 1000", "?limit=1001", `{"botUserId":"+919876543210","channelId":1014}`, 400},
		{"unknown channel", "", `{"botUserId":"+919876543210","channelId":1099}`, 400},
		{"no botUserId", "", `{"channelId":1014}`, 400},
		{"valid", "?page=1&limit=25", `{"botUserId":"+919876543210","channelId":1014,"startDate":"2024-02-02T00:00:00.000Z","endDate":"2024-05-01T12:00:00.000Z"}`, 200},
	}
	for _, tt := range tests {
		st, m := call(t, srv, "POST", "/transcripts"+tt.query, tok, tt.body)
		if st != tt.want {
			t.Errorf("%s: %d %v, want %d", tt.name, st, m, tt.want)
			continue
		}
		if st != 200 {
			continue
		}
		entries := m["transcripts"].([]any)
		second := entries[1].(map[string]any)
		if len(entries) != 2 || second["hologram"] == nil || second["type"] != "hologram" {
			t.Errorf("transcripts = %v", entries)
		}
		if pd := m["paginationDetails"].(map[string]any); pd["pages"] != 1.0 || pd["total"] != 2.0 {
			t.Errorf("paginationDetails = %v", pd)
		}
		if bu := m["botUser"].(map[string]any); bu["tags"].([]any)[0] != "vip" {
			t.Errorf("botUser = %v", bu)
		}
	}
}

func TestBotUsage(t *testing.T) {
	f, srv := setup(t)
	tok := login(t, srv)
	f.SetUsage("2024-05-01", 1014, Usage{TotalMessages: 9, TotalUsers: 2})
	if st, m := call(t, srv, "GET", "/botUsage?monthDate=2024-05-01&channelId=1014", tok, ""); st != 200 || m["totalMessages"] != 9.0 || m["totalUsers"] != 2.0 {
		t.Errorf("usage: %d %v", st, m)
	}
	if st, _ := call(t, srv, "GET", "/botUsage?monthDate=2024-05-03&channelId=1014", tok, ""); st != 400 {
		t.Errorf("monthDate not on the 1st: %d, want 400", st)
	}
	if st, _ := call(t, srv, "GET", "/botUsage?monthDate=2024-05-01&channelId=7", tok, ""); st != 400 {
		t.Errorf("bad channel: %d, want 400", st)
	}
}

func TestEntryMarshalsPayloadUnderItsType(t *testing.T) {
	b, err := json.Marshal(Entry{From: "User", Type: "location", Payload: map[string]string{"latitude": "1"}, CreatedAt: "2024-04-30T10:00:00.000Z"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"location":{"latitude":"1"}`)) || !bytes.Contains(b, []byte(`"type":"location"`)) {
		t.Errorf("entry = %s", b)
	}
}
