package netcore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
	"github.com/leadsync/leadsync/lead"
)

// The fuzz targets feed Netcore's decoders whatever a broken or hostile
// server could answer: no panic, and every record passes
// sourcetest.CheckRecord (the engine joins persons on its match keys).

// hostileTranscripts is a transcripts page with a bot user whose custom
// fields and entries take every odd form.
const hostileTranscripts = `{"botUser":{"customFields":{"email":"A@B.C","phone":"20123456","mobile":{"n":1},"Email ID":["x"]},"tags":[{"name":"vip"},null,3]},"transcripts":[{"from":"User","type":"text","text":{"message":"hi"},"createdAt":"2024-01-01T00:00:00Z"},{"type":"text"},null,"x",{"type":"__proto__","__proto__":{}},{"type":"createdAt","createdAt":1700000000}],"paginationDetails":{"page":1,"pages":1}}`

// hostileSeeds add Netcore's own shapes to sourcetest.HostileSeeds.
var hostileSeeds = []string{
	`{"users":null,"hasNextPage":true}`,
	`{"users":[null,1,"x",[]],"page":"1","pages":"NaN","hasNextPage":"yes"}`,
	`{"users":[{}],"hasNextPage":1,"pages":1e400}`,
	`{"users":[{"userId":1e999,"channelName":"whatsapp","botUserId":21620123456}]}`,
	`{"users":[{"userId":"u1","channelName":"WhatsApp","botUserId":"0021620123456","createdDate":"01/02/2026","last interacted date":"yesterday","first interacted date":1700000000}]}`,
	"{\"users\":[{\"userId\":\"u\xff\",\"userName\":\"\xc3\x28\",\"channelName\":\"webchat\"}]}",
	strings.Repeat(`{"users":`, 5000) + "1" + strings.Repeat("}", 5000),
	`{"authToken":"","expireAt":1}`,
	`{"authToken":"tok-1234","expireAt":-1}`,
	`{"authToken":"tok-1234","expireAt":1e308}`,
	`{"authToken":"tok-1234","expiresAt":"99999999999999999999"}`,
	`{"authToken":"tok-1234","expireAt":{"$date":1}}`,
	`{"authToken":7}`,
	hostileTranscripts,
	`{"transcripts":[{"from":"Bot","type":"carousel","carousel":[[[[[[]]]]]],"createdAt":"yesterday"}]}`,
	`{"status":"error","message":"Invalid token"}`,
}

// fuzzSource is a source whose HTTP client answers in memory: transcripts
// page 1 is body, later pages are empty (a multi-page answer is the
// paginator's business, tested against the fake).
func fuzzSource(t testing.TB, transcripts func() []byte) *Source {
	t.Helper()
	src, err := NewSource(&connectors.Instance{
		Name: "nc", Type: "netcore", BaseURL: "http://netcore.invalid/", Region: "TN",
		Auth: map[string]string{"app_id": "id", "app_secret": "secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*Source)
	hc := sourcetest.OfflineClient(t, "http://netcore.invalid/", func(r *http.Request) (int, []byte) {
		if r.URL.Query().Get("page") != "1" {
			return 200, []byte(`{"transcripts":[]}`)
		}
		return 200, transcripts()
	})
	s.api = &client{http: hc}
	return s
}

var fuzzNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// FuzzUsersPage decodes a users page and maps every user, with its
// transcripts answered by the second input.
func FuzzUsersPage(f *testing.F) {
	transcripts := fixture.ReadTestdata(f, "transcripts_all_types.json")
	sourcetest.AddFuzzSeeds(f, hostileSeeds, func(b []byte) { f.Add(b, transcripts) })
	f.Add([]byte(`{"users":[{"userId":"u1","channelName":"whatsapp","botUserId":"+21620123456"}]}`), []byte(hostileTranscripts))
	var cur []byte
	s := fuzzSource(f, func() []byte { return cur })
	f.Fuzz(func(t *testing.T, users, tr []byte) {
		cur = tr
		p, err := decodeUsersPage(users)
		if err != nil {
			return
		}
		for page := 1; page <= 3; page++ {
			p.more(page, 100)
		}
		for i, raw := range p.Users {
			rec, probs, err := s.record(context.Background(), raw, fuzzNow, fmt.Sprintf("users page 1: user %d", i+1))
			if err != nil {
				continue
			}
			if rec == nil {
				if len(probs) == 0 {
					t.Errorf("user %q dropped without a problem", raw)
				}
				continue
			}
			sourcetest.CheckRecord(t, *rec)
			for _, c := range rec.Conversations {
				ids := map[string]bool{}
				for _, m := range c.Messages {
					if m.ID == "" || ids[m.ID] {
						t.Errorf("message id %q empty or repeated", m.ID)
					}
					ids[m.ID] = true
				}
			}
		}
	})
}

// FuzzTranscriptsPage decodes a transcripts page and renders each entry.
func FuzzTranscriptsPage(f *testing.F) {
	sourcetest.AddFuzzSeeds(f, hostileSeeds, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodeTranscriptsPage(body)
		if err != nil {
			return
		}
		p.more(1, 25)
		for _, raw := range p.Transcripts {
			e, err := decodeEntry(raw)
			if err != nil {
				continue
			}
			m, _ := e.message("1014:+21620123456", time.UTC)
			if m.ID == "" {
				t.Errorf("entry %q has no message id", raw)
			}
		}
		rec := &lead.Record{SourceID: "u"}
		attachBotUser(rec, p.BotUser, "TN")
		sourcetest.CheckRecord(t, *rec)
	})
}

// FuzzParseLogin reads a login answer: a token, or an error.
func FuzzParseLogin(f *testing.F) {
	sourcetest.AddFuzzSeeds(f, hostileSeeds, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseLogin(body, fuzzNow)
		if err != nil {
			if tok.Value != "" {
				t.Errorf("error %v with a token", err)
			}
			return
		}
		if tok.Value == "" {
			t.Errorf("login answer %q accepted without a token", body)
		}
		var v map[string]json.RawMessage
		if json.Unmarshal(body, &v) != nil {
			t.Errorf("unparseable login answer %q accepted", body)
		}
	})
}
