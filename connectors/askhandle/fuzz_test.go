package askhandle

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/sourcetest"
)

// The fuzz targets feed AskHandle's decoders whatever a broken or hostile
// server could answer: no panic, and every record passes
// sourcetest.CheckRecord (the engine joins persons on its match keys).

// hostileSeeds add AskHandle's own shapes to sourcetest.HostileSeeds.
var hostileSeeds = []string{
	`{"results":null}`,
	`{"count":-1,"next":"","results":[]}`,
	`{"count":1e400,"next":7,"results":[{}]}`,
	`{"next":"http://evil.example/steal","results":[{"uuid":"a"}]}`,
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
	sourcetest.AddFuzzSeeds(f, hostileSeeds, func(b []byte) { f.Add(b) })
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
				sourcetest.CheckRecord(t, *rec)
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
				sourcetest.CheckRecord(t, rec)
			}
			if m, err := s.decodeMessage(raw); err == nil && m.Room != "" {
				rec, _ := s.roomRecord(apiRoom{UUID: flexString(m.Room)}, nil, []message{m})
				sourcetest.CheckRecord(t, rec)
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
		sourcetest.CheckRecord(t, rec)
		for _, m := range rec.Conversations[0].Messages {
			if m.ID == "" {
				t.Errorf("message without an id in room %q", r.UUID)
			}
		}
	})
}

// FuzzLogin runs the username/password login against an answer of any status and body.
func FuzzLogin(f *testing.F) {
	sourcetest.FuzzLogin(f, sourcetest.LoginFuzz{
		Statuses: []int{200, 400, 401}, Seeds: hostileSeeds,
		Login: func(ctx context.Context, c *httpapi.Client) (httpapi.Token, error) {
			return login(ctx, c, "user", "pass")
		},
	})
}
