package askhandle

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/askhandle/askhandletest"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest"
)

// TestBadInput serves hostile answers through the fake (sourcetest.RunBadInput
// says which); this file says only how AskHandle shapes them.
func TestBadInput(t *testing.T) {
	sourcetest.RunBadInput(t, sourcetest.BadInputHarness{
		NewFake: func(t *testing.T) (http.Handler, *vendortest.Server) {
			fake := askhandletest.New()
			fake.AddLead(askhandletest.Lead{UUID: "lead-ok", Nickname: "Ali", Email: "ali@example.tn", CreatedAt: time.Now().UTC().Format(time.RFC3339)})
			return fake.Handler(), fake.Recorder()
		},
		Instance: func(baseURL string) *connectors.Instance {
			return &connectors.Instance{Name: "ah", Type: "askhandle", BaseURL: baseURL, Region: "TN",
				Auth: map[string]string{"api_key": askhandletest.APIKey}}
		},
		NewSource: NewSource,
		ListPath:  "api/v1/leads/",
		FirstPage: "leads offset 0",
		Malformed: []sourcetest.Malformed{
			{Name: "nested inside results", Body: `{"count":1,"results":` + strings.Repeat("[", 100000), Want: "malformed JSON"},
			{Name: "truncated", Body: `{"count":1,"results":[{"uuid":"a"`, Want: "malformed JSON"},
			{Name: "results of the wrong type", Body: `{"count":1,"results":"none"}`, Want: "unexpected JSON"},
		},
		OddPage: func(item string) string { return "[" + item + "]" },
		Odd: []sourcetest.OddRecord{
			{Name: "invalid UTF-8 in strings", Item: "{\"uuid\":\"odd-1\",\"nickname\":\"Al\xffi \xc3\x28Ben\",\"from_page_title\":\"\xed\xa0\x80\",\"email\":\"ali@example.tn\",\"created_at\":\"2024-03-10T09:15:02Z\"}",
				Created: time.Date(2024, 3, 10, 9, 15, 2, 0, time.UTC)},
			{Name: "invalid UTF-8 in the email", Item: "{\"uuid\":\"odd-2\",\"email\":\"al\xffi@exa\xc3\x28mple.tn\"}", Problem: "invalid email"},
			{Name: "date as dd/mm/yyyy", Item: `{"uuid":"odd-3","created_at":"01/02/2026"}`, Problem: `created_at: unrecognised timestamp "01/02/2026"`},
			{Name: "date as a word", Item: `{"uuid":"odd-4","created_at":"yesterday"}`, Problem: `created_at: unrecognised timestamp "yesterday"`},
			{Name: "date as epoch seconds", Item: `{"uuid":"odd-5","created_at":1700000000}`, Problem: `created_at: unrecognised timestamp "1700000000"`},
		},
		Leaks: []sourcetest.Leak{
			{Name: "next link", NextLink: func(foreign string) string {
				return `{"count":2,"next":"` + foreign + `/api/v1/leads/?limit=1&offset=1","results":[{"uuid":"a"}]}`
			}},
			{Name: "redirect", Redirect: "api/v1/leads/"},
		},
		Auths: map[string]map[string]string{
			"api key":  {"api_key": askhandletest.APIKey},
			"password": {"username": askhandletest.Username, "password": askhandletest.Password},
		},
	})
}
