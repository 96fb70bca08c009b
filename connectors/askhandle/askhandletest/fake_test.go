package askhandletest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
)

// server mounts the fake under /vendor/, as vendorsim does.
func server(t *testing.T, f *Fake) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/vendor/", http.StripPrefix("/vendor", f.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/vendor"
}

func do(t *testing.T, method, url, auth, ctype, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	status, b := fixture.Do(t, req)
	return status, string(b)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	return do(t, http.MethodGet, url, "Token "+APIKey, "", "")
}

func uuids(t *testing.T, body string) []string {
	t.Helper()
	var items []struct {
		UUID string `json:"uuid"`
	}
	if strings.HasPrefix(body, "{") {
		var env struct {
			Results json.RawMessage `json:"results"`
		}
		if err := json.Unmarshal([]byte(body), &env); err != nil {
			t.Fatal(err)
		}
		body = string(env.Results)
	}
	if err := json.Unmarshal([]byte(body), &items); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	out := []string{}
	for _, it := range items {
		out = append(out, it.UUID)
	}
	return out
}

func TestDateFiltersAreInclusiveWholeDays(t *testing.T) {
	f := New()
	f.SetShape(BareArray)
	for _, l := range []Lead{
		{UUID: "before", CreatedAt: "2024-03-09T23:59:59Z"},
		{UUID: "first", CreatedAt: "2024-03-10T00:00:00Z"},
		{UUID: "last", CreatedAt: "2024-03-12T23:59:59.999Z"},
		{UUID: "after", CreatedAt: "2024-03-13T00:00:00Z"},
		{UUID: "offset", CreatedAt: "2024-03-13T00:30:00+01:00"}, // the 12th in UTC
	} {
		f.AddLead(l)
	}
	code, body := get(t, server(t, f)+"/api/v1/leads/?start_date=2024-03-10&end_date=2024-03-12")
	if code != 200 {
		t.Fatalf("HTTP %d: %s", code, body)
	}
	if diff := cmp.Diff([]string{"last", "offset", "first"}, uuids(t, body)); diff != "" {
		t.Errorf("leads (-want +got):\n%s", diff)
	}
}

func TestBadDateIsADRFFieldError(t *testing.T) {
	code, body := get(t, server(t, New())+"/api/v1/leads/?start_date=10/03/2024&end_date=2024-13-01")
	if code != 400 {
		t.Fatalf("HTTP %d", code)
	}
	var got map[string][]string
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"start_date": {"Enter a valid date."}, "end_date": {"Enter a valid date."}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestAuthErrors(t *testing.T) {
	base := server(t, New())
	tests := []struct {
		name, auth string
		code       int
		body       string
	}{
		{"no header", "", 401, NoCredentialsBody},
		{"wrong key", "Token nope", 401, InvalidTokenBody},
		{"wrong keyword", "Bearer " + APIKey, 401, NoCredentialsBody},
		{"api key", "Token " + APIKey, 200, "[]"},
	}
	f := New()
	f.SetShape(BareArray)
	bare := server(t, f)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := base
			if tt.code == 200 {
				url = bare
			}
			code, body := do(t, http.MethodGet, url+"/api/v1/rooms/", tt.auth, "", "")
			if code != tt.code || body != tt.body {
				t.Errorf("got %d %s, want %d %s", code, body, tt.code, tt.body)
			}
		})
	}
}

func TestLoginIssuesTheUsersToken(t *testing.T) {
	f := New()
	base := server(t, f)
	tests := []struct {
		name, ctype, body string
		code              int
		want              string
	}{
		{"json", "application/json", `{"username":"test","password":"test-password"}`, 200, `{"token":"` + f.Token() + `"}`},
		{"form", "application/x-www-form-urlencoded", "username=test&password=test-password", 200, `{"token":"` + f.Token() + `"}`},
		{"wrong password", "application/json", `{"username":"test","password":"x"}`, 400, BadCredentialsBody},
		{"missing password", "application/json", `{"username":"test"}`, 400, `{"password":["This field is required."]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, http.MethodPost, base+"/api/v1/auth/api-token", "", tt.ctype, tt.body)
			if code != tt.code || body != tt.want {
				t.Errorf("got %d %s, want %d %s", code, body, tt.code, tt.want)
			}
		})
	}
	old := f.Token()
	f.RevokeToken()
	if code, _ := do(t, http.MethodGet, base+"/api/v1/rooms/", "Token "+old, "", ""); code != 401 {
		t.Errorf("revoked token answered %d, want 401", code)
	}
	if code, _ := do(t, http.MethodGet, base+"/api/v1/rooms/", "Token "+f.Token(), "", ""); code != 200 {
		t.Errorf("new token answered %d, want 200", code)
	}
}

func TestPaginatedNextIsAbsoluteOnTheRequestHost(t *testing.T) {
	f := New()
	for _, id := range []string{"a", "b", "c"} {
		f.AddRoom(Room{UUID: id})
	}
	base := server(t, f)
	var seen []string
	url := base + "/api/v1/rooms/?limit=2"
	for range 3 {
		code, body := get(t, url)
		if code != 200 {
			t.Fatalf("HTTP %d: %s", code, body)
		}
		var env struct {
			Count    int     `json:"count"`
			Next     *string `json:"next"`
			Previous *string `json:"previous"`
		}
		if err := json.Unmarshal([]byte(body), &env); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, uuids(t, body)...)
		if env.Count != 3 {
			t.Errorf("count = %d", env.Count)
		}
		if env.Next == nil {
			if env.Previous == nil || *env.Previous != base+"/api/v1/rooms/?limit=2" {
				t.Errorf("previous = %v", env.Previous)
			}
			break
		}
		if want := base + "/api/v1/rooms/?limit=2&offset=2"; *env.Next != want {
			t.Fatalf("next = %s, want %s", *env.Next, want)
		}
		url = *env.Next
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, seen); diff != "" {
		t.Errorf("rooms (-want +got):\n%s", diff)
	}
}

func TestBareArrayAppliesLimitAndOffset(t *testing.T) {
	f := New()
	f.SetShape(BareArray, Messages)
	for _, id := range []string{"a", "b", "c"} {
		f.AddMessage(Message{UUID: id, Room: "r"})
	}
	base := server(t, f)
	tests := map[string][]string{
		"":                  {"a", "b", "c"},
		"?limit=2":          {"a", "b"},
		"?limit=2&offset=2": {"c"},
		"?limit=2&offset=9": {},
		"?limit=x&offset=y": {"a", "b", "c"},
	}
	for q, want := range tests {
		_, body := get(t, base+"/api/v1/messages/"+q)
		if diff := cmp.Diff(want, uuids(t, body)); diff != "" {
			t.Errorf("%q (-want +got):\n%s", q, diff)
		}
	}
	if _, body := get(t, base+"/api/v1/rooms/"); !strings.HasPrefix(body, "{") {
		t.Errorf("rooms answered %s; SetShape(BareArray, Messages) changed another endpoint", body)
	}
}

func TestRoomFieldAndInlineMessages(t *testing.T) {
	f := New()
	f.SetShape(BareArray)
	f.AddRoom(Room{UUID: "r"})
	f.AddMessage(Message{UUID: "m", Body: "hi", Room: "r"})
	base := server(t, f)
	tests := []struct {
		name        string
		field       RoomField
		inline      Inline
		msgRoom     string
		roomMessage string
	}{
		{"object, none", RoomObject, InlineNone, `{"uuid":"r"}`, `[]`},
		{"string, uuids", RoomString, InlineUUIDs, `"r"`, `["m"]`},
		{"object, objects", RoomObject, InlineObjects, `{"uuid":"r"}`, `[{"uuid":"m","nickname":"","email":"","phone_number":"","body":"hi","is_support_sender":false,"sent_at":"","room":{"uuid":"r"}}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.SetRoomField(tt.field)
			f.SetInline(tt.inline)
			_, body := get(t, base+"/api/v1/messages/")
			var msgs []map[string]json.RawMessage
			if err := json.Unmarshal([]byte(body), &msgs); err != nil {
				t.Fatal(err)
			}
			if got := string(msgs[0]["room"]); got != tt.msgRoom {
				t.Errorf("message room = %s, want %s", got, tt.msgRoom)
			}
			_, body = get(t, base+"/api/v1/rooms/")
			var rooms []map[string]json.RawMessage
			if err := json.Unmarshal([]byte(body), &rooms); err != nil {
				t.Fatal(err)
			}
			if got := string(rooms[0]["messages"]); got != tt.roomMessage {
				t.Errorf("room messages = %s, want %s", got, tt.roomMessage)
			}
		})
	}
}

func TestThrottleAnswersDRF429(t *testing.T) {
	f := New()
	f.Throttle(1, "12")
	req, _ := http.NewRequest(http.MethodGet, server(t, f)+"/api/v1/leads/", nil)
	req.Header.Set("Authorization", "Token "+APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "12" || string(body) != ThrottledBody {
		t.Errorf("got %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	base := server(t, New())
	if code, body := get(t, base+"/api/v1/nothing/"); code != 404 || body != NotFoundBody {
		t.Errorf("unknown path: %d %s", code, body)
	}
	if code, body := do(t, http.MethodDelete, base+"/api/v1/leads/", "Token "+APIKey, "", ""); code != 405 || body != `{"detail":"Method \"DELETE\" not allowed."}` {
		t.Errorf("DELETE: %d %s", code, body)
	}
	if code, _ := do(t, http.MethodGet, base+"/api/v1/auth/api-token", "", "", ""); code != 405 {
		t.Errorf("GET login: %d", code)
	}
}
