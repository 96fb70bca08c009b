package epixel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/epixel/epixeltest"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/lead"
)

func newSource(t *testing.T, in *connectors.Instance) *Source {
	t.Helper()
	s, err := NewSource(in)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	return s
}

func pullAll(t *testing.T, s *Source) ([]connectors.Page, error) {
	t.Helper()
	var pages []connectors.Page
	err := s.Pull(context.Background(), nil, func(p connectors.Page) error {
		pages = append(pages, p)
		return nil
	})
	return pages, err
}

func TestPullReadsEveryLeadInBothListShapes(t *testing.T) {
	created := time.Date(2024, 4, 28, 9, 14, 3, 0, time.UTC)
	for _, ls := range []epixeltest.ListShape{epixeltest.Paginated, epixeltest.BareArray} {
		t.Run(fmt.Sprint("list shape ", ls), func(t *testing.T) {
			f, base := startFake(t)
			f.SetListShape(ls)
			f.AddLead(epixeltest.Lead{Slug: "amira-1", FirstName: " Amira ", LastName: "Ben  Salah", Email: "Amira@Example.com",
				Phone: "21620123456", Status: "potential", Source: "Website", CreatedAt: created, UpdatedAt: created.Add(time.Hour)})
			// Written by this connector with placeholders: they are not the person's.
			f.AddLead(epixeltest.Lead{Slug: "sami-2", FirstName: "Sami", LastName: "-", Email: "21655123123@no-email.invalid",
				Phone: "21655123123", CreatedAt: created, UpdatedAt: created})
			// Typed in by a salesperson, national form.
			f.AddLead(epixeltest.Lead{Slug: "karim-3", FirstName: "Karim", LastName: "T", Email: "karim@example.org",
				Phone: "98765432", CreatedAt: created, UpdatedAt: created})
			for i := range 3 {
				f.AddLead(epixeltest.Lead{Slug: fmt.Sprintf("filler-%d", i), FirstName: "F", LastName: "L", Email: fmt.Sprintf("f%d@example.com", i), Phone: "21650000000", CreatedAt: created, UpdatedAt: created})
			}
			opts := exampleOptions()
			opts["page_size"] = 2
			pages, err := pullAll(t, newSource(t, instance(base, opts)))
			if err != nil {
				t.Fatal(err)
			}
			var labels []string
			var recs []lead.Record
			for _, p := range pages {
				labels = append(labels, p.Label)
				recs = append(recs, p.Records...)
				if p.Cursor != nil || len(p.Problems) != 0 {
					t.Errorf("page %s: cursor %q, problems %v", p.Label, p.Cursor, p.Problems)
				}
			}
			if diff := cmp.Diff([]string{"leads offset 0", "leads offset 2", "leads offset 4"}, labels); diff != "" {
				t.Errorf("page labels (-want +got):\n%s", diff)
			}
			if len(recs) != 6 {
				t.Fatalf("%d records, want 6", len(recs))
			}
			want := []lead.Record{
				{Source: "crm", SourceID: "amira-1", TargetID: "amira-1", FirstName: "Amira", LastName: "Ben Salah",
					Emails: []string{"amira@example.com"}, Phones: []string{"+21620123456"}, Status: "potential",
					Attributes: map[string]string{"source": "Website"}, CreatedAt: created, UpdatedAt: created.Add(time.Hour)},
				{Source: "crm", SourceID: "sami-2", TargetID: "sami-2", FirstName: "Sami",
					Phones: []string{"+21655123123"}, Status: "prospect", CreatedAt: created, UpdatedAt: created},
				{Source: "crm", SourceID: "karim-3", TargetID: "karim-3", FirstName: "Karim", LastName: "T",
					Emails: []string{"karim@example.org"}, Phones: []string{"+21698765432"}, Status: "prospect", CreatedAt: created, UpdatedAt: created},
			}
			if diff := cmp.Diff(want, recs[:3], cmpopts.IgnoreFields(lead.Record{}, "Raw")); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if !strings.Contains(string(recs[0].Raw), `"slug":"amira-1"`) {
				t.Errorf("raw = %s", recs[0].Raw)
			}
		})
	}
}

func TestPullReportsAnOddLeadAndStillEmitsIt(t *testing.T) {
	f, base := startFake(t)
	f.AddLead(epixeltest.Lead{Slug: "odd-1", FirstName: "Odd", LastName: "One", Email: "not-an-email", Phone: "12"})
	pages, err := pullAll(t, newSource(t, instance(base, exampleOptions())))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 1 || len(pages[0].Records) != 1 {
		t.Fatalf("pages = %+v", pages)
	}
	rec := pages[0].Records[0]
	if rec.SourceID != "odd-1" || len(rec.Emails) != 0 || len(rec.Phones) != 0 || len(rec.OtherPhones) != 1 {
		t.Errorf("record = %+v", rec)
	}
	if len(pages[0].Problems) != 2 || !strings.Contains(pages[0].Problems[0].Error(), "odd-1") {
		t.Errorf("problems = %v, want two naming the lead", pages[0].Problems)
	}
}

func TestPullStopsWhenEmitFails(t *testing.T) {
	f, base := startFake(t)
	for i := range 5 {
		f.AddLead(epixeltest.Lead{FirstName: "F", LastName: "L", Email: fmt.Sprintf("f%d@example.com", i), Phone: "21650000000"})
	}
	opts := exampleOptions()
	opts["page_size"] = 2
	stop := errors.New("store full")
	calls := 0
	err := newSource(t, instance(base, opts)).Pull(context.Background(), nil, func(connectors.Page) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Pull = %v after %d emits, want the emit error after 1", err, calls)
	}
	if n := len(requestsTo(f, "GET", "leads/list/")); n != 1 {
		t.Errorf("%d list calls, want 1", n)
	}
}

func TestPullReturnsPromptlyWhenCancelled(t *testing.T) {
	_, base := startFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := newSource(t, instance(base, exampleOptions())).Pull(ctx, nil, func(connectors.Page) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Pull = %v, want context.Canceled", err)
	}
}

// A next link to another host must not receive the apikey and token.
func TestPullRefusesANextLinkToAnotherHost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/user/login/") {
			fmt.Fprint(w, `{"refresh":"refresh-token-1","access":"access-token-1"}`)
			return
		}
		fmt.Fprint(w, `{"status_code":200,"errors":{},"data":{"count":3,"next":"http://evil.example.com/leads/list/?offset=1","previous":null,"results":[{"slug":"a-1"}]}}`)
	}))
	defer srv.Close()
	pages, err := pullAll(t, newSource(t, instance(srv.URL+"/", exampleOptions())))
	if !errors.Is(err, httpapi.ErrForeignHost) || len(pages) != 1 {
		t.Errorf("Pull = %v after %d pages, want ErrForeignHost after 1", err, len(pages))
	}
}

// A server that ignores offset would answer the same full page forever.
func TestPullEndsWhenABareArrayServerIgnoresOffset(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/user/login/") {
			fmt.Fprint(w, `{"refresh":"refresh-token-1","access":"access-token-1"}`)
			return
		}
		calls++
		fmt.Fprint(w, `{"status_code":200,"errors":{},"data":[{"slug":"a-1"},{"slug":"a-2"}]}`)
	}))
	defer srv.Close()
	opts := exampleOptions()
	opts["page_size"] = 2
	pages, err := pullAll(t, newSource(t, instance(srv.URL+"/", opts)))
	if err != nil || len(pages) != 1 || calls != 2 {
		t.Errorf("Pull = %v, %d pages, %d calls; want nil, 1, 2", err, len(pages), calls)
	}
}

func TestPullNamesTheMalformedPage(t *testing.T) {
	f, base := startFake(t)
	for i := range 3 {
		f.AddLead(epixeltest.Lead{FirstName: "F", LastName: "L", Email: fmt.Sprintf("f%d@example.com", i), Phone: "21650000000"})
	}
	f.Recorder().Inject(vendortest.Fault{Match: "leads/list/", Skip: 1, Status: 200, Body: `{"status_code":200,"data":[{"slug":`})
	opts := exampleOptions()
	opts["page_size"] = 2
	pages, err := pullAll(t, newSource(t, instance(base, opts)))
	if err == nil || !strings.Contains(err.Error(), "leads offset 2") || len(pages) != 1 {
		t.Errorf("Pull = %v after %d pages, want an error naming leads offset 2 after 1", err, len(pages))
	}
}
