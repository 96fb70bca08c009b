package epixel

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/lead"
)

// Target pushes merged persons into Epixel's CRM (connectors.Target).
type Target struct {
	c      *client
	opt    *options
	region string
}

// NewTarget builds the target role of an epixel instance.
func NewTarget(in *connectors.Instance) (*Target, error) {
	opt, c, err := openRole(in)
	if err != nil {
		return nil, err
	}
	return &Target{c: c, opt: opt, region: in.Region}, nil
}

var _ connectors.Target = (*Target)(nil)

// Find asks the CRM for leads by email, then by phone (its digits, as the CRM
// stores them), and keeps only exact matches: the CRM's filters may be
// substring searches, and adopting "ann@x.com" for "jo.ann@x.com" would merge
// two people.
func (t *Target) Find(ctx context.Context, email, phone string) ([]connectors.TargetLead, error) {
	var out []connectors.TargetLead
	seen := map[string]bool{}
	search := func(key, value string, match func(apiLead) bool) error {
		return t.c.list(ctx, url.Values{key: {value}}, func(_ string, items []jsonItem) error {
			for _, it := range items {
				l, _, err := decodeLead(it.Raw)
				if err != nil || l.Slug == "" || seen[l.Slug] || !match(l) {
					continue
				}
				seen[l.Slug] = true
				out = append(out, t.targetLead(l))
			}
			return nil
		})
	}
	if want := canonEmail(email); want != "" {
		err := search("email", want, func(l apiLead) bool { return canonEmail(l.Email) == want })
		if err != nil {
			return nil, refusal(err)
		}
	}
	// The engine passes the person's phone in E.164 already (lead
	// normalised and validated it): parsing it again cost a quarter of the
	// pusher's own CPU per person. Anything else is normalised here.
	want := phone
	if !isE164(phone) {
		want = t.phoneE164(phone)
	}
	if want != "" {
		err := search("phone", strings.TrimPrefix(want, "+"), func(l apiLead) bool { return t.phoneE164(l.Phone) == want })
		if err != nil {
			return nil, refusal(err)
		}
	}
	return out, nil
}

// Create makes a lead for p. The create call is not idempotent, so it is sent
// once: when the connection drops after the request left, the error says the
// lead may exist, and the engine's Find before any new Create sorts it out.
func (t *Target) Create(ctx context.Context, p *lead.Person) (string, error) {
	f, err := t.opt.fields(p)
	if err != nil {
		return "", err
	}
	data, err := t.c.post(ctx, "leads/create/lead/", "create lead", f.form(""), true)
	if err != nil {
		return "", refusal(err)
	}
	slug, err := idField(data, "slug")
	if err != nil {
		return "", fmt.Errorf("%s: create lead answer: %w", t.c.http.Name(), err)
	}
	return slug, nil
}

// Update writes p onto the lead id. Where a placeholder would stand in for a
// missing email or last name, the lead's current value is kept: an adopted
// lead may carry the real one, typed in by a salesperson.
func (t *Target) Update(ctx context.Context, id string, p *lead.Person) error {
	f, err := t.opt.fields(p)
	if err != nil {
		return err
	}
	if f.placeholderEmail || f.placeholderLastName {
		cur, err := t.c.view(ctx, id)
		if err != nil {
			return refusal(err)
		}
		if f.placeholderEmail && cur.Email != "" {
			f.Email = cur.Email
		}
		if f.placeholderLastName && cur.LastName != "" {
			f.LastName = cur.LastName
		}
	}
	if _, err := t.c.post(ctx, "leads/update/lead/", "update lead", f.form(id), false); err != nil {
		return refusal(err)
	}
	return nil
}

var _ connectors.Agreer = (*Target)(nil)

// Agrees reports whether the CRM's own record of the lead (own, read by this
// instance polled as a source) already holds every field Update would send
// for p: names, email, phone, the status when status_map gives one (Update
// never sends default_status over the CRM's), source, location and message.
// A placeholder Update would not send over the CRM's value agrees; a field
// the record does not carry (a record stored before it was read) does not.
func (t *Target) Agrees(own *lead.Record, p *lead.Person) bool {
	f, err := t.opt.fields(p)
	if err != nil {
		return false // Update reports the problem
	}
	attr := func(key, want string) bool {
		if want == "" {
			return true // not sent
		}
		got, ok := own.Attributes[key]
		return ok && got == want
	}
	// The source is one of the CRM's own choices: a CRM may give it back in
	// its own case.
	source := f.Source == "" || strings.EqualFold(own.Attributes["source"], f.Source)
	return own.FirstName == f.FirstName &&
		(f.placeholderLastName || own.LastName == f.LastName) &&
		(f.placeholderEmail || f.Email == "" || slices.Contains(own.Emails, canonEmail(f.Email))) &&
		(p.Phone() == "" || slices.Contains(own.Phones, p.Phone())) &&
		(!f.statusMapped || strings.EqualFold(strings.TrimSpace(own.Status), f.Status)) &&
		source && attr("location", f.Location) && attr("message", f.Message)
}

// Get reads the lead id with its notes.
func (t *Target) Get(ctx context.Context, id string) (*connectors.TargetLead, error) {
	l, err := t.c.view(ctx, id)
	if err != nil {
		return nil, refusal(err)
	}
	if l.Slug == "" {
		l.Slug = id
	}
	tl := t.targetLead(l)
	for _, n := range l.Notes {
		tl.Notes = append(tl.Notes, connectors.TargetNote{ID: string(n.ID), Text: string(n.Note)})
	}
	return &tl, nil
}

// AddNote attaches text to the lead id, as it is: the engine recognises a
// note already written by its exact text. Sent once (not idempotent).
func (t *Target) AddNote(ctx context.Context, id, text string) (string, error) {
	switch n := utf8.RuneCountInString(text); {
	case strings.TrimSpace(text) == "":
		return "", &connectors.RejectedError{Reason: "note is empty"}
	case n > maxNoteLen:
		return "", &connectors.RejectedError{Reason: fmt.Sprintf("note is %d characters, the CRM allows %d", n, maxNoteLen)}
	}
	data, err := t.c.post(ctx, "leads/create/leadnote/", "create note", []httpapi.Field{{Name: "slug", Value: id}, {Name: "note", Value: text}}, true)
	if err != nil {
		return "", refusal(err)
	}
	noteID, err := idField(data, "note_id")
	if err != nil {
		return "", fmt.Errorf("%s: create note answer: %w", t.c.http.Name(), err)
	}
	return noteID, nil
}

// MaxNoteLen is the CRM's limit on a note, in characters.
func (t *Target) MaxNoteLen() int { return maxNoteLen }

func (t *Target) targetLead(l apiLead) connectors.TargetLead {
	email := l.Email
	if e := canonEmail(email); e != "" {
		email = e
	}
	phone := l.Phone
	if p := t.phoneE164(phone); p != "" {
		phone = p
	}
	return connectors.TargetLead{ID: l.Slug, FirstName: l.FirstName, LastName: l.LastName, Email: email, Phone: phone}
}

func canonEmail(s string) string {
	if e, err := lead.NormalizeEmail(s); err == nil {
		return e
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// phoneE164 reads a phone the CRM holds (E.164 digits without '+', as this
// connector writes them) or one a person typed in the CRM (national form, in
// the instance's region). "" when it is no valid number.
func (t *Target) phoneE164(s string) string {
	return phoneE164(s, t.region)
}

func phoneE164(s, region string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if isDigits(s) {
		if p, err := lead.NormalizePhone("+"+s, ""); err == nil {
			return p
		}
	}
	if p, err := lead.NormalizePhone(s, region); err == nil {
		return p
	}
	return ""
}

// isE164 reports whether s is written as E.164: '+' then 8 to 15 digits,
// the first not 0. It does not say the number is valid.
func isE164(s string) bool {
	return len(s) >= 9 && len(s) <= 16 && s[0] == '+' && s[1] != '0' && isDigits(s[1:])
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
