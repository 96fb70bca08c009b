package roborder

import (
	"context"
	"strings"
	"testing"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/sourcetest"
)

// The fuzz targets feed Roborder's decoders whatever a broken or hostile
// server could answer: no panic, and every record passes
// sourcetest.CheckRecord (the engine joins persons on its match keys).

// hostileSeeds add Roborder's own shapes to sourcetest.HostileSeeds.
var hostileSeeds = []string{
	`{"success":true}`,
	`{"success":true,"data":"x"}`,
	`{"success":false,"message":{"nested":1}}`,
	`{"success":"yes","data":[]}`,
	`{"success":true,"data":{"data":null,"next_page_url":7}}`,
	`{"success":true,"data":{"data":[{}],"current_page":1,"next_page_url":"http://evil.example/steal"}}`,
	`{"success":true,"data":[null,1,"x",[],{"id":null},{"id":{"a":1}}]}`,
	`{"success":true,"data":{"id":1e999,"phone":21620123456,"email":false,"created_at":1700000000}}`,
	`{"success":true,"data":[{"id":1,"phone":"0021620123456","email":"A@B.C","created_at":"01/02/2026","updated_at":"yesterday"}]}`,
	`{"success":true,"data":[{"id":2,"phone":"20 123 456 ext 9","email":"x@example.com <y@example.com>"}]}`,
	"{\"success\":true,\"data\":[{\"id\":\"\xff\",\"customer_name\":\"\xc3\x28\",\"email\":\"\xed\xa0\x80@example.com\"}]}",
	strings.Repeat(`{"data":`, 5000) + "1" + strings.Repeat("}", 5000),
	`{"success":true,"data":{"access_token":""}}`,
	`{"success":true,"data":{"access_token":12}}`,
	`{"success":true,"data":"token"}`,
	`{"success":false,"message":"These credentials do not match our records."}`,
	`{"message":"Unauthenticated."}`,
}

var fuzzInstance = &connectors.Instance{Name: "fb", Type: "roborder", Region: "TN"}

// FuzzDecodeLeads decodes a leads answer in any shape and maps every lead.
func FuzzDecodeLeads(f *testing.F) {
	sourcetest.AddFuzzSeeds(f, hostileSeeds, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		l, err := DecodeLeads(body)
		if err != nil {
			return
		}
		if !l.Paginated && l.Next != "" {
			t.Errorf("a next link outside a paginator: %q", l.Next)
		}
		for _, raw := range l.Leads {
			rec, _, err := ToRecord(fuzzInstance, raw)
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

// FuzzLogin runs the email/password login against an answer of any status and body.
func FuzzLogin(f *testing.F) {
	sourcetest.FuzzLogin(f, sourcetest.LoginFuzz{
		Statuses: []int{200, 401, 422}, Seeds: hostileSeeds,
		Login: func(ctx context.Context, c *httpapi.Client) (httpapi.Token, error) {
			return login(ctx, c, "a@example.com", "pw")
		},
		RequireToken: true,
	})
}
