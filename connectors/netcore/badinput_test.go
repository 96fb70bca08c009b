package netcore

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/netcore/netcoretest"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest"
)

// badInput serves one webchat user active an hour ago (inside the pull's
// window), so a pull reaches its transcripts unless a fault replaces the
// users page.
var badInput = sourcetest.BadInputHarness{
	NewFake: func(t *testing.T) (http.Handler, *vendortest.Server) {
		fake := netcoretest.New()
		fake.AddUsers(netcoretest.User{UserID: "u-1", BotUserID: "u-1", ChannelName: "webchat",
			LastInteracted: time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)})
		return fake.Handler(), fake.Recorder()
	},
	Instance: func(baseURL string) *connectors.Instance {
		return &connectors.Instance{Name: "nc", Type: "netcore", BaseURL: baseURL, Region: "TN", Backfill: 24 * time.Hour,
			Auth: map[string]string{"app_id": netcoretest.AppID, "app_secret": netcoretest.AppSecret}}
	},
	NewSource: func(in *connectors.Instance) (connectors.Source, error) { return NewSource(in) },
	ListPath:  "/users",
	FirstPage: "page 1",
	Malformed: []sourcetest.Malformed{
		{Name: "nested inside users", Body: `{"users":` + strings.Repeat("[", 100000), Want: "malformed JSON"},
		{Name: "truncated", Body: `{"users":[{"userId":"a"`, Want: "malformed JSON"},
		{Name: "users of the wrong type", Body: `{"users":"none"}`, Want: "unexpected JSON"},
		{Name: "nested transcripts", Match: "/transcripts", Body: `{"transcripts":` + strings.Repeat("[", 100000), Want: "malformed JSON"},
	},
	OddPage: func(item string) string { return `{"users":[` + item + `],"hasNextPage":false}` },
	Odd: []sourcetest.OddRecord{
		{Name: "invalid UTF-8 in strings", Item: "{\"userId\":\"odd-1\",\"userName\":\"Al\xffi \xc3\x28Ben\",\"channelName\":\"webchat\"}"},
		{Name: "date as dd/mm/yyyy", Item: `{"userId":"odd-2","channelName":"webchat","createdDate":"01/02/2026"}`, Problem: `createdDate: unrecognised timestamp "01/02/2026"`},
		{Name: "date as a word", Item: `{"userId":"odd-3","channelName":"webchat","createdDate":"yesterday"}`, Problem: `createdDate: unrecognised timestamp "yesterday"`},
		// Netcore sends epoch numbers elsewhere: a number is read as one.
		{Name: "date as epoch seconds", Item: `{"userId":"odd-4","channelName":"webchat","createdDate":1700000000}`, Created: time.Unix(1700000000, 0).UTC()},
	},
	Subject: func(id string) string { return "userId " + id },
	// Netcore pages by number, so only a redirect can point elsewhere.
	Leaks: []sourcetest.Leak{{Name: "/users", Redirect: "/users"}, {Name: "/transcripts", Redirect: "/transcripts"}},
}

// TestBadInput serves hostile answers through the fake (sourcetest.RunBadInput
// says which); this file says only how Netcore shapes them.
func TestBadInput(t *testing.T) { sourcetest.RunBadInput(t, badInput) }

// A service that ignores page and answers users it gives no userId would
// otherwise be asked for the next page forever: every page looks new when
// the repeat check compares only the ids of the records it produced.
func TestRepeatedPageOfUsersWithoutIDsStops(t *testing.T) {
	e := badInput.Start(t)
	const endless = 1000
	e.Fake.Inject(vendortest.Fault{Match: "/users", Status: 200, Times: endless,
		Body: `{"users":[{"userName":"no id","channelName":"webchat"}],"hasNextPage":true}`})
	_, err := e.Pull(t)
	if err == nil || !strings.Contains(err.Error(), "same users as the previous page") {
		t.Errorf("Pull error = %v, want the repeated page refused", err)
	}
	if n := e.Fake.Count("", "/users"); n > 2 {
		t.Errorf("%d users requests for a service repeating one page, want 2", n)
	}
}

// A transcripts endpoint that ignores page while it claims more pages would
// otherwise be read pages times, each message stored once per page.
func TestRepeatedTranscriptsPageStops(t *testing.T) {
	e := badInput.Start(t)
	e.Fake.Inject(vendortest.Fault{Match: "/transcripts", Status: 200, Times: 50,
		Body: `{"transcripts":[{"from":"User","type":"text","text":{"message":"hi"},"createdAt":"2024-04-29T18:30:00.000Z"}],"paginationDetails":{"page":1,"pages":50}}`})
	pages, err := e.Pull(t)
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	var msgs int
	var problems []string
	for _, p := range pages {
		for _, r := range p.Records {
			for _, c := range r.Conversations {
				msgs += len(c.Messages)
			}
		}
		for _, pr := range p.Problems {
			problems = append(problems, pr.Error())
		}
	}
	if msgs != 1 {
		t.Errorf("%d messages, want the one message once", msgs)
	}
	if n := e.Fake.Count("", "/transcripts"); n != 2 {
		t.Errorf("%d transcripts requests, want 2", n)
	}
	if !strings.Contains(strings.Join(problems, "\n"), "page 2: repeats messages already read") {
		t.Errorf("problems %q do not say the page repeated", problems)
	}
}
