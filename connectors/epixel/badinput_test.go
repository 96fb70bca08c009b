package epixel

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/epixel/epixeltest"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest"
)

// TestBadInput serves hostile answers through the fake (sourcetest.RunBadInput
// says which); this file says only how Epixel shapes them.
func TestBadInput(t *testing.T) {
	const envelope = `{"status_code":200,"errors":{},"data":`
	sourcetest.RunBadInput(t, sourcetest.BadInputHarness{
		NewFake: func(t *testing.T) (http.Handler, *vendortest.Server) {
			fake := epixeltest.New()
			fake.AddLead(epixeltest.Lead{FirstName: "Mohamed", LastName: "Laarbi", Email: "mohamed@example.tn", Phone: "21655111222", Status: "contact"})
			return fake.Handler(), fake.Recorder()
		},
		Instance: func(baseURL string) *connectors.Instance {
			return &connectors.Instance{Name: "crm", Type: "epixel", BaseURL: baseURL, Region: "TN",
				Auth:    map[string]string{"api_key": epixeltest.APIKey, "username": epixeltest.Username, "password": epixeltest.Password},
				Options: map[string]any{"placeholder_email": "{phone}@no-email.invalid", "placeholder_last_name": "-"}}
		},
		NewSource: func(in *connectors.Instance) (connectors.Source, error) { return NewSource(in) },
		ListPath:  "leads/list/",
		FirstPage: "leads offset 0",
		Malformed: []sourcetest.Malformed{
			{Name: "nested inside the envelope", Body: envelope + `{"count":1,"results":` + strings.Repeat("[", 100000), Want: "malformed JSON"},
			{Name: "truncated", Body: envelope + `{"count":1,"results":[{"slug":"a"`, Want: "malformed JSON"},
		},
		OddPage: func(item string) string { return envelope + `[` + item + `]}` },
		Odd: []sourcetest.OddRecord{
			{Name: "invalid UTF-8 in strings", Item: "{\"slug\":\"odd-1\",\"first_name\":\"Al\xffi\",\"last_name\":\"\xc3\x28Ben\",\"email\":\"al\xffi@exa\xc3\x28mple.tn\",\"created_at\":\"2024-03-10T09:15:02Z\"}",
				Problem: "invalid email", Created: time.Date(2024, 3, 10, 9, 15, 2, 0, time.UTC)},
			{Name: "date as dd/mm/yyyy", Item: `{"slug":"odd-2","created_at":"01/02/2026"}`, Problem: `created_at: unrecognised timestamp "01/02/2026"`},
			{Name: "date as a word", Item: `{"slug":"odd-3","created_at":"yesterday"}`, Problem: `created_at: unrecognised timestamp "yesterday"`},
			{Name: "date as epoch seconds", Item: `{"slug":"odd-4","created_at":1700000000}`, Problem: `created_at: unrecognised timestamp "1700000000"`},
		},
		Subject: func(id string) string { return `lead "` + id + `"` },
		Leaks: []sourcetest.Leak{
			{Name: "next link", NextLink: func(foreign string) string {
				return envelope + `{"count":2,"next":"` + foreign + `/leads/list/?limit=1&offset=1","results":[{"slug":"a"}]}}`
			}},
			{Name: "redirect", Redirect: "leads/list/"},
			{Name: "redirect of the login", Redirect: "user/login/"},
		},
	})
}
