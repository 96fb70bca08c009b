package roborder_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/roborder"
	"github.com/leadsync/leadsync/connectors/roborder/robordertest"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/lead"
)

func conformanceLead(i int) robordertest.Lead {
	return robordertest.Lead{
		ID: i, CustomerName: fmt.Sprintf("Person Number%d", i), Platform: "Facebook", PageName: "Amine Pharma",
		Phone: fmt.Sprintf("22%06d", i), CreatedAt: "2024-05-01T10:00:00.000000Z",
	}
}

// harness serves leads as a paginator of 3 (the only shape with several
// pages), with either credential form.
func harness(auth map[string]string, renewable bool) sourcetest.Harness {
	var fake *robordertest.Fake
	return sourcetest.Harness{
		NewFake: func(t *testing.T, persons int) (http.Handler, *vendortest.Server) {
			fake = robordertest.New()
			fake.SetShape(robordertest.Paginator)
			fake.SetPerPage(3)
			for i := 1; i <= persons; i++ {
				fake.AddLeads(conformanceLead(i))
			}
			return fake.Handler(), fake.Recorder()
		},
		Instance: func(baseURL string) *connectors.Instance {
			return &connectors.Instance{Name: "rb", Type: "roborder", BaseURL: baseURL, Region: "TN", Auth: auth}
		},
		NewSource: func(in *connectors.Instance) (connectors.Source, error) { return roborder.NewSource(in) },
		ListPath:  "api/v1/leads",
		Renewable: renewable,
		LoginPath: "api/v1/login",
		AddPerson: func(i int) { fake.AddLeads(conformanceLead(i)) },
		PersonKey: func(r lead.Record) string { return r.SourceID },
	}
}

func TestConformanceLogin(t *testing.T) { sourcetest.Run(t, harness(loginAuth, true)) }

func TestConformanceDashboardToken(t *testing.T) { sourcetest.Run(t, harness(tokenAuth, false)) }
