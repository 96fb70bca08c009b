package epixel

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/lead"
)

// Source reads the CRM's leads back (connectors.Source), so that leads typed
// into the CRM, and the CRM's own statuses, join the persons leadsync knows.
// Epixel has no date filter: every run is a full scan, and the engine's
// content hashes make unchanged leads no-ops. The cursor stays nil.
type Source struct {
	c   *client
	in  *connectors.Instance
	opt *options
}

// NewSource builds the source role of an epixel instance.
func NewSource(in *connectors.Instance) (*Source, error) {
	opt, c, err := openRole(in)
	if err != nil {
		return nil, err
	}
	return &Source{c: c, in: in, opt: opt}, nil
}

var _ connectors.Source = (*Source)(nil)

// Pull implements connectors.Source.
func (s *Source) Pull(ctx context.Context, _ connectors.Cursor, emit func(connectors.Page) error) error {
	err := s.c.list(ctx, nil, func(label string, items []jsonItem) error {
		page := connectors.Page{Label: label}
		for _, it := range items {
			rec, probs, ok := s.record(it.Raw)
			for _, p := range probs {
				page.Problems = append(page.Problems, fmt.Errorf("%s: lead %q: %w", label, it.Slug, p))
			}
			if ok {
				page.Records = append(page.Records, rec)
			}
		}
		return emit(page)
	})
	return configError(err)
}

// record maps one CRM lead. ok is false only for a lead without a slug,
// which has no key to be stored under.
func (s *Source) record(raw []byte) (rec lead.Record, probs []error, ok bool) {
	l, probs, err := decodeLead(raw)
	if err != nil {
		return rec, append(probs, err), false
	}
	if l.Slug == "" {
		return rec, append(probs, fmt.Errorf("lead without a slug skipped")), false
	}
	rec = lead.Record{
		Source: s.in.Name, SourceID: l.Slug, TargetID: l.Slug,
		FirstName: lead.CleanName(l.FirstName), LastName: lead.CleanName(l.LastName),
		Status: l.Status, Raw: append([]byte(nil), raw...),
	}
	// What this connector wrote as a stand-in is not the person's: reading it
	// back would make the placeholder look like a real name or address.
	if rec.LastName == s.opt.PlaceholderLastName {
		rec.LastName = ""
	}
	// What the lead holds of the fields the target writes (Target.Agrees).
	for _, a := range [...]struct{ key, v string }{{"source", l.Source}, {"location", l.Location}, {"message", l.Message}} {
		if a.v != "" {
			if rec.Attributes == nil {
				rec.Attributes = map[string]string{}
			}
			rec.Attributes[a.key] = a.v
		}
	}
	var emails, phones []string
	if l.Email != "" && !s.isPlaceholderEmail(l.Email) {
		emails = []string{l.Email}
	}
	if l.Phone != "" {
		phone := l.Phone
		if p := phoneE164(l.Phone, s.in.Region); p != "" {
			phone = p
		}
		phones = []string{phone}
	}
	probs = append(probs, rec.AddContacts(s.in.Region, emails, phones)...)
	for _, ts := range []struct {
		name string
		v    string
		dst  *time.Time
	}{{"created_at", l.CreatedAt, &rec.CreatedAt}, {"updated_at", l.UpdatedAt, &rec.UpdatedAt}} {
		t, err := lead.ParseTime(ts.v, s.in.Location)
		if err != nil {
			probs = append(probs, fmt.Errorf("%s: %w", ts.name, err))
		}
		*ts.dst = t
	}
	return rec, probs, true
}

// isPlaceholderEmail reports whether email is placeholder_email with some
// digits for {phone}.
func (s *Source) isPlaceholderEmail(email string) bool {
	tmpl := strings.ToLower(s.opt.PlaceholderEmail)
	before, after, found := strings.Cut(tmpl, "{phone}")
	if !found {
		return false
	}
	e := strings.ToLower(strings.TrimSpace(email))
	if len(e) <= len(before)+len(after) || !strings.HasPrefix(e, before) || !strings.HasSuffix(e, after) {
		return false
	}
	return isDigits(e[len(before) : len(e)-len(after)])
}
