package askhandle

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

// offlineSource is a source whose mapping functions can run without a server.
func offlineSource(t *testing.T) *Source {
	t.Helper()
	s, err := NewSource(&connectors.Instance{
		Name: "ah", Type: "askhandle", BaseURL: "http://127.0.0.1:1/", Region: "TN",
		Auth: map[string]string{"api_key": "k3y-for-tests"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Source)
}

func TestDecodeListAcceptsEveryShape(t *testing.T) {
	tests := []struct {
		file      string
		items     int
		paginated bool
		next      string
	}{
		{"leads_bare.json", 2, false, ""},
		{"leads_paginated.json", 2, true, "https://dashboard.askhandle.com/api/v1/leads/?end_date=2024-03-10&limit=2&offset=2&start_date=2024-03-01"},
		{"leads_paginated_last.json", 1, true, ""},
		{"rooms_bare.json", 2, false, ""},
		{"rooms_paginated.json", 1, true, ""},
		{"messages_bare.json", 2, false, ""},
		{"messages_paginated.json", 2, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			l, err := decodeList(fixture.ReadTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got := struct {
				Items     int
				Paginated bool
				Next      string
			}{len(l.Items), l.Paginated, l.Next}
			want := struct {
				Items     int
				Paginated bool
				Next      string
			}{tt.items, tt.paginated, tt.next}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decodeList (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeListRefusesWhatIsNotAList(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"malformed", string(fixture.ReadTestdata(t, "malformed.json")), "malformed JSON"},
		{"drf error object", string(fixture.ReadTestdata(t, "error_401.json")), `neither a list nor an object with "results"`},
		{"empty body", "  ", "empty response body"},
		{"results not a list", `{"count":1,"results":{"uuid":"x"}}`, "unexpected JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeList([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func leadsFrom(t *testing.T, s *Source, file string) ([]lead.Record, []error) {
	t.Helper()
	l, err := decodeList(fixture.ReadTestdata(t, file))
	if err != nil {
		t.Fatal(err)
	}
	var recs []lead.Record
	var probs []error
	for _, raw := range l.Items {
		rec, _, p := s.leadRecord(raw)
		probs = append(probs, p...)
		if rec != nil {
			recs = append(recs, *rec)
		}
	}
	return recs, probs
}

func TestLeadMappingIsTheSameInBothShapes(t *testing.T) {
	s := offlineSource(t)
	want := []lead.Record{
		{
			Source: "ah", SourceID: "0b6f7c1e-3c2a-4d55-9a43-5f2f6f1d9a01",
			FirstName: "Mary", LastName: "Jane Watson",
			Emails: []string{"mary@example.com"}, Phones: []string{"+21620123456"},
			Channel: "webchat", Context: "askhandle widget: Pricing (via google.com, mobile)",
			Attributes: map[string]string{"device": "mobile", "from_page_title": "Pricing", "referrer": "https://www.google.com/search?q=askhandle"},
			CreatedAt:  time.Date(2024, 3, 10, 9, 15, 2, 381220000, time.UTC),
		},
		{
			Source: "ah", SourceID: "7d1c93a4-2f0e-4b8e-8f7a-0a4a7c9e1b22",
			FirstName: "Karim",
			Phones:    []string{"+21620123457"}, // national digits, read in the instance's region
			Channel:   "webchat", Context: "askhandle widget: Contact us (desktop)",
			Attributes: map[string]string{"device": "desktop", "from_page_title": "Contact us"},
			CreatedAt:  time.Date(2024, 3, 9, 16, 40, 0, 0, time.UTC),
		},
	}
	for _, file := range []string{"leads_bare.json", "leads_paginated.json"} {
		t.Run(file, func(t *testing.T) {
			got, probs := leadsFrom(t, s, file)
			if len(probs) > 0 {
				t.Errorf("problems: %v", probs)
			}
			for _, r := range got {
				if !json.Valid(r.Raw) || !strings.Contains(string(r.Raw), r.SourceID) {
					t.Errorf("%s: Raw is not the item's JSON: %s", r.SourceID, r.Raw)
				}
			}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(lead.Record{}, "Raw")); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLeadOddValuesAreProblemsOnAKeptRecord(t *testing.T) {
	got, probs := leadsFrom(t, offlineSource(t), "leads_paginated_last.json")
	if len(got) != 1 {
		t.Fatalf("got %d records, want the lead kept", len(got))
	}
	if diff := cmp.Diff([]string{"12"}, got[0].OtherPhones); diff != "" {
		t.Errorf("OtherPhones (-want +got):\n%s", diff)
	}
	var msgs []string
	for _, p := range probs {
		msgs = append(msgs, p.Error())
	}
	for _, want := range []string{"invalid email", "phone", "created_at"} {
		if !strings.Contains(strings.Join(msgs, "\n"), want) {
			t.Errorf("problems %q lack %q", msgs, want)
		}
	}
	for _, m := range msgs {
		if !strings.Contains(m, "c3e2b0d9-8a61-4f0b-9c57-2d4e8f6a7b33") {
			t.Errorf("problem %q does not name the lead", m)
		}
	}
}

func TestLeadWithoutUUIDIsSkippedWithAProblem(t *testing.T) {
	rec, _, probs := offlineSource(t).leadRecord(json.RawMessage(`{"nickname":"Ghost","email":"g@example.com"}`))
	if rec != nil || len(probs) != 1 {
		t.Fatalf("rec = %v, problems = %v; want no record and one problem", rec, probs)
	}
}

// roomsFrom maps the rooms of roomsFile with the messages of messagesFile.
func roomsFrom(t *testing.T, s *Source, roomsFile, messagesFile string) ([]lead.Record, []error) {
	t.Helper()
	byRoom := map[string][]message{}
	ml, err := decodeList(fixture.ReadTestdata(t, messagesFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range ml.Items {
		m, err := s.decodeMessage(raw)
		if err != nil {
			t.Fatal(err)
		}
		byRoom[string(m.Room)] = append(byRoom[string(m.Room)], m)
	}
	rl, err := decodeList(fixture.ReadTestdata(t, roomsFile))
	if err != nil {
		t.Fatal(err)
	}
	var recs []lead.Record
	var probs []error
	for _, raw := range rl.Items {
		var r apiRoom
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		msgs, p := s.mergeInline(string(r.UUID), r.Messages, byRoom[string(r.UUID)])
		probs = append(probs, p...)
		rec, p := s.roomRecord(r, raw, msgs)
		probs = append(probs, p...)
		recs = append(recs, rec)
	}
	return recs, probs
}

func TestRoomWithInlineMessagesAndBareRoomStrings(t *testing.T) {
	got, probs := roomsFrom(t, offlineSource(t), "rooms_paginated.json", "messages_bare.json")
	if len(probs) > 0 {
		t.Errorf("problems: %v", probs)
	}
	want := []lead.Record{{
		Source: "ah", SourceID: "room:de1e39a5-a391-4d7f-836d-cf3589529af8",
		FirstName: "Mary",
		// Only the visitor's contacts: the support message's email and phone are the agent's.
		Emails:  []string{"mary@example.com"},
		Channel: "webchat", Context: "askhandle chat: Pricing question",
		CreatedAt: time.Date(2024, 3, 10, 9, 14, 40, 101000000, time.UTC),
		UpdatedAt: time.Date(2021, 9, 15, 12, 8, 52, 0, time.UTC),
		Conversations: []lead.Conversation{{
			ID: "de1e39a5-a391-4d7f-836d-cf3589529af8", Channel: "webchat", Title: "Pricing question",
			Messages: []lead.Message{
				{ID: "ffb84155-5f12-4bee-bd50-3c868097e473", Sender: lead.SenderUser, Name: "Mary", Text: "Hello!", At: time.Date(2021, 9, 15, 12, 8, 50, 676405000, time.UTC)},
				// is_bot_use: the support side of this room is the bot.
				{ID: "0c9d8e7f-1a2b-4c3d-8e4f-5a6b7c8d9e0f", Sender: lead.SenderBot, Name: "AskHandle", Text: "Hi Mary, how can I help?", At: time.Date(2021, 9, 15, 12, 8, 52, 0, time.UTC)},
			},
		}},
	}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(lead.Record{}, "Raw")); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestRoomMessagesFromListWithRoomObjectsSortedBySentAt(t *testing.T) {
	got, probs := roomsFrom(t, offlineSource(t), "rooms_bare.json", "messages_paginated.json")
	if len(probs) > 0 {
		t.Errorf("problems: %v", probs)
	}
	if len(got) != 2 {
		t.Fatalf("got %d records, want 2", len(got))
	}
	// The first room has no messages at all: emitted without contacts.
	if r := got[0]; len(r.Emails)+len(r.Phones) != 0 || r.Attributes["rating"] != "5" || len(r.Conversations[0].Messages) != 0 {
		t.Errorf("room without messages = %+v", r)
	}
	want := lead.Record{
		Source: "ah", SourceID: "room:4a0f3c55-6b1e-4f7a-a9d2-1c3b5e7f9a44",
		FirstName: "Karim", LastName: "Ben Ali",
		Phones:  []string{"+21698765432"},
		Channel: "webchat", Context: "askhandle chat: Visitor 4471",
		CreatedAt: time.Date(2024, 3, 8, 11, 0, 0, 0, time.UTC),
		UpdatedAt: time.Date(2024, 3, 8, 11, 1, 30, 0, time.UTC),
		Conversations: []lead.Conversation{{
			ID: "4a0f3c55-6b1e-4f7a-a9d2-1c3b5e7f9a44", Channel: "webchat", Title: "Visitor 4471",
			Messages: []lead.Message{
				{ID: "a1b2c3d4-0000-4000-8000-000000000001", Sender: lead.SenderAgent, Name: "Sami (agent)", Text: "Hello, Sami from the shop here.", At: time.Date(2024, 3, 8, 11, 0, 5, 0, time.UTC)},
				{ID: "a1b2c3d4-0000-4000-8000-000000000002", Sender: lead.SenderUser, Name: "Karim Ben Ali", Text: "Call me back please", At: time.Date(2024, 3, 8, 11, 1, 30, 0, time.UTC)},
			},
		}},
	}
	if diff := cmp.Diff(want, got[1], cmpopts.IgnoreFields(lead.Record{}, "Raw")); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
}

func TestInlineMessageIsReplacedByTheListedCopy(t *testing.T) {
	s := offlineSource(t)
	inline := []json.RawMessage{
		json.RawMessage(`{"uuid":"m1","body":"old","sent_at":"2024-01-01T00:00:00Z"}`),
		json.RawMessage(`"m2"`),
		json.RawMessage(`{"uuid":"m3","body":"only inline","sent_at":"2024-01-01T00:00:03Z"}`),
	}
	listed, _ := s.decodeMessage(json.RawMessage(`{"uuid":"m1","body":"new","sent_at":"2024-01-01T00:00:00Z","room":"r"}`))
	got, probs := s.mergeInline("r", inline, []message{listed})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	var bodies []string
	for _, m := range got {
		bodies = append(bodies, string(m.Body))
	}
	if diff := cmp.Diff([]string{"new", "only inline"}, bodies); diff != "" {
		t.Errorf("merged bodies (-want +got):\n%s", diff)
	}
}

func TestMessageWithoutUUIDGetsAStableDerivedID(t *testing.T) {
	m := message{apiMessage: apiMessage{Body: "hi", SentAt: "2024-01-01T00:00:00Z"}}
	a, b := messageID("room1", m), messageID("room1", m)
	if a != b || !strings.HasPrefix(a, "derived:") || a == messageID("room2", m) {
		t.Errorf("derived ids %q, %q, other room %q", a, b, messageID("room2", m))
	}
}

func TestRoomRefAcceptsObjectStringAndNull(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"uuid":"de1e"}`, "de1e"},
		{`"de1e"`, "de1e"},
		{`null`, ""},
	}
	for _, tt := range tests {
		var r roomRef
		if err := json.Unmarshal([]byte(tt.in), &r); err != nil || string(r) != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.in, r, err, tt.want)
		}
	}
	var r roomRef
	if err := json.Unmarshal([]byte(`[1]`), &r); err == nil {
		t.Error("a list as room decoded without error")
	}
}

func TestFlexValues(t *testing.T) {
	bools := map[string]bool{`true`: true, `"true"`: true, `1`: true, `false`: false, `"false"`: false, `0`: false, `null`: false}
	for in, want := range bools {
		var b flexBool
		if err := json.Unmarshal([]byte(in), &b); err != nil || bool(b) != want {
			t.Errorf("flexBool %s = %v, %v; want %v", in, b, err, want)
		}
	}
	strs := map[string]string{`" a "`: "a", `21620123456`: "21620123456", `null`: ""}
	for in, want := range strs {
		var s flexString
		if err := json.Unmarshal([]byte(in), &s); err != nil || string(s) != want {
			t.Errorf("flexString %s = %q, %v; want %q", in, s, err, want)
		}
	}
	var s flexString
	if err := json.Unmarshal([]byte(`{"x":1}`), &s); err == nil {
		t.Error("an object as string decoded without error")
	}
}
