package botpenguin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/sourcetest"
)

// The fuzz targets feed BotPenguin's decoders whatever a broken or hostile
// server could answer: no panic, and every record passes
// sourcetest.CheckRecord (the engine joins persons on its match keys).

// hostileSeeds add BotPenguin's own shapes to sourcetest.HostileSeeds.
var hostileSeeds = []string{
	`{"success":true}`,
	`{"success":true,"data":{"_id":"x"}}`,
	`{"success":false,"message":["no"]}`,
	`{"success":true,"data":[null,1,"x",[],{"_id":null},{"uuid":{"a":1}}]}`,
	`{"success":true,"data":[{"uuid":"c1","phone":21620123456,"dialCode":216,"email":"A@B.C","createdAt":1700000000,"updatedAt":{"$date":"2024-01-01T00:00:00Z"}}]}`,
	`{"success":true,"data":[{"uuid":"c2","phone":"20123456","dialCode":"+00216","createdAt":"01/02/2026","updatedAt":"yesterday"}]}`,
	`{"success":true,"data":[{"uuid":"c3","createdAt":{"$date":{"$numberLong":"1"}},"updatedAt":-1,"profile":{"userDetails":{"contact":{"phone":{"number":"00216 20 123 456","prefix":"x"}}}}}]}`,
	`{"success":true,"data":[{"uuid":"c4","createdAt":1e400,"updatedAt":{"$date":{"$date":1}},"attributes":[{"key":"k","value":[[[]]]},{"key":null}],"notes":[{"title":1,"description":true},{}],"tags":[{"a":1},null,"t"],"lastMessage":"x"}]}`,
	"{\"success\":true,\"data\":[{\"uuid\":\"\xff\",\"name\":\"\xc3\x28\",\"email\":\"\xed\xa0\x80@example.com\"}]}",
	strings.Repeat(`{"data":`, 5000) + "1" + strings.Repeat("}", 5000),
	`{"success":false,"message":"Unauthorized","code":401}`,
}

var fuzzInstance = &connectors.Instance{Name: "bp", Type: "botpenguin", Region: "TN"}

// FuzzDecodeChats decodes a chats page and maps every chat.
func FuzzDecodeChats(f *testing.F) {
	sourcetest.AddFuzzSeeds(f, hostileSeeds, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		chats, err := DecodeChats(body)
		if err != nil {
			return
		}
		for _, raw := range chats {
			rec, _, err := ToRecord(fuzzInstance, "bot-1", raw)
			if err != nil {
				continue
			}
			if rec.SourceID == "" {
				t.Errorf("record without a key from %q", raw)
			}
			sourcetest.CheckRecord(t, rec)
		}
	})
}

// FuzzChat maps one chat object, whatever its fields hold.
func FuzzChat(f *testing.F) {
	sourcetest.AddFuzzSeeds(f, hostileSeeds, func(b []byte) {
		chats, err := DecodeChats(b)
		if err != nil || len(chats) == 0 {
			f.Add(b)
			return
		}
		for _, c := range chats {
			f.Add([]byte(c))
		}
	})
	f.Fuzz(func(t *testing.T, raw []byte) {
		rec, _, err := ToRecord(fuzzInstance, "bot-1", json.RawMessage(raw))
		if err != nil {
			return
		}
		sourcetest.CheckRecord(t, rec)
	})
}

// FuzzTimestamp reads a chat timestamp in any JSON form: a time or an error.
func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{`"2024-01-01T00:00:00Z"`, `1700000000`, `1700000000000`, `{"$date":"2024-01-01"}`, `{"$date":1}`, `{"$date":{"$date":1}}`, `"01/02/2026"`, `"yesterday"`, `-5`, `1e400`, `null`, `[]`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ts, err := parseTime(raw, time.UTC)
		if err != nil && !ts.IsZero() {
			t.Errorf("error %v with time %v", err, ts)
		}
	})
}

// FuzzEnvelope reads a write answer (or an error body): ok, or an error.
func FuzzEnvelope(f *testing.F) {
	sourcetest.AddFuzzSeeds(f, hostileSeeds, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := decodeEnvelope(body)
		if err == nil && env.failed() {
			t.Errorf("a failure envelope %q accepted", body)
		}
	})
}
