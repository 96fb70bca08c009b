package epixel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/epixel/epixeltest"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/lead"
)

func TestTargetRoundTripInEveryShape(t *testing.T) {
	for _, ts := range []epixeltest.TokenShape{epixeltest.TopLevel, epixeltest.InData} {
		for _, ls := range []epixeltest.ListShape{epixeltest.Paginated, epixeltest.BareArray} {
			t.Run(fmt.Sprintf("token=%d list=%d", ts, ls), func(t *testing.T) {
				f, base := startFake(t)
				f.SetShape(ts, ls)
				opts := exampleOptions()
				opts["page_size"] = 2
				tg := newTarget(t, instance(base, opts))
				ctx := context.Background()
				// Enough look-alikes that the search spans pages.
				for i := range 5 {
					f.AddLead(epixeltest.Lead{FirstName: "X", LastName: "Y", Email: fmt.Sprintf("x%damira@example.com", i), Phone: fmt.Sprintf("9%d21620123456", i)})
				}

				slug, err := tg.Create(ctx, person())
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				found, err := tg.Find(ctx, "amira@example.com", "+21620123456")
				if err != nil {
					t.Fatalf("Find: %v", err)
				}
				want := []connectors.TargetLead{{ID: slug, FirstName: "Amira", LastName: "Ben Salah", Email: "amira@example.com", Phone: "+21620123456"}}
				if diff := cmp.Diff(want, found); diff != "" {
					t.Errorf("Find (-want +got):\n%s", diff)
				}
				noteID, err := tg.AddNote(ctx, slug, "Asked for a quote.")
				if err != nil {
					t.Fatalf("AddNote: %v", err)
				}
				got, err := tg.Get(ctx, slug)
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				want[0].Notes = []connectors.TargetNote{{ID: noteID, Text: "Asked for a quote."}}
				if diff := cmp.Diff(&want[0], got); diff != "" {
					t.Errorf("Get (-want +got):\n%s", diff)
				}
				if n := len(requestsTo(f, "POST", "user/login/")); n != 1 {
					t.Errorf("%d logins, want 1 (the token is kept in memory)", n)
				}
			})
		}
	}
}

func TestFindKeepsOnlyExactMatchesEmailFirst(t *testing.T) {
	f, base := startFake(t)
	byPhone := f.AddLead(epixeltest.Lead{FirstName: "P", LastName: "Phone", Email: "other@example.com", Phone: "21620123456"})
	f.AddLead(epixeltest.Lead{FirstName: "S", LastName: "Sub", Email: "jo.ann@example.com", Phone: "9921620123456"})
	f.AddLead(epixeltest.Lead{FirstName: "S", LastName: "Sub", Email: "ann@example.com.tn", Phone: "2162012345"})
	byEmail := f.AddLead(epixeltest.Lead{FirstName: "E", LastName: "Mail", Email: "Ann@Example.com", Phone: "21655000111"})
	both := f.AddLead(epixeltest.Lead{FirstName: "B", LastName: "Both", Email: "ann@example.com", Phone: "21620123456"})
	national := f.AddLead(epixeltest.Lead{FirstName: "N", LastName: "National", Email: "n@example.com", Phone: "0021620123456"})
	tg := newTarget(t, instance(base, exampleOptions()))

	found, err := tg.Find(context.Background(), "ann@example.com", "+21620123456")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range found {
		got = append(got, l.ID)
	}
	// The fake searches by substring; "0021620123456" is the same number
	// written with an international prefix, so it is a match.
	if diff := cmp.Diff([]string{byEmail, both, byPhone, national}, got); diff != "" {
		t.Errorf("Find (-want +got):\n%s", diff)
	}
	reqs := requestsTo(f, "GET", "leads/list/")
	if len(reqs) != 2 || !strings.Contains(reqs[0].Query, "email=ann%40example.com") || !strings.Contains(reqs[1].Query, "phone=21620123456") {
		t.Errorf("list queries = %v", reqs)
	}
}

// The phone the engine passes is E.164 and is searched as it is; one
// written otherwise is normalised first (in the instance's region), so
// every notation finds the same lead with the same query.
func TestFindSearchesTheSamePhoneInEveryNotation(t *testing.T) {
	for _, phone := range []string{"+21620123456", "20 123 456", "+216 20-123-456", "0021620123456"} {
		t.Run(phone, func(t *testing.T) {
			f, base := startFake(t)
			want := f.AddLead(epixeltest.Lead{FirstName: "P", LastName: "Phone", Email: "p@example.com", Phone: "21620123456"})
			tg := newTarget(t, instance(base, exampleOptions()))
			found, err := tg.Find(context.Background(), "", phone)
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != 1 || found[0].ID != want || found[0].Phone != "+21620123456" {
				t.Errorf("Find(%q) = %+v, want the lead %s with phone +21620123456", phone, found, want)
			}
			if reqs := requestsTo(f, "GET", "leads/list/"); len(reqs) != 1 || !strings.Contains(reqs[0].Query, "phone=21620123456") {
				t.Errorf("list queries = %v, want one for phone=21620123456", reqs)
			}
		})
	}
}

func TestFindWithNoMatchAndNoArguments(t *testing.T) {
	f, base := startFake(t)
	tg := newTarget(t, instance(base, exampleOptions()))
	found, err := tg.Find(context.Background(), "", "")
	if err != nil || len(found) != 0 {
		t.Errorf("Find(\"\", \"\") = %v, %v", found, err)
	}
	if n := len(f.Recorder().Requests()); n != 0 {
		t.Errorf("%d requests for an empty Find, want 0", n)
	}
	found, err = tg.Find(context.Background(), "nobody@example.com", "")
	if err != nil || len(found) != 0 {
		t.Errorf("Find(nobody) = %v, %v", found, err)
	}
}

func TestCreateSendsTheFormFields(t *testing.T) {
	f, base := startFake(t)
	tg := newTarget(t, instance(base, exampleOptions()))
	p := person()
	p.Channels = []string{"webchat", "facebook"}
	p.SourceInstances = []string{"askhandle-site", "roborder-fb"}
	slug, err := tg.Create(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	reqs := requestsTo(f, "POST", "leads/create/lead/")
	if len(reqs) != 1 {
		t.Fatalf("%d create requests, want 1", len(reqs))
	}
	want := []httpapi.Field{
		{Name: "first_name", Value: "Amira"}, {Name: "last_name", Value: "Ben Salah"},
		{Name: "email", Value: "amira@example.com"}, {Name: "phone", Value: "21620123456"},
		{Name: "status", Value: "prospect"}, {Name: "source", Value: "Website"},
		{Name: "location", Value: "askhandle widget: Pricing page"},
		{Name: "message", Value: "via askhandle-site, roborder-fb (facebook, webchat)"},
	}
	if diff := cmp.Diff(want, formOf(t, reqs[0])); diff != "" {
		t.Errorf("create form (-want +got):\n%s", diff)
	}
	leads := f.Leads()
	if len(leads) != 1 || leads[0].Slug != slug || leads[0].Source != "Website" {
		t.Errorf("fake holds %+v, slug %q", leads, slug)
	}
}

func TestUpdateSendsSlugAndFields(t *testing.T) {
	f, base := startFake(t)
	slug := f.AddLead(epixeltest.Lead{FirstName: "Amira", LastName: "B", Email: "amira@example.com", Phone: "21620123456", Status: "customer"})
	opts := exampleOptions()
	opts["status_map"] = map[string]any{"won": "customer"}
	tg := newTarget(t, instance(base, opts))
	ctx := context.Background()

	if err := tg.Update(ctx, slug, person()); err != nil {
		t.Fatal(err)
	}
	p := person()
	p.Status = "WON"
	if err := tg.Update(ctx, slug, p); err != nil {
		t.Fatal(err)
	}
	reqs := requestsTo(f, "POST", "leads/update/lead/")
	if len(reqs) != 2 {
		t.Fatalf("%d update requests, want 2", len(reqs))
	}
	common := []httpapi.Field{
		{Name: "slug", Value: slug}, {Name: "first_name", Value: "Amira"}, {Name: "last_name", Value: "Ben Salah"},
		{Name: "email", Value: "amira@example.com"}, {Name: "phone", Value: "21620123456"},
	}
	tail := []httpapi.Field{{Name: "source", Value: "Website"}, {Name: "location", Value: "askhandle widget: Pricing page"}, {Name: "message", Value: "via askhandle-site (webchat)"}}
	// The default status is not sent: the salesperson's "customer" stays.
	if diff := cmp.Diff(append(append([]httpapi.Field{}, common...), tail...), formOf(t, reqs[0])); diff != "" {
		t.Errorf("update form (-want +got):\n%s", diff)
	}
	withStatus := append(append(append([]httpapi.Field{}, common...), httpapi.Field{Name: "status", Value: "customer"}), tail...)
	if diff := cmp.Diff(withStatus, formOf(t, reqs[1])); diff != "" {
		t.Errorf("update form with mapped status (-want +got):\n%s", diff)
	}
	if got := f.Leads()[0]; got.LastName != "Ben Salah" || got.Status != "customer" {
		t.Errorf("lead after update = %+v", got)
	}
}

func TestUpdateKeepsTheCRMsEmailAndLastNameOverPlaceholders(t *testing.T) {
	f, base := startFake(t)
	slug := f.AddLead(epixeltest.Lead{FirstName: "Amira", LastName: "Ben Salah", Email: "real@example.com", Phone: "21620123456"})
	tg := newTarget(t, instance(base, exampleOptions()))
	p := person()
	p.Emails, p.LastName = nil, ""
	if err := tg.Update(context.Background(), slug, p); err != nil {
		t.Fatal(err)
	}
	got := f.Leads()[0]
	if got.Email != "real@example.com" || got.LastName != "Ben Salah" {
		t.Errorf("lead after update = %+v, want the CRM's email and last name kept", got)
	}
}

func TestAddNoteSendsSlugAndNote(t *testing.T) {
	f, base := startFake(t)
	slug := f.AddLead(epixeltest.Lead{FirstName: "A", LastName: "B", Email: "a@example.com", Phone: "21620123456"})
	tg := newTarget(t, instance(base, exampleOptions()))
	text := "askhandle chat 2024-04-28\n[user] Ça marche ? " + strings.Repeat("ü", 400)
	id, err := tg.AddNote(context.Background(), slug, text)
	if err != nil {
		t.Fatal(err)
	}
	reqs := requestsTo(f, "POST", "leads/create/leadnote/")
	want := []httpapi.Field{{Name: "slug", Value: slug}, {Name: "note", Value: text}}
	if len(reqs) != 1 {
		t.Fatalf("%d note requests", len(reqs))
	}
	if diff := cmp.Diff(want, formOf(t, reqs[0])); diff != "" {
		t.Errorf("note form (-want +got):\n%s", diff)
	}
	if notes := f.Leads()[0].Notes; len(notes) != 1 || fmt.Sprint(notes[0].ID) != id || notes[0].Note != text {
		t.Errorf("notes %+v, id %q", notes, id)
	}
	if tg.MaxNoteLen() != 499 {
		t.Errorf("MaxNoteLen = %d", tg.MaxNoteLen())
	}
}

func TestAddNoteRefusesWhatTheCRMWouldBeforeSending(t *testing.T) {
	f, base := startFake(t)
	slug := f.AddLead(epixeltest.Lead{FirstName: "A", LastName: "B", Email: "a@example.com", Phone: "21620123456"})
	tg := newTarget(t, instance(base, exampleOptions()))
	for _, text := range []string{"", "  \n", strings.Repeat("ü", 500)} {
		_, err := tg.AddNote(context.Background(), slug, text)
		asRejected(t, err)
	}
	if f.Writes() != 0 {
		t.Errorf("%d writes reached the CRM", f.Writes())
	}
}

func TestCreateRefusedBeforeSendingMakesNoRequest(t *testing.T) {
	f, base := startFake(t)
	tg := newTarget(t, instance(base, map[string]any{}))
	p := person()
	p.Phones = nil
	rej := asRejected(t, func() error { _, err := tg.Create(context.Background(), p); return err }())
	if !strings.Contains(rej.Reason, "a person without a phone cannot be created") {
		t.Errorf("reason = %q", rej.Reason)
	}
	if n := len(f.Recorder().Requests()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

func TestCRMValidationErrorIsRejectedWithItsFields(t *testing.T) {
	f, base := startFake(t)
	f.SetSourceChoices("Web", "Other") // the configured "Website" is not a choice here
	tg := newTarget(t, instance(base, exampleOptions()))
	_, err := tg.Create(context.Background(), person())
	rej := asRejected(t, err)
	want := map[string][]string{"source": {`"Website" is not a valid choice.`}}
	if diff := cmp.Diff(want, rej.Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if len(f.Leads()) != 0 {
		t.Errorf("fake holds %d leads", len(f.Leads()))
	}
}

func TestPerLead401IsRejectedWithoutLooping(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		call         func(tg *Target, slug string) error
	}{
		{"update not owner", "You are not owner of this lead.", func(tg *Target, slug string) error {
			return tg.Update(context.Background(), slug, person())
		}},
		{"update missing lead", "Requested lead does not esixt.", func(tg *Target, _ string) error {
			return tg.Update(context.Background(), "no-such-lead", person())
		}},
		{"note not owner", "You can't add note on this lead.", func(tg *Target, slug string) error {
			_, err := tg.AddNote(context.Background(), slug, "hello")
			return err
		}},
		{"view not owner", "You are not owner of this lead.", func(tg *Target, slug string) error {
			_, err := tg.Get(context.Background(), slug)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, base := startFake(t)
			slug := f.AddLead(epixeltest.Lead{FirstName: "A", LastName: "B", Email: "a@example.com", Phone: "21620123456"})
			f.DenyAccess(slug)
			tg := newTarget(t, instance(base, exampleOptions()))
			rej := asRejected(t, tc.call(tg, slug))
			if rej.Reason != tc.reason {
				t.Errorf("reason %q, want the CRM's %q", rej.Reason, tc.reason)
			}
			// login, the call, one refresh (the token might have been stale), the call again: no more.
			reqs := f.Recorder().Requests()
			if len(reqs) != 4 || len(requestsTo(f, "POST", "user/token/refresh/")) != 1 {
				var paths []string
				for _, r := range reqs {
					paths = append(paths, r.Method+" "+r.Path)
				}
				t.Errorf("requests %v, want login, call, refresh, call", paths)
			}
		})
	}
}

func TestWrongAPIKeyIsAConfigurationError(t *testing.T) {
	_, base := startFake(t)
	in := instance(base, exampleOptions())
	in.Auth["api_key"] = "wrong-key"
	tg := newTarget(t, in)
	_, err := tg.Find(context.Background(), "a@example.com", "")
	if !errors.Is(err, connectors.ErrConfig) || connectors.IsRejected(err) {
		t.Fatalf("Find with a wrong apikey: %v, want ErrConfig", err)
	}
	if strings.Contains(err.Error(), "wrong-key") {
		t.Errorf("error leaks the apikey: %v", err)
	}
}

func TestForbiddenDataCallIsAConfigurationError(t *testing.T) {
	f, base := startFake(t)
	tg := newTarget(t, instance(base, exampleOptions()))
	f.Recorder().Inject(vendortest.Fault{Match: "leads/create/lead/", Status: 403, Body: `{"status_code":403,"errors":{"detail":["Invalid API key."]},"data":{}}`})
	_, err := tg.Create(context.Background(), person())
	if !errors.Is(err, connectors.ErrConfig) {
		t.Errorf("Create answered 403: %v, want ErrConfig", err)
	}
}

func TestWrongPasswordIsAConfigurationError(t *testing.T) {
	_, base := startFake(t)
	in := instance(base, exampleOptions())
	in.Auth["password"] = "not-the-password"
	_, err := newTarget(t, in).Get(context.Background(), "x")
	if !errors.Is(err, connectors.ErrConfig) {
		t.Errorf("Get with a wrong password: %v, want ErrConfig", err)
	}
}

func TestExpiredTokenIsRefreshedAndTheCallSucceeds(t *testing.T) {
	for _, ts := range []epixeltest.TokenShape{epixeltest.TopLevel, epixeltest.InData} {
		t.Run(fmt.Sprint("token shape ", ts), func(t *testing.T) {
			f, base := startFake(t)
			f.SetTokenShape(ts)
			var mu sync.Mutex
			now := time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC)
			f.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
			f.SetAccessTTL(5 * time.Minute)
			slug := f.AddLead(epixeltest.Lead{FirstName: "A", LastName: "B", Email: "a@example.com", Phone: "21620123456"})
			tg := newTarget(t, instance(base, exampleOptions()))
			ctx := context.Background()
			if _, err := tg.Get(ctx, slug); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			now = now.Add(6 * time.Minute)
			mu.Unlock()
			if _, err := tg.AddNote(ctx, slug, "after expiry"); err != nil {
				t.Fatalf("AddNote after expiry: %v", err)
			}
			if l, r := len(requestsTo(f, "POST", "user/login/")), len(requestsTo(f, "POST", "user/token/refresh/")); l != 1 || r != 1 {
				t.Errorf("%d logins and %d refreshes, want 1 and 1", l, r)
			}
			if n := len(f.Leads()[0].Notes); n != 1 {
				t.Errorf("%d notes, want exactly 1", n)
			}
		})
	}
}

func TestFailedRefreshLogsInAgain(t *testing.T) {
	f, base := startFake(t)
	tg := newTarget(t, instance(base, exampleOptions()))
	ctx := context.Background()
	if _, err := tg.Find(ctx, "a@example.com", ""); err != nil {
		t.Fatal(err)
	}
	f.ExpireAccessTokens()
	f.RevokeRefreshTokens()
	if _, err := tg.Find(ctx, "a@example.com", ""); err != nil {
		t.Fatalf("Find after the refresh token was revoked: %v", err)
	}
	if l, r := len(requestsTo(f, "POST", "user/login/")), len(requestsTo(f, "POST", "user/token/refresh/")); l != 2 || r != 1 {
		t.Errorf("%d logins and %d refreshes, want 2 and 1", l, r)
	}
}

func TestAPIKeyOnEveryCallBearerOnDataCalls(t *testing.T) {
	f, base := startFake(t)
	tg := newTarget(t, instance(base, exampleOptions()))
	ctx := context.Background()
	slug, err := tg.Create(ctx, person())
	if err != nil {
		t.Fatal(err)
	}
	f.ExpireAccessTokens()
	if _, err := tg.Get(ctx, slug); err != nil {
		t.Fatal(err)
	}
	f.ExpireAccessTokens()
	f.RevokeRefreshTokens()
	if _, err := tg.Find(ctx, "amira@example.com", ""); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range f.Recorder().Requests() {
		seen[r.Path] = true
		if r.Header.Get("apikey") != epixeltest.APIKey {
			t.Errorf("%s %s: apikey %q", r.Method, r.Path, r.Header.Get("apikey"))
		}
		if r.Header.Get("Accept") != "application/json" {
			t.Errorf("%s %s: Accept %q", r.Method, r.Path, r.Header.Get("Accept"))
		}
		auth := r.Header.Get("Authorization")
		isAuthCall := strings.HasPrefix(r.Path, "/user/")
		if isAuthCall != (auth == "") || (!isAuthCall && !strings.HasPrefix(auth, "Bearer acc.")) {
			t.Errorf("%s %s: Authorization %q", r.Method, r.Path, auth)
		}
	}
	for _, p := range []string{"/user/login/", "/user/token/refresh/", "/leads/create/lead/", "/leads/view/lead/", "/leads/list/"} {
		if !seen[p] {
			t.Errorf("no call to %s", p)
		}
	}
}

func TestCreateIsNotRetriedAfterADroppedConnection(t *testing.T) {
	f, base := startFake(t)
	tg := newTarget(t, instance(base, exampleOptions()))
	f.Recorder().Inject(vendortest.Fault{Method: "POST", Match: "leads/create/lead/", After: true})
	_, err := tg.Create(context.Background(), person())
	if err == nil || connectors.IsRejected(err) {
		t.Fatalf("Create over a dropped connection: %v, want a transient error", err)
	}
	if n := len(requestsTo(f, "POST", "leads/create/lead/")); n != 1 {
		t.Errorf("%d creates reached the CRM, want exactly 1", n)
	}
	if n := len(f.Leads()); n != 1 {
		t.Errorf("the CRM holds %d leads, want the 1 committed before the drop", n)
	}
	// The engine's next step is Find: the committed lead is there to adopt.
	found, err := tg.Find(context.Background(), "amira@example.com", "+21620123456")
	if err != nil || len(found) != 1 {
		t.Errorf("Find after the drop = %v, %v", found, err)
	}
}

func TestAddNoteIsNotRetriedAfterADroppedConnection(t *testing.T) {
	f, base := startFake(t)
	slug := f.AddLead(epixeltest.Lead{FirstName: "A", LastName: "B", Email: "a@example.com", Phone: "21620123456"})
	tg := newTarget(t, instance(base, exampleOptions()))
	f.Recorder().Inject(vendortest.Fault{Method: "POST", Match: "leads/create/leadnote/", After: true})
	if _, err := tg.AddNote(context.Background(), slug, "once"); err == nil || connectors.IsRejected(err) {
		t.Fatalf("AddNote over a dropped connection: %v, want a transient error", err)
	}
	if n := len(f.Leads()[0].Notes); n != 1 || f.Writes() != 1 {
		t.Errorf("%d notes, %d writes; want 1 and 1", n, f.Writes())
	}
}

// TestWhatUpdateWroteReadBackAgrees: a lead created or updated by the target
// and read back by the source agrees with the person it was written from,
// and stops agreeing as soon as an update would send something else: a
// mapped status, a name, a contact, the provenance. A status status_map does
// not map is never sent, so it never disagrees; nor do placeholders.
func TestWhatUpdateWroteReadBackAgrees(t *testing.T) {
	_, base := startFake(t)
	opts := exampleOptions()
	opts["status_map"] = map[string]any{"won": "customer", "lost": "closed"}
	in := instance(base, opts)
	tg, src := newTarget(t, in), newSource(t, in)
	ctx := context.Background()
	readBack := func(slug string) *lead.Record {
		t.Helper()
		pages, err := pullAll(t, src)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pages {
			for i := range p.Records {
				if p.Records[i].TargetID == slug {
					return &p.Records[i]
				}
			}
		}
		t.Fatalf("lead %s not read back", slug)
		return nil
	}

	p := person()
	p.Status = "WON"
	slug, err := tg.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	own := readBack(slug)
	if !tg.Agrees(own, p) {
		t.Fatalf("the created lead read back does not agree: %+v", own)
	}
	changes := map[string]func(p *lead.Person){
		"mapped status":    func(p *lead.Person) { p.Status = "lost" },
		"first name":       func(p *lead.Person) { p.FirstName = "Amina" },
		"last name":        func(p *lead.Person) { p.LastName = "Trabelsi" },
		"email":            func(p *lead.Person) { p.Emails = []string{"other@example.com"} },
		"phone":            func(p *lead.Person) { p.Phones = []string{"+21655123123"} },
		"location":         func(p *lead.Person) { p.Contexts = []string{"askhandle widget: Contact page"} },
		"message":          func(p *lead.Person) { p.Channels = []string{"webchat", "whatsapp"} },
		"source":           func(p *lead.Person) { p.SourceInstances = []string{"roborder-fb"} },
		"another instance": func(p *lead.Person) { p.SourceInstances = append(p.SourceInstances, "netcore-wa") },
	}
	for name, change := range changes {
		q := *p
		change(&q)
		if tg.Agrees(own, &q) {
			t.Errorf("%s changed: the record still agrees", name)
		}
		// What Update writes for the changed person agrees once read back.
		if err := tg.Update(ctx, slug, &q); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if back := readBack(slug); !tg.Agrees(back, &q) {
			t.Errorf("%s: the updated lead read back does not agree: %+v", name, back)
		}
		if err := tg.Update(ctx, slug, p); err != nil {
			t.Fatal(err)
		}
	}
	own = readBack(slug)
	unmapped := *p
	unmapped.Status = "pending"
	if !tg.Agrees(own, &unmapped) {
		t.Error("an unmapped status disagrees, but Update never sends it")
	}
	placeholders := *p
	placeholders.Emails, placeholders.LastName = nil, ""
	if !tg.Agrees(own, &placeholders) {
		t.Error("placeholder email and last name disagree, but Update keeps the CRM's values")
	}
	// The CRM gives its source choice back in its own case: still agrees.
	recased := *own
	recased.Attributes = map[string]string{}
	for k, v := range own.Attributes {
		recased.Attributes[k] = v
	}
	recased.Attributes["source"] = strings.ToUpper(own.Attributes["source"])
	if !tg.Agrees(&recased, p) {
		t.Error("the source in another case disagrees")
	}
	// A record stored before the source kept location and message.
	old := *own
	old.Attributes = map[string]string{"source": own.Attributes["source"]}
	if tg.Agrees(&old, p) {
		t.Error("a record without location and message agrees")
	}
	bad := *p
	bad.FirstName = ""
	if tg.Agrees(own, &bad) {
		t.Error("a person the CRM would refuse agrees")
	}
}
