package epixel_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/epixel"
	"github.com/leadsync/leadsync/connectors/epixel/epixeltest"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/lead"
)

func conformanceLead(i int) epixeltest.Lead {
	at := time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	return epixeltest.Lead{
		Slug: fmt.Sprintf("person-number%d-%04d", i, i), FirstName: "Person", LastName: fmt.Sprintf("Number%d", i),
		Email: fmt.Sprintf("person%d@example.com", i), Phone: fmt.Sprintf("2162%07d", i),
		Status: "prospect", Source: "Website", CreatedAt: at, UpdatedAt: at,
	}
}

// conformanceHarness serves the CRM's leads in list shape ls, 3 per page,
// with the tokens where ts puts them, to the source role. The access token is renewed through user/token/refresh/ (or
// user/login/ again), so LoginPath "user/" counts both.
func conformanceHarness(ts epixeltest.TokenShape, ls epixeltest.ListShape) sourcetest.Harness {
	var fake *epixeltest.Fake
	return sourcetest.Harness{
		NewFake: func(t *testing.T, persons int) (http.Handler, *vendortest.Server) {
			fake = epixeltest.New()
			fake.SetShape(ts, ls)
			for i := 1; i <= persons; i++ {
				fake.AddLead(conformanceLead(i))
			}
			return fake.Handler(), fake.Recorder()
		},
		Instance: func(baseURL string) *connectors.Instance {
			return &connectors.Instance{
				Name: "crm", Type: "epixel", BaseURL: baseURL, Region: "TN",
				Auth:    map[string]string{"api_key": epixeltest.APIKey, "username": epixeltest.Username, "password": epixeltest.Password},
				Options: map[string]any{"page_size": 3},
			}
		},
		NewSource: func(in *connectors.Instance) (connectors.Source, error) { return epixel.NewSource(in) },
		ListPath:  "leads/list/",
		Renewable: true,
		LoginPath: "user/",
		AddPerson: func(i int) { fake.AddLead(conformanceLead(i)) },
		PersonKey: func(r lead.Record) string { return r.SourceID },
	}
}

// TestConformance runs the suite against the source role in both list
// shapes; each also takes one of the two token shapes, so the renewal after
// the suite's 401 is read from either.
func TestConformance(t *testing.T) {
	for _, tt := range []struct {
		name   string
		tokens epixeltest.TokenShape
		list   epixeltest.ListShape
	}{
		{"Paginated", epixeltest.TopLevel, epixeltest.Paginated},
		{"BareArray", epixeltest.InData, epixeltest.BareArray},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each run has its own fakes; the Retry-After waits overlap
			sourcetest.Run(t, conformanceHarness(tt.tokens, tt.list))
		})
	}
}
