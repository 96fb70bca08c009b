package epixel

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/lead"
)

func mustOptions(t *testing.T, opts map[string]any) *options {
	t.Helper()
	o, err := parseOptions(instance("http://127.0.0.1/", opts))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestFieldsRejectsWhatTheCRMWouldRefuse(t *testing.T) {
	long := strings.Repeat("é", 256)
	for _, tc := range []struct {
		name   string
		opts   map[string]any
		edit   func(p *lead.Person)
		reason string // must appear in the RejectedError's reason
	}{
		{"missing first name", exampleOptions(), func(p *lead.Person) { p.FirstName = " " }, "first_name required"},
		{"missing last name without placeholder", map[string]any{}, func(p *lead.Person) { p.LastName = "" }, "last_name required"},
		{"missing email without placeholder", map[string]any{"placeholder_last_name": "-"}, func(p *lead.Person) { p.Emails = nil }, "email required by the CRM"},
		{"missing email and phone with placeholder", exampleOptions(), func(p *lead.Person) { p.Emails, p.Phones = nil, nil }, "email required by the CRM"},
		{"missing phone", exampleOptions(), func(p *lead.Person) { p.Phones = nil }, "a person without a phone cannot be created"},
		{"first name too long", exampleOptions(), func(p *lead.Person) { p.FirstName = long }, "first_name is 256 characters"},
		{"last name too long", exampleOptions(), func(p *lead.Person) { p.LastName = long }, "last_name is 256 characters"},
		{"email too long", exampleOptions(), func(p *lead.Person) { p.Emails = []string{strings.Repeat("a", 250) + "@example.com"} }, "email is 262 characters"},
		{"invalid email", exampleOptions(), func(p *lead.Person) { p.Emails = []string{"amira@@example"} }, "is not a valid address"},
		{"phone not digits", exampleOptions(), func(p *lead.Person) { p.Phones = []string{"+216 20 123 456"} }, "must be digits only"},
		{"phone over 15 digits", exampleOptions(), func(p *lead.Person) { p.Phones = []string{"+2162012345678901"} }, "phone has 16 digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := person()
			tc.edit(p)
			_, err := mustOptions(t, tc.opts).fields(p)
			rej := asRejected(t, err)
			if !strings.Contains(rej.Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", rej.Reason, tc.reason)
			}
		})
	}
}

func TestCheckRefusesStatusAndSourceOutsideTheChoices(t *testing.T) {
	o := mustOptions(t, exampleOptions())
	for _, tc := range []struct {
		name   string
		f      leadFields
		reason string
	}{
		{"status", leadFields{Status: "hot"}, `status "hot" is not one of`},
		{"source", leadFields{Status: "prospect", Source: "Tiktok"}, `source "Tiktok" is not one of the configured choices`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			f.FirstName, f.LastName, f.Email, f.Phone = "A", "B", "a@b.co", "21620123456"
			got := strings.Join(o.check(&f), "; ")
			if !strings.Contains(got, tc.reason) {
				t.Errorf("problems %q do not contain %q", got, tc.reason)
			}
		})
	}
}

func TestFieldsMapsAPerson(t *testing.T) {
	opts := exampleOptions()
	opts["status_map"] = map[string]any{"CLOSED": "customer"}
	o := mustOptions(t, opts)
	for _, tc := range []struct {
		name string
		edit func(p *lead.Person)
		want leadFields
	}{
		{
			name: "complete person",
			edit: func(p *lead.Person) {},
			want: leadFields{FirstName: "Amira", LastName: "Ben Salah", Email: "amira@example.com", Phone: "21620123456",
				Status: "prospect", Source: "Website", Location: "askhandle widget: Pricing page", Message: "via askhandle-site (webchat)"},
		},
		{
			name: "placeholders, mapped status, first mapped source in SourceInstances order",
			edit: func(p *lead.Person) {
				p.LastName, p.Emails, p.Status = "", nil, "closed"
				p.SourceInstances = []string{"botpenguin-tg", "roborder-fb", "askhandle-site"}
				p.Channels = []string{"telegram", "facebook"}
				p.Contexts = nil
			},
			want: leadFields{FirstName: "Amira", LastName: "-", Email: "21620123456@no-email.invalid", Phone: "21620123456",
				Status: "customer", Source: "Facebook", Message: "via botpenguin-tg, roborder-fb, askhandle-site (facebook, telegram)",
				statusMapped: true, placeholderEmail: true, placeholderLastName: true},
		},
		{
			name: "unmapped source left out, unmapped status is the default",
			edit: func(p *lead.Person) { p.SourceInstances, p.Channels, p.Status = []string{"botpenguin-tg"}, nil, "OPEN" },
			want: leadFields{FirstName: "Amira", LastName: "Ben Salah", Email: "amira@example.com", Phone: "21620123456",
				Status: "prospect", Location: "askhandle widget: Pricing page", Message: "via botpenguin-tg"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := person()
			tc.edit(p)
			got, err := o.fields(p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(leadFields{})); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLocationAndMessageAreCutOnRuneBoundaries(t *testing.T) {
	p := person()
	p.Contexts = []string{"", strings.Repeat("ش", 300)}
	p.SourceInstances = []string{strings.Repeat("é", 300)}
	f, err := mustOptions(t, exampleOptions()).fields(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"location": f.Location, "message": f.Message} {
		r := []rune(v)
		if len(r) != 255 || r[len(r)-1] != '…' || !strings.ContainsRune(v, r[0]) || strings.ContainsRune(v, '\uFFFD') {
			t.Errorf("%s = %d runes %q...", name, len(r), string(r[:5]))
		}
	}
	if !strings.HasPrefix(f.Location, "ش") {
		t.Errorf("location %q is not the first non-empty context", f.Location[:10])
	}
}

func TestFormOmitsTheDefaultStatusOnUpdate(t *testing.T) {
	f := leadFields{FirstName: "A", LastName: "B", Email: "a@b.co", Phone: "1", Status: "prospect"}
	names := func(fs []httpapi.Field) []string {
		var out []string
		for _, x := range fs {
			out = append(out, x.Name)
		}
		return out
	}
	if diff := cmp.Diff([]string{"first_name", "last_name", "email", "phone", "status"}, names(f.form(""))); diff != "" {
		t.Errorf("create form (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"slug", "first_name", "last_name", "email", "phone"}, names(f.form("s"))); diff != "" {
		t.Errorf("update form with default status (-want +got):\n%s", diff)
	}
	f.statusMapped = true
	if diff := cmp.Diff([]string{"slug", "first_name", "last_name", "email", "phone", "status"}, names(f.form("s"))); diff != "" {
		t.Errorf("update form with mapped status (-want +got):\n%s", diff)
	}
}

func TestParseOptionsNamesTheBadKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts map[string]any
		want string
	}{
		{"unknown key", map[string]any{"source_mapping": map[string]any{}}, "source_mapping"},
		{"source_map names no instance", map[string]any{"source_map": map[string]any{"nowhere": "Website"}}, "source_map"},
		{"source_map empty choice", map[string]any{"source_map": map[string]any{"roborder-fb": " "}}, "source_map"},
		{"placeholder_email without {phone}", map[string]any{"placeholder_email": "none@no-email.invalid"}, "placeholder_email"},
		{"placeholder_email not an email", map[string]any{"placeholder_email": "{phone}"}, "placeholder_email"},
		{"placeholder_last_name blank", map[string]any{"placeholder_last_name": "  "}, "placeholder_last_name"},
		{"default_status", map[string]any{"default_status": "hot"}, "default_status"},
		{"status_map value", map[string]any{"status_map": map[string]any{"OPEN": "hot"}}, "status_map"},
		{"page_size", map[string]any{"page_size": 5000}, "page_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseOptions(instance("http://127.0.0.1/", tc.opts))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestParseOptionsDefaults(t *testing.T) {
	o := mustOptions(t, map[string]any{"default_status": "Contact", "status_map": map[string]any{"OPEN": "Potential"}})
	if o.DefaultStatus != "contact" || o.StatusMap["open"] != "potential" || o.PageSize != defaultPageSize {
		t.Errorf("options = %+v", o)
	}
	if o := mustOptions(t, nil); o.DefaultStatus != "prospect" {
		t.Errorf("default_status = %q, want prospect", o.DefaultStatus)
	}
}

func TestRegisteredTypeChecksAuthAndOptions(t *testing.T) {
	typ, ok := connectors.Lookup("epixel")
	if !ok || typ.Check == nil || typ.NewSource == nil || typ.NewTarget == nil {
		t.Fatalf("epixel type = %+v, %v", typ, ok)
	}
	in := instance("http://127.0.0.1/", exampleOptions())
	if err := typ.Check(in); err != nil {
		t.Errorf("Check(valid) = %v", err)
	}
	in.Auth = map[string]string{"api_key": "k"}
	err := typ.Check(in)
	if err == nil || !strings.Contains(err.Error(), "username") || !strings.Contains(err.Error(), "password") {
		t.Errorf("Check(missing auth) = %v, want it to name username and password", err)
	}
	in = instance("http://127.0.0.1/", map[string]any{"colour": "blue"})
	if err := typ.Check(in); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("Check(unknown option) = %v", err)
	}
}
