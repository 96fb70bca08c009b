package botpenguin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/lead"
)

// The fuzz targets feed BotPenguin's decoders whatever a broken or hostile
// server could answer. The properties: no panic, and a decoder either
// errors or yields records whose match keys are canonical (emails
// normalised, phones E.164), since the engine joins persons on them.

var hostileSeeds = []string{
	"",
	"null",
	"[]",
	"{}",
	`{"success":true}`,
	`{"success":true,"data":{"_id":"x"}}`,
	`{"success":false,"message":["no"]}`,
	`{"success":true,"data":[null,1,"x",[],{"_id":null},{"uuid":{"a":1}}]}`,
	`{"success":true,"data":[{"uuid":"c1","phone":21620123456,"dialCode":216,"email":"A@B.C","createdAt":1700000000,"updatedAt":{"$date":"2024-01-01T00:00:00Z"}}]}`,
	`{"success":true,"data":[{"uuid":"c2","phone":"20123456","dialCode":"+00216","createdAt":"01/02/2026","updatedAt":"yesterday"}]}`,
	`{"success":true,"data":[{"uuid":"c3","createdAt":{"$date":{"$numberLong":"1"}},"updatedAt":-1,"profile":{"userDetails":{"contact":{"phone":{"number":"00216 20 123 456","prefix":"x"}}}}}]}`,
	`{"success":true,"data":[{"uuid":"c4","createdAt":1e400,"updatedAt":{"$date":{"$date":1}},"attributes":[{"key":"k","value":[[[]]]},{"key":null}],"notes":[{"title":1,"description":true},{}],"tags":[{"a":1},null,"t"],"lastMessage":"x"}]}`,
	"{\"success\":true,\"data\":[{\"uuid\":\"\xff\",\"name\":\"\xc3\x28\",\"email\":\"\xed\xa0\x80@example.com\"}]}",
	strings.Repeat("[", 100000),
	strings.Repeat(`{"data":`, 5000) + "1" + strings.Repeat("}", 5000),
	`{"success":false,"message":"Unauthorized","code":401}`,
}

func addSeeds(f *testing.F, add func(b []byte)) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
	for _, s := range hostileSeeds {
		add([]byte(s))
	}
}

// checkKeys fails when a record carries a match key that is not canonical.
func checkKeys(t *testing.T, r lead.Record) {
	t.Helper()
	for _, e := range r.Emails {
		if n, err := lead.NormalizeEmail(e); err != nil || n != e {
			t.Errorf("record %q: email %q is not normalised (%q, %v)", r.SourceID, e, n, err)
		}
	}
	for _, p := range r.Phones {
		if len(p) < 3 || p[0] != '+' || strings.Trim(p[1:], "0123456789") != "" {
			t.Errorf("record %q: phone %q is not E.164", r.SourceID, p)
		}
	}
}

var fuzzInstance = &connectors.Instance{Name: "bp", Type: "botpenguin", Region: "TN"}

// FuzzDecodeChats decodes a chats page and maps every chat.
func FuzzDecodeChats(f *testing.F) {
	addSeeds(f, func(b []byte) { f.Add(b) })
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
			checkKeys(t, rec)
		}
	})
}

// FuzzChat maps one chat object, whatever its fields hold.
func FuzzChat(f *testing.F) {
	addSeeds(f, func(b []byte) {
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
		checkKeys(t, rec)
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
	addSeeds(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := decodeEnvelope(body)
		if err == nil && env.failed() {
			t.Errorf("a failure envelope %q accepted", body)
		}
	})
}
