package netcore

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
)

// decodeUsersPage and decodeTranscriptsPage decode a page as client.users
// and client.transcripts do (httpapi.Client.JSON), without the HTTP call.
func decodeUsersPage(body []byte) (*usersPage, error) {
	var p usersPage
	if err := httpapi.DecodeJSON(body, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func decodeTranscriptsPage(body []byte) (*transcriptsPage, error) {
	var p transcriptsPage
	if err := httpapi.DecodeJSON(body, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func TestParseLoginAcceptsEveryExpiryShape(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	exp := time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		body string
		want time.Time
	}{
		{"expireAt RFC 3339 (testdata)", string(fixture.ReadTestdata(t, "login_expireAt_rfc3339.json")), exp},
		{"expiresAt epoch seconds (testdata)", string(fixture.ReadTestdata(t, "login_expiresAt_epoch_seconds.json")), exp},
		{"expireAt epoch milliseconds (testdata)", string(fixture.ReadTestdata(t, "login_expireAt_epoch_millis.json")), exp},
		{"expiresAt RFC 3339 with offset", `{"authToken":"tok-1234","expiresAt":"2024-05-01T16:30:00+05:30"}`, exp},
		{"expireAt epoch digits in a string", `{"authToken":"tok-1234","expireAt":"1714561200"}`, exp},
		{"expireAt seconds to live", `{"authToken":"tok-1234","expireAt":3600}`, exp},
		{"expireAt null, expiresAt set", `{"authToken":"tok-1234","expireAt":null,"expiresAt":1714561200}`, exp},
		{"no expiry: renew on 401 only", `{"authToken":"tok-1234"}`, time.Time{}},
		{"unreadable expiry: renew on 401 only", `{"authToken":"tok-1234","expireAt":"soon"}`, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := parseLogin([]byte(tt.body), now)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Value == "" {
				t.Error("no token")
			}
			if !tok.Expiry.Equal(tt.want) {
				t.Errorf("expiry = %v, want %v", tok.Expiry, tt.want)
			}
		})
	}
}

func TestParseLoginRejectsAnswerWithoutToken(t *testing.T) {
	for _, body := range []string{`{"expireAt":"2024-05-01T11:00:00Z"}`, `{"authToken":""}`, `<html>`} {
		if _, err := parseLogin([]byte(body), time.Now()); err == nil {
			t.Errorf("%s: no error", body)
		}
	}
}

func TestDecodeUsersPageShapes(t *testing.T) {
	tests := []struct {
		file     string
		page     int
		wantMore bool
		wantIDs  []string
		wantName []string
	}{
		{"users_hasnext_bool.json", 1, true, []string{"6630f1c2a9e4b2001f3c9a11", "6630f1c2a9e4b2001f3c9a12"}, []string{"Priya  Sharma", "Guest"}},
		{"users_hasnext_int.json", 2, false, []string{"6630f1c2a9e4b2001f3c9a13"}, []string{"Ahmed Ben Salah"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p, err := decodeUsersPage(fixture.ReadTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.more(tt.page, 2); got != tt.wantMore {
				t.Errorf("more = %v, want %v", got, tt.wantMore)
			}
			var ids, names []string
			for _, raw := range p.Users {
				var u apiUser
				if err := json.Unmarshal(raw, &u); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, string(u.UserID))
				names = append(names, u.UserName+u.Name)
			}
			if d := cmp.Diff(tt.wantIDs, ids); d != "" {
				t.Errorf("ids (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.wantName, names); d != "" {
				t.Errorf("names (-want +got):\n%s", d)
			}
		})
	}
}

func TestUsersPageMore(t *testing.T) {
	user := `[{"userId":"a"}]`
	tests := []struct {
		name  string
		body  string
		page  int
		limit int
		want  bool
	}{
		{"hasNextPage true", `{"users":` + user + `,"hasNextPage":true}`, 1, 1, true},
		{"hasNextPage false", `{"users":` + user + `,"hasNextPage":false,"pages":5}`, 1, 1, false},
		{"hasNextPage 1", `{"users":` + user + `,"hasNextPage":1}`, 1, 1, true},
		{"hasNextPage 0", `{"users":` + user + `,"hasNextPage":0}`, 1, 1, false},
		{"hasNextPage \"1\"", `{"users":` + user + `,"hasNextPage":"1"}`, 1, 1, true},
		{"page >= pages wins over hasNextPage", `{"users":` + user + `,"hasNextPage":true,"page":3,"pages":3}`, 3, 1, false},
		{"page < pages", `{"users":` + user + `,"page":"2","pages":"3"}`, 2, 1, true},
		{"pages 0 is no count", `{"users":` + user + `,"hasNextPage":true,"pages":0}`, 1, 1, true},
		{"empty page", `{"users":[],"hasNextPage":true}`, 1, 1, false},
		{"neither: full page", `{"users":` + user + `}`, 1, 1, true},
		{"neither: short page", `{"users":` + user + `}`, 1, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeUsersPage([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.more(tt.page, tt.limit); got != tt.want {
				t.Errorf("more = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodeUsersPageRejectsBadHasNextPage(t *testing.T) {
	if _, err := decodeUsersPage([]byte(`{"users":[],"hasNextPage":"maybe"}`)); err == nil {
		t.Error("no error for hasNextPage \"maybe\"")
	}
}

func TestParseTimeValueForms(t *testing.T) {
	want := time.Date(2024, 4, 30, 10, 0, 0, 0, time.UTC)
	for _, raw := range []string{`"2024-04-30T10:00:00Z"`, `"2024-04-30T10:00:00.000Z"`, `"2024-04-30 10:00:00"`, `1714471200`, `1714471200000`, `"1714471200000"`} {
		got, err := parseTimeValue(json.RawMessage(raw), nil)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: got %v, %v; want %v", raw, got, err, want)
		}
	}
	for _, raw := range []string{`null`, `""`, ``} {
		if got, err := parseTimeValue(json.RawMessage(raw), nil); err != nil || !got.IsZero() {
			t.Errorf("%s: got %v, %v; want zero", raw, got, err)
		}
	}
	for _, raw := range []string{`"30/04/2024 10:00"`, `{"date":1}`, `true`} {
		if _, err := parseTimeValue(json.RawMessage(raw), nil); err == nil {
			t.Errorf("%s: no error", raw)
		}
	}
}

func TestDecodeUsageAcceptsNumbersAndStrings(t *testing.T) {
	for _, body := range []string{string(fixture.ReadTestdata(t, "botusage.json")), `{"totalMessages":"18452","totalUsers":"1207"}`} {
		var u usage
		if err := json.Unmarshal([]byte(body), &u); err != nil {
			t.Fatal(err)
		}
		if u.TotalMessages.V != 18452 || u.TotalUsers.V != 1207 {
			t.Errorf("%s: got %+v", body, u)
		}
	}
}

func TestUserIDsMayBeJSONNumbers(t *testing.T) {
	var u apiUser
	if err := json.Unmarshal([]byte(`{"userId":12345,"botUserId":919876543210}`), &u); err != nil {
		t.Fatal(err)
	}
	if u.UserID != "12345" || u.BotUserID != "919876543210" {
		t.Errorf("got %q %q", u.UserID, u.BotUserID)
	}
}
