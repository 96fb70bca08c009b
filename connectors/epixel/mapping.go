package epixel

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/lead"
)

// Statuses are the CRM's lead status choices.
var Statuses = []string{"prospect", "tentative", "potential", "closed", "contact", "customer"}

// Limits the CRM enforces (the seed's error table).
const (
	maxField   = 255 // first_name, last_name, email, location, message
	maxDigits  = 15  // phone
	maxNoteLen = 499
)

// options are the instance's epixel keys (see config.example.yaml).
type options struct {
	// SourceMap maps a connector instance to one of the CRM's source choices;
	// its values are the only sources ever sent.
	SourceMap map[string]string `yaml:"source_map"`
	// PlaceholderEmail stands in for a missing email: "{phone}" becomes the
	// phone's digits. Unset: a person without an email is refused.
	PlaceholderEmail string `yaml:"placeholder_email"`
	// PlaceholderLastName stands in for a missing last name. Unset: a person
	// without a last name is refused.
	PlaceholderLastName string `yaml:"placeholder_last_name"`
	// DefaultStatus is the status of a lead whose vendor status is not in StatusMap.
	DefaultStatus string `yaml:"default_status"`
	// StatusMap maps a vendor status word (any case) to a CRM status.
	StatusMap map[string]string `yaml:"status_map"`
	// PageSize is the limit of one leads/list/ call.
	PageSize int `yaml:"page_size"`
}

const defaultPageSize = 100

// parseOptions decodes and checks the instance's options, naming the key at
// fault. It touches no network.
func parseOptions(in *connectors.Instance) (*options, error) {
	var o options
	if err := in.DecodeOptions(&o); err != nil {
		return nil, err
	}
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("connectors.%s.%s: %s", in.Name, key, fmt.Sprintf(format, args...))
	}
	for inst, src := range o.SourceMap {
		if strings.TrimSpace(src) == "" {
			return nil, bad("source_map", "instance %q maps to an empty source", inst)
		}
		if len(in.Instances) > 0 && !slices.Contains(in.Instances, inst) {
			return nil, bad("source_map", "%q is not a configured connector instance", inst)
		}
		if utf8.RuneCountInString(src) > maxField {
			return nil, bad("source_map", "source for %q is longer than %d characters", inst, maxField)
		}
	}
	if o.PlaceholderEmail != "" {
		// A placeholder without {phone} would give every phone-only person the
		// same email, and Find would join them all into one CRM lead.
		if !strings.Contains(o.PlaceholderEmail, "{phone}") {
			return nil, bad("placeholder_email", "must contain {phone}")
		}
		sample := strings.ReplaceAll(o.PlaceholderEmail, "{phone}", "216201234567890")
		if _, err := lead.NormalizeEmail(sample); err != nil || utf8.RuneCountInString(sample) > maxField {
			return nil, bad("placeholder_email", "%q does not make a valid email", o.PlaceholderEmail)
		}
	}
	if o.PlaceholderLastName != "" {
		o.PlaceholderLastName = lead.CleanName(o.PlaceholderLastName)
		if o.PlaceholderLastName == "" || utf8.RuneCountInString(o.PlaceholderLastName) > maxField {
			return nil, bad("placeholder_last_name", "must be 1 to %d characters, not only spaces", maxField)
		}
	}
	o.DefaultStatus = strings.ToLower(strings.TrimSpace(o.DefaultStatus))
	if o.DefaultStatus == "" {
		o.DefaultStatus = "prospect"
	}
	if !slices.Contains(Statuses, o.DefaultStatus) {
		return nil, bad("default_status", "%q is not one of %s", o.DefaultStatus, strings.Join(Statuses, ", "))
	}
	statusMap := make(map[string]string, len(o.StatusMap))
	for word, st := range o.StatusMap {
		st = strings.ToLower(strings.TrimSpace(st))
		if !slices.Contains(Statuses, st) {
			return nil, bad("status_map", "%q maps to %q, not one of %s", word, st, strings.Join(Statuses, ", "))
		}
		statusMap[strings.ToLower(strings.TrimSpace(word))] = st
	}
	o.StatusMap = statusMap
	switch {
	case o.PageSize == 0:
		o.PageSize = defaultPageSize
	case o.PageSize < 1 || o.PageSize > 1000:
		return nil, bad("page_size", "must be between 1 and 1000")
	}
	return &o, nil
}

// leadFields is a person as the CRM's create and update forms take it.
type leadFields struct {
	FirstName, LastName, Email, Phone string
	Status, Source, Location, Message string

	// statusMapped is true when Status came from status_map rather than
	// default_status; placeholderEmail and placeholderLastName when a
	// placeholder stands in. Update uses them not to overwrite what the CRM
	// knows better.
	statusMapped, placeholderEmail, placeholderLastName bool
}

// fields maps p onto the CRM's fields and checks them against the CRM's rules,
// so that a person the CRM would refuse is refused here, with the rule named,
// and never sent.
func (o *options) fields(p *lead.Person) (leadFields, error) {
	f := leadFields{
		FirstName: lead.CleanName(p.FirstName),
		LastName:  lead.CleanName(p.LastName),
		Email:     strings.TrimSpace(p.Email()),
		Phone:     strings.TrimPrefix(strings.TrimSpace(p.Phone()), "+"),
		Location:  truncate(firstContext(p.Contexts), maxField),
		Message:   truncate(provenance(p), maxField),
	}
	if f.LastName == "" && o.PlaceholderLastName != "" {
		f.LastName, f.placeholderLastName = o.PlaceholderLastName, true
	}
	if f.Email == "" && o.PlaceholderEmail != "" && f.Phone != "" {
		f.Email, f.placeholderEmail = strings.ReplaceAll(o.PlaceholderEmail, "{phone}", f.Phone), true
	}
	f.Status, f.statusMapped = o.StatusMap[strings.ToLower(strings.TrimSpace(p.Status))]
	if !f.statusMapped {
		f.Status = o.DefaultStatus
	}
	for _, inst := range p.SourceInstances {
		if src, ok := o.SourceMap[inst]; ok {
			f.Source = src
			break
		}
	}
	if problems := o.check(&f); len(problems) > 0 {
		return f, &connectors.RejectedError{Reason: strings.Join(problems, "; ")}
	}
	return f, nil
}

// check returns one line per broken rule, each naming its field.
func (o *options) check(f *leadFields) []string {
	var out []string
	tooLong := func(name, v string) {
		if n := utf8.RuneCountInString(v); n > maxField {
			out = append(out, fmt.Sprintf("%s is %d characters, the CRM allows %d", name, n, maxField))
		}
	}
	if f.FirstName == "" {
		out = append(out, "first_name required by the CRM: the person has no first name")
	}
	tooLong("first_name", f.FirstName)
	if f.LastName == "" {
		out = append(out, "last_name required by the CRM: the person has no last name (placeholder_last_name is not set)")
	}
	tooLong("last_name", f.LastName)
	switch {
	case f.Email == "" && o.PlaceholderEmail == "":
		out = append(out, "email required by the CRM: the person has no email (placeholder_email is not set)")
	case f.Email == "":
		out = append(out, "email required by the CRM: the person has no email, and no phone for placeholder_email")
	default:
		if _, err := lead.NormalizeEmail(f.Email); err != nil {
			out = append(out, fmt.Sprintf("email %q is not a valid address", lead.Mask(f.Email)))
		}
		tooLong("email", f.Email)
	}
	switch {
	case f.Phone == "":
		out = append(out, "phone required by the CRM: a person without a phone cannot be created")
	case strings.Trim(f.Phone, "0123456789") != "":
		out = append(out, fmt.Sprintf("phone %q must be digits only (E.164 without '+')", lead.Mask(f.Phone)))
	case len(f.Phone) > maxDigits:
		out = append(out, fmt.Sprintf("phone has %d digits, the CRM allows %d", len(f.Phone), maxDigits))
	}
	if !slices.Contains(Statuses, f.Status) {
		out = append(out, fmt.Sprintf("status %q is not one of %s", f.Status, strings.Join(Statuses, ", ")))
	}
	if f.Source != "" && !slices.Contains(slices.Collect(maps.Values(o.SourceMap)), f.Source) {
		out = append(out, fmt.Sprintf("source %q is not one of the configured choices", f.Source))
	}
	tooLong("location", f.Location)
	tooLong("message", f.Message)
	return out
}

// form is the multipart body of a create (slug "") or an update. An update
// leaves out the default status: a status a salesperson moved on in the CRM
// must not fall back to default_status each time the person changes.
func (f *leadFields) form(slug string) []httpapi.Field {
	var out []httpapi.Field
	add := func(name, v string) {
		if v != "" {
			out = append(out, httpapi.Field{Name: name, Value: v})
		}
	}
	add("slug", slug)
	add("first_name", f.FirstName)
	add("last_name", f.LastName)
	add("email", f.Email)
	add("phone", f.Phone)
	if slug == "" || f.statusMapped {
		add("status", f.Status)
	}
	add("source", f.Source)
	add("location", f.Location)
	add("message", f.Message)
	return out
}

func firstContext(contexts []string) string {
	for _, c := range contexts {
		if c = lead.CleanName(c); c != "" {
			return c
		}
	}
	return ""
}

// provenance is the message line: "via askhandle-site, roborder-fb (facebook, webchat)".
func provenance(p *lead.Person) string {
	if len(p.SourceInstances) == 0 {
		return ""
	}
	s := "via " + strings.Join(p.SourceInstances, ", ")
	if len(p.Channels) > 0 {
		ch := slices.Clone(p.Channels)
		sort.Strings(ch)
		s += " (" + strings.Join(slices.Compact(ch), ", ") + ")"
	}
	return s
}

// truncate keeps s within n characters (runes, as the CRM counts them),
// ending a cut string with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}
