package roborder

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/roborder/robordertest"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest"
)

// TestBadInput serves hostile answers through the fake (sourcetest.RunBadInput
// says which); this file says only how Roborder shapes them.
func TestBadInput(t *testing.T) {
	sourcetest.RunBadInput(t, sourcetest.BadInputHarness{
		NewFake: func(t *testing.T) (http.Handler, *vendortest.Server) {
			fake := robordertest.New()
			fake.AddLeads(robordertest.Lead{ID: 1, Code: "ORD-00001", CustomerName: "Ali Ben Salah", Platform: "Facebook", PageName: "Souk", Phone: "20123456"})
			return fake.Handler(), fake.Recorder()
		},
		Instance: func(baseURL string) *connectors.Instance {
			return &connectors.Instance{Name: "fb", Type: "roborder", BaseURL: baseURL, Region: "TN",
				Auth: map[string]string{"email": robordertest.Email, "password": robordertest.Password}}
		},
		NewSource: func(in *connectors.Instance) (connectors.Source, error) { return NewSource(in) },
		ListPath:  "api/v1/leads",
		FirstPage: "leads page 1",
		Malformed: []sourcetest.Malformed{
			{Name: "nested inside the envelope", Body: `{"success":true,"data":` + strings.Repeat("[", 100000), Want: "malformed JSON"},
			{Name: "truncated", Body: `{"success":true,"data":[{"id":1`, Want: "malformed JSON"},
		},
		OddPage: func(item string) string { return `{"success":true,"data":[` + item + `],"message":""}` },
		Odd: []sourcetest.OddRecord{
			{Name: "invalid UTF-8 in strings", Item: "{\"id\":\"odd-1\",\"customer_name\":\"Al\xffi \xc3\x28Ben\",\"page_name\":\"\xed\xa0\x80\",\"email\":\"al\xffi@exa\xc3\x28mple.tn\",\"created_at\":\"2024-03-10T09:15:02Z\"}",
				Problem: "invalid email", Created: time.Date(2024, 3, 10, 9, 15, 2, 0, time.UTC)},
			{Name: "date as dd/mm/yyyy", Item: `{"id":"odd-2","created_at":"01/02/2026"}`, Problem: `created_at: unrecognised timestamp "01/02/2026"`},
			{Name: "date as a word", Item: `{"id":"odd-3","created_at":"yesterday"}`, Problem: `created_at: unrecognised timestamp "yesterday"`},
			{Name: "date as epoch seconds", Item: `{"id":"odd-4","created_at":1700000000}`, Problem: `created_at: unrecognised timestamp "1700000000"`},
		},
		Subject: func(id string) string { return "lead " + id },
		Leaks: []sourcetest.Leak{
			{Name: "next page link", NextLink: func(foreign string) string {
				return `{"success":true,"data":{"current_page":1,"data":[{"id":1}],"next_page_url":"` + foreign + `/api/v1/leads?page=2","last_page":2},"message":""}`
			}},
			{Name: "redirect", Redirect: "api/v1/leads"},
			{Name: "redirect of the login", Redirect: "api/v1/login"},
		},
	})
}
