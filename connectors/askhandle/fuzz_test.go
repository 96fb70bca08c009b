package askhandle

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/lead"
)

// The fuzz targets feed AskHandle's decoders whatever a broken or hostile
// server could answer. The properties: no panic, and a decoder either
// errors or yields records whose match keys are canonical (emails
// normalised, phones E.164), since the engine joins persons on them.

// hostileSeeds are bodies no real AskHandle sends but a proxy, a bug or an
// attacker might.
var hostileSeeds = []string{
	"",
	"null",
	"[]",
	"[null]",
	"[1,\"x\",true,[]]",
	`{"results":null}`,
	`{"count":-1,"next":"","results":[]}`,
	`{"count":1e400,"next":7,"results":[{}]}`,
	`{"next":"http://evil.example/steal","results":[{"uuid":"a"}]}`,
	strings.Repeat("[", 100000),
	strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000),
	"[{\"uuid\":\"\xff\xfe\",\"email\":\"\xc3\x28@example.com\",\"phone_number\":\"+216\xff20123456\"}]",
	`[{"uuid":"u1","email":"A@B.C","phone_number":"0021620123456","created_at":"01/02/2026"}]`,
	`[{"uuid":"u2","email":"x@example.com <y@example.com>","phone_number":"yesterday","created_at":"yesterday"}]`,
	`[{"uuid":1700000000,"nickname":1e999,"phone_number":21620123456,"created_at":1700000000}]`,
	`[{"uuid":{"x":1},"email":["a@example.com"]}]`,
	`[{"uuid":"r1","messages":[{"uuid":"m1","email":"v@example.com","phone_number":"+21620123456","room":"r1","sent_at":"2024-01-01"},"m2",null,7]}]`,
	`[{"uuid":"m1","room":{"uuid":{"uuid":"x"}},"is_support_sender":"maybe"}]`,
	`{"token":""}`,
	`{"token":"t0k3n-abc"}`,
	`{"token":{"nested":true}}`,
	`{"non_field_errors":["Unable to log in with provided credentials."]}`,
	`{"detail":"Invalid token."}`,
}

// addSeeds adds every testdata file and every hostile seed to f.
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

// fuzzSource is a source whose mapping functions run without a server.
func fuzzSource(t testing.TB) *Source {
	t.Helper()
	src, err := NewSource(&connectors.Instance{
		Name: "ah", Type: "askhandle", BaseURL: "http://127.0.0.1:1/", Region: "TN",
		Auth: map[string]string{"api_key": "k3y-for-tests"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return src.(*Source)
}

// FuzzDecodeList decodes a list page in any shape and maps every item as a
// lead, a room and a message, as the source would on each endpoint.
func FuzzDecodeList(f *testing.F) {
	addSeeds(f, func(b []byte) { f.Add(b) })
	s := fuzzSource(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		l, err := decodeList(body)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("decodeList failed with an empty message")
			}
			return
		}
		for _, raw := range l.Items {
			if rec, _, probs := s.leadRecord(raw); rec != nil {
				checkKeys(t, *rec)
				if rec.SourceID == "" {
					t.Errorf("lead record without a SourceID")
				}
			} else if len(probs) == 0 {
				t.Errorf("lead %q dropped without a problem", raw)
			}
			var r apiRoom
			if json.Unmarshal(raw, &r) == nil && r.UUID != "" {
				msgs, _ := s.mergeInline(string(r.UUID), r.Messages, nil)
				rec, _ := s.roomRecord(r, raw, msgs)
				checkKeys(t, rec)
			}
			if m, err := s.decodeMessage(raw); err == nil && m.Room != "" {
				rec, _ := s.roomRecord(apiRoom{UUID: flexString(m.Room)}, nil, []message{m})
				checkKeys(t, rec)
			}
		}
	})
}

// FuzzRoomWithMessage maps a room with one message from /messages/, the
// inline messages merged with it.
func FuzzRoomWithMessage(f *testing.F) {
	f.Add([]byte(`{"uuid":"r1","label":"Sizes","rating":5,"is_bot_use":1,"created_at":"2024-03-10T09:15:02Z","messages":["m1",{"uuid":"m1","body":"hi"}]}`),
		[]byte(`{"uuid":"m1","nickname":"Ali","email":"Ali@Example.TN","phone_number":"20123456","body":"hello","is_support_sender":false,"sent_at":"2024-03-10T09:15:02Z","room":{"uuid":"r1"}}`))
	f.Add([]byte(`{"uuid":"r2","messages":[{"uuid":"x","sent_at":"yesterday"}]}`), []byte(`{"uuid":"x","room":"r2","sent_at":1700000000}`))
	f.Add([]byte("{\"uuid\":\"r\xff\",\"label\":\"\xc0\"}"), []byte("{\"uuid\":\"m\",\"body\":\"\xed\xa0\x80\",\"sent_at\":\"01/02/2026\"}"))
	f.Add([]byte(strings.Repeat("[", 100000)), []byte(strings.Repeat("{", 100000)))
	s := fuzzSource(f)
	f.Fuzz(func(t *testing.T, room, msg []byte) {
		var r apiRoom
		if err := json.Unmarshal(room, &r); err != nil {
			return
		}
		var listed []message
		if m, err := s.decodeMessage(msg); err == nil {
			listed = append(listed, m)
		}
		msgs, _ := s.mergeInline(string(r.UUID), r.Messages, listed)
		rec, _ := s.roomRecord(r, room, msgs)
		checkKeys(t, rec)
		for _, m := range rec.Conversations[0].Messages {
			if m.ID == "" {
				t.Errorf("message without an id in room %q", r.UUID)
			}
		}
	})
}

// roundTrip answers every request from a function, in memory.
type roundTrip func(*http.Request) *http.Response

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r), nil }

// FuzzLogin runs the username/password login against an answer of any
// status and body: it must return a token or an error, never a token that
// is empty.
func FuzzLogin(f *testing.F) {
	for _, st := range []int{200, 400, 401} {
		addSeeds(f, func(b []byte) { f.Add(st, b) })
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 200 || status > 599 {
			status = 200
		}
		c, err := httpapi.New(httpapi.Config{
			Name: "ah", BaseURL: "http://askhandle.invalid/", MaxAttempts: 1,
			Sleep: func(context.Context, time.Duration) error { return nil },
			Transport: roundTrip(func(r *http.Request) *http.Response {
				return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), Request: r}
			}),
		})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := login(context.Background(), c, "user", "pass")
		if err == nil && status >= 300 {
			t.Errorf("HTTP %d accepted as a login", status)
		}
		if err != nil && tok.Value != "" {
			t.Errorf("login failed (%v) but returned a token", err)
		}
	})
}
