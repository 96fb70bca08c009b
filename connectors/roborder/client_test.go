package roborder

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

// ids reads the "id" of each raw lead, for compact comparisons.
func ids(t *testing.T, raws []json.RawMessage) []string {
	t.Helper()
	out := []string{}
	for _, r := range raws {
		var l apiLead
		if err := json.Unmarshal(r, &l); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(l.ID))
	}
	return out
}

func TestDecodeLeadsAcceptsEveryShape(t *testing.T) {
	tests := []struct {
		file      string
		ids       []string
		paginated bool
		next      string
	}{
		{file: "leads_single.json", ids: []string{"2"}},
		{file: "leads_array.json", ids: []string{"2", "3", "4"}},
		{file: "leads_paginator_page1.json", ids: []string{"10", "11"}, paginated: true, next: "https://app.roborder.ai/api/v1/leads?page=2"},
		{file: "leads_paginator_last.json", ids: []string{"12"}, paginated: true},
		{file: "leads_empty.json", ids: []string{}},
		{file: "leads_null.json", ids: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			l, err := DecodeLeads(fixture.ReadTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.ids, ids(t, l.Leads)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if l.Paginated != tt.paginated || l.Next != tt.next {
				t.Errorf("paginated=%v next=%q, want %v %q", l.Paginated, l.Next, tt.paginated, tt.next)
			}
		})
	}
}

func TestDecodeLeadsRefusesFailuresAndGarbage(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"success false carries the vendor message", fixture.ReadTestdata(t, "leads_failure.json"), "Page not connected."},
		{"malformed JSON", []byte(`{"success":true,"data":[{"id":1,}]}`), "malformed JSON"},
		{"empty body", nil, "empty response body"},
		{"data is a string", []byte(`{"success":true,"data":"nope"}`), "neither a lead"},
		{"not the envelope", []byte(`{"message":"Server Error"}`), "neither success nor data"},
		{"paginator data is not a list", []byte(`{"success":true,"data":{"current_page":1,"data":"x"}}`), "paginator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeLeads(tt.body)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestToRecordMapsLeadFields(t *testing.T) {
	in := &connectors.Instance{Name: "rb", Region: "TN"}
	l, err := DecodeLeads(fixture.ReadTestdata(t, "leads_array.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got []lead.Record
	var problems []string
	for _, raw := range l.Leads {
		rec, ps, err := ToRecord(in, raw)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Raw) == 0 || !json.Valid(rec.Raw) {
			t.Errorf("lead %s: Raw is not the lead's JSON: %q", rec.SourceID, rec.Raw)
		}
		for _, p := range ps {
			problems = append(problems, rec.SourceID+": "+p.Error())
		}
		got = append(got, rec)
	}
	want := []lead.Record{
		{
			Source: "rb", SourceID: "2", FirstName: "John", LastName: "Doe",
			Phones: []string{"+21622222222"}, Channel: "facebook",
			Context: "roborder Facebook page Amine Pharma (ORD-00002)",
		},
		{
			Source: "rb", SourceID: "3", FirstName: "Salma", LastName: "Ben Ali",
			Emails: []string{"salma.benali@example.com"}, Phones: []string{"+21698765432"},
			Channel: "instagram", Context: "roborder Instagram page Amine Pharma (ORD-00003)",
			CreatedAt: time.Date(2024, 3, 1, 9, 15, 0, 0, time.UTC),
			UpdatedAt: time.Date(2024, 3, 2, 10, 0, 0, 0, time.UTC),
		},
		{
			Source: "rb", SourceID: "4", FirstName: "Karim",
			OtherPhones: []string{"123"}, Channel: "facebook",
			Context: "roborder Facebook page Amine Pharma (ORD-00004)",
		},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(lead.Record{}, "Raw")); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if len(problems) != 2 || !strings.HasPrefix(problems[0], "4: phone") || !strings.HasPrefix(problems[1], "4: updated_at") {
		t.Errorf("problems = %q, want lead 4's phone and updated_at", problems)
	}
}

func TestToRecordReadsTimestampsWithoutOffsetInInstanceZone(t *testing.T) {
	loc := time.FixedZone("UTC+1", 3600)
	in := &connectors.Instance{Name: "rb", Region: "TN", Location: loc}
	rec, ps, err := ToRecord(in, json.RawMessage(`{"id":1,"phone":"22222222","created_at":"2024-03-02 10:00:00"}`))
	if err != nil || len(ps) > 0 {
		t.Fatal(err, ps)
	}
	if want := time.Date(2024, 3, 2, 9, 0, 0, 0, time.UTC); !rec.CreatedAt.Equal(want) {
		t.Errorf("CreatedAt = %v, want %v", rec.CreatedAt, want)
	}
}

func TestToRecordRefusesLeadWithoutID(t *testing.T) {
	in := &connectors.Instance{Name: "rb", Region: "TN"}
	for _, raw := range []string{`{"customer_name":"No Id"}`, `{"id":null}`, `{"id":{"x":1}}`} {
		if _, _, err := ToRecord(in, json.RawMessage(raw)); err == nil {
			t.Errorf("ToRecord(%s) succeeded, want an error", raw)
		}
	}
}

func TestProvenanceLeavesOutMissingParts(t *testing.T) {
	tests := []struct{ platform, page, code, want string }{
		{"Facebook", "Amine Pharma", "ORD-1", "roborder Facebook page Amine Pharma (ORD-1)"},
		{"", "Amine Pharma", "", "roborder page Amine Pharma"},
		{"Instagram", "", "ORD-2", "roborder Instagram (ORD-2)"},
		{"", "", "", "roborder"},
	}
	for _, tt := range tests {
		if got := provenance(tt.platform, tt.page, tt.code); got != tt.want {
			t.Errorf("provenance(%q, %q, %q) = %q, want %q", tt.platform, tt.page, tt.code, got, tt.want)
		}
	}
}

func TestPaginatorLinkOnOwnHostIsUpgradedToHTTPS(t *testing.T) {
	c, err := NewClient(&connectors.Instance{Name: "rb", BaseURL: "https://app.roborder.ai/", Auth: map[string]string{"token": "t0k3n"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ link, want string }{
		{"http://app.roborder.ai/api/v1/leads?page=2", "https://app.roborder.ai/api/v1/leads?page=2"},
		{"https://app.roborder.ai/api/v1/leads?page=2", "https://app.roborder.ai/api/v1/leads?page=2"},
		{"http://evil.example/api/v1/leads?page=2", "http://evil.example/api/v1/leads?page=2"},
	}
	for _, tt := range tests {
		if got := c.upgrade(tt.link); got != tt.want {
			t.Errorf("upgrade(%q) = %q, want %q", tt.link, got, tt.want)
		}
	}
}
