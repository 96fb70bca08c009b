package roborder

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/lead"
)

// Source reads every Roborder lead on each run. Roborder has no date filter,
// so there is no cursor: every run is a full scan and the engine's content
// hashes tell changed leads from unchanged ones.
type Source struct {
	in     *connectors.Instance
	client *Client
}

// NewSource checks in and builds its source.
func NewSource(in *connectors.Instance) (*Source, error) {
	if err := Check(in); err != nil {
		return nil, err
	}
	c, err := NewClient(in)
	if err != nil {
		return nil, err
	}
	return &Source{in: in, client: c}, nil
}

// Pull implements connectors.Source. The cursor is ignored and every page
// carries a nil cursor.
//
// Only a paginator answer leads to a second request: an array or a single
// lead is the whole list, and asking for page 2 would get the same list
// again from a service that ignores the parameter.
func (s *Source) Pull(ctx context.Context, _ connectors.Cursor, emit func(connectors.Page) error) error {
	seen := map[string]bool{}
	link := ""
	for n := 1; ; n++ {
		label := fmt.Sprintf("leads page %d", n)
		l, err := s.client.page(ctx, link, label)
		if err != nil {
			return err
		}
		if err := emit(s.toPage(label, l.Leads)); err != nil {
			return err
		}
		// An empty paginator page ends the scan even with a next link: a
		// server that keeps linking to empty pages would never stop.
		if !l.Paginated || l.Next == "" || len(l.Leads) == 0 {
			return nil
		}
		if seen[l.Next] {
			return fmt.Errorf("%s: %s: next_page_url %q was already read: pagination loop", s.in.Name, label, l.Next)
		}
		seen[l.Next] = true
		link = l.Next
	}
}

func (s *Source) toPage(label string, raws []json.RawMessage) connectors.Page {
	return connectors.DecodePage(label, "lead", raws, func(raw json.RawMessage) (lead.Record, []error, error) {
		return ToRecord(s.in, raw)
	})
}

// apiLead is a Roborder lead. Ids and phones are read as strings or numbers:
// Laravel serialises a column as whichever its model casts it to. An
// httpapi.Text comes trimmed.
type apiLead struct {
	ID           httpapi.Text `json:"id"`
	Code         httpapi.Text `json:"code"`
	CustomerName httpapi.Text `json:"customer_name"`
	Platform     httpapi.Text `json:"platform"`
	PageName     httpapi.Text `json:"page_name"`
	Phone        httpapi.Text `json:"phone"`
	Email        httpapi.Text `json:"email"`
	CreatedAt    httpapi.Text `json:"created_at"`
	UpdatedAt    httpapi.Text `json:"updated_at"`
}

// ToRecord maps one lead. A lead that cannot be read or has no id is an
// error (it cannot be stored); a bad phone, email or date is a problem and
// the record is still returned.
func ToRecord(in *connectors.Instance, raw json.RawMessage) (lead.Record, []error, error) {
	var l apiLead
	if err := httpapi.DecodeRecord(raw, &l); err != nil {
		return lead.Record{}, nil, fmt.Errorf("unreadable lead: %w", err)
	}
	if l.ID == "" {
		return lead.Record{}, nil, fmt.Errorf("lead without an id")
	}
	rec := lead.Record{
		Source:   in.Name,
		SourceID: string(l.ID),
		Channel:  strings.ToLower(string(l.Platform)),
		Context:  provenance(string(l.Platform), string(l.PageName), string(l.Code)),
		Raw:      append([]byte(nil), raw...),
	}
	rec.FirstName, rec.LastName = lead.SplitName(lead.CleanName(string(l.CustomerName)))
	problems := rec.AddContacts(in.Region, []string{string(l.Email)}, []string{string(l.Phone)})
	var err error
	if rec.CreatedAt, err = lead.ParseTime(string(l.CreatedAt), in.Location); err != nil {
		problems = append(problems, fmt.Errorf("created_at: %w", err))
	}
	if rec.UpdatedAt, err = lead.ParseTime(string(l.UpdatedAt), in.Location); err != nil {
		problems = append(problems, fmt.Errorf("updated_at: %w", err))
	}
	return rec, problems, nil
}

// provenance is "roborder Facebook page Amine Pharma (ORD-00002)", leaving
// out the parts a lead does not carry.
func provenance(platform, pageName, code string) string {
	parts := []string{"roborder"}
	if p := lead.CleanName(platform); p != "" {
		parts = append(parts, p)
	}
	if n := lead.CleanName(pageName); n != "" {
		parts = append(parts, "page", n)
	}
	if c := strings.TrimSpace(code); c != "" {
		parts = append(parts, "("+c+")")
	}
	return strings.Join(parts, " ")
}
