package botpenguin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
	"github.com/leadsync/leadsync/lead"
)

// records decodes a chats file and maps every chat, collecting problems as
// "<source id>: <problem>".
func records(t *testing.T, file string) ([]lead.Record, []string) {
	t.Helper()
	raws, err := DecodeChats(fixture.ReadTestdata(t, file))
	if err != nil {
		t.Fatal(err)
	}
	in := &connectors.Instance{Name: "bp", Region: "IN"}
	var recs []lead.Record
	var problems []string
	for _, raw := range raws {
		rec, ps, err := ToRecord(in, "BOT1", raw)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(rec.Raw) {
			t.Errorf("chat %s: Raw is not the chat's JSON", rec.SourceID)
		}
		for _, p := range ps {
			problems = append(problems, rec.SourceID+": "+p.Error())
		}
		recs = append(recs, rec)
	}
	return recs, problems
}

var ignoreRaw = cmpopts.IgnoreFields(lead.Record{}, "Raw")

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDecodeChatsAcceptsEveryShape(t *testing.T) {
	tests := []struct {
		file string
		n    int
	}{
		{"chats_flat.json", 3},
		{"chats_nested.json", 2},
		{"chats_empty.json", 0},
		{"chats_null.json", 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raws, err := DecodeChats(fixture.ReadTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(raws) != tt.n {
				t.Errorf("%d chats, want %d", len(raws), tt.n)
			}
		})
	}
}

func TestDecodeChatsRefusesFailuresAndGarbage(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"success false carries the vendor message", fixture.ReadTestdata(t, "chats_failure.json"), "Invalid botId"},
		{"malformed JSON", []byte(`{"success":true,"data":[{"_id":"x",]}`), "malformed JSON"},
		{"data is an object", []byte(`{"success":true,"data":{"chats":[]}}`), "not a list"},
		{"empty body", []byte(" "), "empty response body"},
		{"not the envelope", []byte(`{"message":"Bad gateway"}`), "neither success nor data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeChats(tt.body)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestToRecordMapsFlatContact(t *testing.T) {
	got, problems := records(t, "chats_flat.json")
	want := []lead.Record{
		{
			Source: "bp", SourceID: "c6c1a3e0-9f3b-4a43-8d0e-2b8f1f9d7a11", FirstName: "Priya", LastName: "Sharma",
			Emails: []string{"priya.sharma@example.in"}, Phones: []string{"+919876543210"},
			Channel: "whatsapp", Status: "OPEN", Context: "botpenguin bot BOT1",
			Tags: []string{"pricing", "hot"},
			Attributes: map[string]string{
				"city": "Pune", "budget": "25000", "newsletter": "true", "address": `{"zip":"411001"}`, "referral": "",
				"note:Call back": "After 6pm\n\nPrefers Hindi", "note:3": "Met at expo",
			},
			CreatedAt: date("2024-06-01T10:15:30.123Z"), UpdatedAt: date("2024-06-02T08:00:00Z"),
		},
		{
			// no uuid: the _id is the key; a numeric phone that already
			// carries the dial code is not prefixed twice.
			Source: "bp", SourceID: "65b2a1c3d4e5f60718293a4c", FirstName: "Arjun",
			Phones: []string{"+919812345678"}, Channel: "chatbot", Status: "INPROGRESS", Context: "botpenguin bot BOT1",
			CreatedAt: time.UnixMilli(1717236930000).UTC(), UpdatedAt: date("2024-06-03T09:00:00Z"),
		},
		{
			// a number written with + keeps its own country code.
			Source: "bp", SourceID: "0b0f5c61-5e7e-4c55-9d4e-7f3a2e1c9b00", FirstName: "Dev",
			Phones: []string{"+447911123456"}, Channel: "chatbot", Status: "DEPENDANCY", Context: "botpenguin bot BOT1",
			UpdatedAt: date("2024-06-04T09:00:00Z"),
		},
	}
	if diff := cmp.Diff(want, got, ignoreRaw); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "0b0f5c61-5e7e-4c55-9d4e-7f3a2e1c9b00: createdAt") {
		t.Errorf("problems = %q, want Dev's createdAt only", problems)
	}
}

func TestToRecordMapsNestedContact(t *testing.T) {
	got, problems := records(t, "chats_nested.json")
	want := []lead.Record{
		{
			Source: "bp", SourceID: "7d1e2f30-aaaa-4bbb-8ccc-000000000001", FirstName: "Meera", LastName: "Nair",
			Emails: []string{"meera@example.in"}, Phones: []string{"+919123456780"},
			Channel: "telegram", Status: "CLOSED", Context: "botpenguin bot BOT1",
			Tags:       []string{"support"},
			Attributes: map[string]string{"plan": "gold", "note:Outcome": "Converted"},
			CreatedAt:  date("2024-06-05T11:00:00Z"), UpdatedAt: date("2024-06-06T11:00:00Z"),
		},
		{
			Source: "bp", SourceID: "7d1e2f30-aaaa-4bbb-8ccc-000000000002", FirstName: "Rahul",
			OtherPhones: []string{"+9112"}, Channel: "chatbot", Status: "REVIEW", Context: "botpenguin bot BOT1",
			CreatedAt: date("2024-06-07T11:00:00Z"), UpdatedAt: date("2024-06-07T12:00:00Z"),
		},
	}
	if diff := cmp.Diff(want, got, ignoreRaw); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if len(problems) != 2 || !strings.Contains(problems[0], "email") || !strings.Contains(problems[1], "phone") {
		t.Errorf("problems = %q, want Rahul's email and phone", problems)
	}
}

func TestToRecordMergesFlatAndNestedContacts(t *testing.T) {
	raw := `{"uuid":"u1","name":"","email":"a@example.in","phone":"9876543210","dialCode":"+91",
		"profile":{"userDetails":{"name":"Nested Name","email":"b@example.in","contact":{"phone":{"number":"9876543210","prefix":"91"}}}}}`
	rec, ps, err := ToRecord(&connectors.Instance{Name: "bp", Region: "IN"}, "B", json.RawMessage(raw))
	if err != nil || len(ps) > 0 {
		t.Fatal(err, ps)
	}
	if rec.FirstName != "Nested" || rec.LastName != "Name" {
		t.Errorf("name = %q %q, want the nested name when the flat one is empty", rec.FirstName, rec.LastName)
	}
	if diff := cmp.Diff([]string{"a@example.in", "b@example.in"}, rec.Emails); diff != "" {
		t.Errorf("emails (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"+919876543210"}, rec.Phones); diff != "" {
		t.Errorf("phones (-want +got):\n%s", diff)
	}
}

func TestToRecordRefusesChatWithoutKey(t *testing.T) {
	for _, raw := range []string{`{"name":"x"}`, `{"uuid":"","_id":null}`, `{"uuid":["x"]}`} {
		if _, _, err := ToRecord(&connectors.Instance{Name: "bp"}, "B", json.RawMessage(raw)); err == nil {
			t.Errorf("ToRecord(%s) succeeded, want an error", raw)
		}
	}
}

func TestJoinPhone(t *testing.T) {
	tests := []struct{ prefix, number, want string }{
		{"+91", "9876543210", "+919876543210"},
		{"91", "9876543210", "+919876543210"},
		{"0091", "9876543210", "+919876543210"},
		{"+91", "+919876543210", "+919876543210"},
		{"+91", "919876543210", "+919876543210"},
		{"+91", "98765 43210", "+9198765 43210"},
		{"", "9876543210", "9876543210"},
		{"+91", "", ""},
		{"+91", "0044 7911 123456", "0044 7911 123456"},
	}
	for _, tt := range tests {
		if got := joinPhone(tt.prefix, tt.number, "IN"); got != tt.want {
			t.Errorf("joinPhone(%q, %q) = %q, want %q", tt.prefix, tt.number, got, tt.want)
		}
	}
}

func TestParseTimeForms(t *testing.T) {
	want := date("2024-06-01T10:15:30Z")
	for _, raw := range []string{`"2024-06-01T10:15:30Z"`, `"2024-06-01T10:15:30.000+00:00"`, `1717236930000`, `1717236930`, `{"$date":"2024-06-01T10:15:30Z"}`, `{"$date":1717236930000}`} {
		got, err := parseTime(json.RawMessage(raw), nil)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%s) = %v, %v; want %v", raw, got, err, want)
		}
	}
	for _, raw := range []string{`"soon"`, `true`, `{"x":1}`, `-5`} {
		if _, err := parseTime(json.RawMessage(raw), nil); err == nil {
			t.Errorf("parseTime(%s) succeeded, want an error", raw)
		}
	}
	if got, err := parseTime(json.RawMessage(`null`), nil); err != nil || !got.IsZero() {
		t.Errorf("parseTime(null) = %v, %v; want zero", got, err)
	}
}

// A chat whose profile is not an object is refused with a message naming
// the field and the kind wanted, not the nested Go type spelled out.
func TestToRecordNamesAWrongTypedField(t *testing.T) {
	_, _, err := ToRecord(&connectors.Instance{Name: "bp"}, "BOT1", []byte(`{"_id":"x","profile":5}`))
	if err == nil {
		t.Fatal("a chat whose profile is a number was read")
	}
	msg := err.Error()
	for _, want := range []string{"unreadable chat", "number where object was expected", "in field profile"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "struct") || len(msg) > 200 {
		t.Errorf("error spells the Go type: %q", msg)
	}
}
