package botpenguin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/botpenguin/botpenguintest"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest"
)

// TestBadInput serves hostile answers through the fake (sourcetest.RunBadInput
// says which); this file says only how BotPenguin shapes them.
func TestBadInput(t *testing.T) {
	sourcetest.RunBadInput(t, sourcetest.BadInputHarness{
		NewFake: func(t *testing.T) (http.Handler, *vendortest.Server) {
			fake := botpenguintest.New()
			fake.AddChats(botpenguintest.Chat{ID: "bp-1", UUID: "c0ffee01", Status: "OPEN", Lead: true, Name: "Sarra Kefi", Phone: "98765432", DialCode: "+216"})
			return fake.Handler(), fake.Recorder()
		},
		Instance: func(baseURL string) *connectors.Instance {
			return &connectors.Instance{Name: "bp", Type: "botpenguin", BaseURL: baseURL, Region: "TN",
				Auth:    map[string]string{"token": botpenguintest.Token},
				Options: map[string]any{"bot_id": botpenguintest.BotID, "customer_id": botpenguintest.CustomerID}}
		},
		NewSource: func(in *connectors.Instance) (connectors.Source, error) { return NewSource(in) },
		ListPath:  "inbox/direct/chats",
		FirstPage: "chats page 1",
		Malformed: []sourcetest.Malformed{
			{Name: "nested inside the envelope", Body: `{"success":true,"data":` + strings.Repeat("[", 100000), Want: "malformed JSON"},
			{Name: "truncated", Body: `{"success":true,"data":[{"uuid":"a"`, Want: "malformed JSON"},
		},
		OddPage: func(item string) string { return `{"success":true,"message":"ok","data":[` + item + `]}` },
		Odd: []sourcetest.OddRecord{
			{Name: "invalid UTF-8 in strings", Item: "{\"uuid\":\"odd-1\",\"name\":\"Al\xffi \xc3\x28Ben\",\"email\":\"al\xffi@exa\xc3\x28mple.tn\",\"createdAt\":\"2024-03-10T09:15:02Z\"}",
				Problem: "invalid email", Created: time.Date(2024, 3, 10, 9, 15, 2, 0, time.UTC)},
			{Name: "date as dd/mm/yyyy", Item: `{"uuid":"odd-2","createdAt":"01/02/2026"}`, Problem: `createdAt: unrecognised timestamp "01/02/2026"`},
			{Name: "date as a word", Item: `{"uuid":"odd-3","createdAt":"yesterday"}`, Problem: `createdAt: unrecognised timestamp "yesterday"`},
			// BotPenguin sends epoch numbers (MongoDB dates): a number is read as one.
			{Name: "date as epoch seconds", Item: `{"uuid":"odd-4","createdAt":1700000000}`, Created: time.Unix(1700000000, 0).UTC()},
		},
		Subject: func(id string) string { return "chat " + id },
		// The chats listing pages by number, so only a redirect can point elsewhere.
		Leaks: []sourcetest.Leak{{Name: "redirect", Redirect: "inbox/direct/chats"}},
	})
}
