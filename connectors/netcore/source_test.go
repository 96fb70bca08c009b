package netcore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/netcore/netcoretest"
	"github.com/leadsync/leadsync/lead"
)

func TestPullMapsUserAndTranscriptToRecord(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.AddUsers(netcoretest.User{
		UserID: "u-wa-1", BotUserID: "+919876543210", ChannelName: "whatsapp", Name: " Priya   Sharma ",
		CreatedDate: "2024-04-28T09:00:00.000Z", FirstInteracted: "2024-04-28T09:00:00.000Z",
		LastInteracted: "2024-04-30T18:40:00.000Z",
	})
	e.fake.SetBotUser(1014, "+919876543210", netcoretest.BotUser{
		CustomFields: map[string]any{"Email ID": "Priya@Example.com", "city": "Pune", "orders": 3},
		Tags:         []string{"vip"},
	})
	e.fake.AddTranscript(1014, "+919876543210",
		netcoretest.Entry{From: "Bot", Type: "text", Payload: map[string]any{"message": "How can I help?"}, CreatedAt: "2024-04-28T09:00:01.000Z"},
		netcoretest.Entry{From: "User", Type: "text", Payload: map[string]any{"message": "Shoes"}, CreatedAt: "2024-04-28T09:00:05.000Z"},
		netcoretest.Entry{From: "Agent", Type: "mysteryWidget", Payload: map[string]any{"k": "v"}, CreatedAt: "2024-04-28T09:01:00.000Z"},
	)

	pages := e.mustPull(t, nil)
	var got []lead.Record
	for _, p := range pages {
		if len(p.Problems) > 0 {
			t.Errorf("problems: %v", p.Problems)
		}
		got = append(got, p.Records...)
	}
	if len(got) != 1 {
		t.Fatalf("got %d records, want 1", len(got))
	}
	rec := got[0]
	if !json.Valid(rec.Raw) || !strings.Contains(string(rec.Raw), `"last interacted date"`) {
		t.Errorf("Raw is not the user's JSON: %s", rec.Raw)
	}
	for i, m := range rec.Conversations[0].Messages {
		if m.ID == "" {
			t.Errorf("message %d has no id", i)
		}
	}
	want := lead.Record{
		Source: "nc", SourceID: "u-wa-1",
		FirstName: "Priya", LastName: "Sharma",
		Emails:     []string{"priya@example.com"},
		Phones:     []string{"+919876543210"},
		Channel:    "whatsapp",
		Context:    "netcore whatsapp bot",
		Tags:       []string{"vip"},
		Attributes: map[string]string{"Email ID": "Priya@Example.com", "city": "Pune", "orders": "3"},
		CreatedAt:  time.Date(2024, 4, 28, 9, 0, 0, 0, time.UTC),
		UpdatedAt:  time.Date(2024, 4, 30, 18, 40, 0, 0, time.UTC),
		Conversations: []lead.Conversation{{
			ID: "1014:+919876543210", Channel: "whatsapp",
			Messages: []lead.Message{
				{Sender: lead.SenderBot, Text: "How can I help?", At: time.Date(2024, 4, 28, 9, 0, 1, 0, time.UTC)},
				{Sender: lead.SenderUser, Text: "Shoes", At: time.Date(2024, 4, 28, 9, 0, 5, 0, time.UTC)},
				{Sender: lead.SenderAgent, Text: `[mysteryWidget] {"k":"v"}`, At: time.Date(2024, 4, 28, 9, 1, 0, 0, time.UTC)},
			},
		}},
	}
	opts := cmp.Options{cmpopts.IgnoreFields(lead.Record{}, "Raw"), cmpopts.IgnoreFields(lead.Message{}, "ID")}
	if d := cmp.Diff(want, rec, opts); d != "" {
		t.Errorf("record (-want +got):\n%s", d)
	}
}

func TestPullSendsDocumentedRequests(t *testing.T) {
	e := newEnv(t, map[string]any{"channels": []any{1014, 1010}, "page_size": 30, "transcript_page_size": 40})
	e.fake.AddUsers(netcoretest.User{UserID: "u1", BotUserID: "+21620123456", ChannelName: "whatsapp", Name: "A",
		FirstInteracted: "2024-04-30T10:00:00.000Z", LastInteracted: "2024-04-30T10:00:00.000Z"})
	e.mustPull(t, nil)

	users := e.requests(t, "users")
	if len(users) != 1 {
		t.Fatalf("%d users requests, want 1", len(users))
	}
	tok := users[0]["Authorization"].(string)
	if tok == "" || strings.Contains(tok, " ") {
		t.Errorf("Authorization = %q, want the bare token", tok)
	}
	wantUsers := map[string]any{
		"?": "limit=30&page=1", "Authorization": tok,
		"channelIds": []any{1014.0, 1010.0},
		"startDate":  ts(t0.Add(-5 * 24 * time.Hour)),
		"endDate":    ts(t0),
	}
	if d := cmp.Diff(wantUsers, users[0]); d != "" {
		t.Errorf("users request (-want +got):\n%s", d)
	}
	wantTranscripts := []map[string]any{{
		"?": "limit=40&page=1", "Authorization": tok,
		"botUserId": "+21620123456", "channelId": 1014.0,
		"startDate": "2024-04-30T10:00:00.000Z", "endDate": ts(t0),
	}}
	if d := cmp.Diff(wantTranscripts, e.requests(t, "transcripts")); d != "" {
		t.Errorf("transcripts requests (-want +got):\n%s", d)
	}
	login := e.requests(t, "login")
	if len(login) != 1 || login[0]["appId"] != netcoretest.AppID || login[0]["appSecret"] != netcoretest.AppSecret || login[0]["Authorization"] != "" {
		t.Errorf("login requests = %v", login)
	}
}

func TestPullDecodesEveryResponseShape(t *testing.T) {
	type shape struct {
		name    string
		expKey  string
		expFmt  netcoretest.ExpiryFormat
		hasNext netcoretest.HasNextShape
		nameKey string
	}
	var shapes []shape
	for _, k := range []string{"expireAt", "expiresAt"} {
		for _, f := range []netcoretest.ExpiryFormat{netcoretest.ExpiryRFC3339, netcoretest.ExpiryEpochSeconds, netcoretest.ExpiryEpochMillis} {
			for _, h := range []netcoretest.HasNextShape{netcoretest.Bool, netcoretest.Int} {
				for _, n := range []string{"userName", "name"} {
					shapes = append(shapes, shape{fmt.Sprintf("%s/%d/%d/%s", k, f, h, n), k, f, h, n})
				}
			}
		}
	}
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			e := newEnv(t, map[string]any{"page_size": 2})
			e.fake.SetShape(netcoretest.Shape{ExpiryKey: s.expKey, ExpiryFormat: s.expFmt, HasNext: s.hasNext, NameKey: s.nameKey})
			e.fake.SetTokenTTL(10 * time.Minute)
			for i := range 5 {
				e.fake.AddUsers(netcoretest.User{UserID: fmt.Sprint("u", i), BotUserID: fmt.Sprint("wc", i), ChannelName: "webchat",
					Name: fmt.Sprint("Name", i), LastInteracted: ts(t0.Add(-time.Duration(i+1) * time.Hour))})
			}
			// Each page moves time on by 6 minutes: the token (10 minutes)
			// must be renewed from the decoded expiry, before the service refuses it.
			pages, err := e.pull(t, nil, func(connectors.Page) { e.clock.Advance(6 * time.Minute) })
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range pages {
				for _, r := range p.Records {
					names = append(names, r.FirstName)
				}
			}
			if d := cmp.Diff([]string{"Name0", "Name1", "Name2", "Name3", "Name4"}, names); d != "" {
				t.Errorf("names (-want +got):\n%s", d)
			}
			if n := e.fake.Recorder().Count("POST", "/users"); n != 3 {
				t.Errorf("%d users requests, want 3 (pages of 2)", n)
			}
			if n := e.fake.Unauthorized(); n != 0 {
				t.Errorf("%d requests answered 401: the expiry was not honoured", n)
			}
			if n := e.fake.Logins(); n < 2 {
				t.Errorf("%d logins, want a renewal", n)
			}
		})
	}
}

func TestTokenRenewedBeforeExpiry(t *testing.T) {
	e := newEnv(t, map[string]any{"page_size": 1})
	e.fake.SetTokenTTL(10 * time.Minute)
	for i := range 3 {
		e.fake.AddUsers(netcoretest.User{UserID: fmt.Sprint("u", i), BotUserID: fmt.Sprint("tg", i), ChannelName: "telegram",
			LastInteracted: ts(t0.Add(-time.Hour))})
	}
	// t0: login (expires t0+10m). Page 2 is asked at t0+9m30s, inside the
	// one-minute margin: renew. Page 3 at t0+19m: inside the new margin: renew.
	emitted := 0
	_, err := e.pull(t, nil, func(connectors.Page) {
		if emitted++; emitted < 3 {
			e.clock.Advance(9*time.Minute + 30*time.Second)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.fake.Logins(); got != 3 {
		t.Errorf("logins = %d, want 3", got)
	}
	if got := e.fake.Unauthorized(); got != 0 {
		t.Errorf("%d requests answered 401, want 0", got)
	}
}

func TestTokenRenewedOn401MidPagination(t *testing.T) {
	e := newEnv(t, map[string]any{"page_size": 1})
	for i := range 3 {
		e.fake.AddUsers(netcoretest.User{UserID: fmt.Sprint("u", i), BotUserID: fmt.Sprint("fb", i), ChannelName: "facebook",
			LastInteracted: ts(t0.Add(-time.Hour))})
	}
	revoked := false
	pages, err := e.pull(t, nil, func(connectors.Page) {
		if !revoked {
			revoked = true
			e.fake.RevokeTokens()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := records(pages); n != 3 {
		t.Errorf("%d records, want 3", n)
	}
	if got := e.fake.Logins(); got != 2 {
		t.Errorf("logins = %d, want 2", got)
	}
	if got := e.fake.Unauthorized(); got != 1 {
		t.Errorf("401 answers = %d, want 1", got)
	}
}

func TestWrongCredentialsFailTheRunAsConfigError(t *testing.T) {
	e := newEnv(t, nil)
	e.in.Auth["app_secret"] = "wrong-secret"
	_, err := e.pull(t, nil, nil)
	if !errors.Is(err, connectors.ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("error leaks the secret: %v", err)
	}
}

func TestWindowsWalkedWithCursorOnEachWindowsLastPage(t *testing.T) {
	e := newEnv(t, map[string]any{"window": "2d", "page_size": 1})
	// Backfill 5 days, windows of 2 days: [-5d,-3d] [-3d,-1d] [-1d,now].
	e.fake.AddUsers(
		netcoretest.User{UserID: "a", BotUserID: "a", ChannelName: "webchat", LastInteracted: ts(t0.Add(-4 * 24 * time.Hour))},
		netcoretest.User{UserID: "b", BotUserID: "b", ChannelName: "webchat", LastInteracted: ts(t0.Add(-2 * 24 * time.Hour))},
		netcoretest.User{UserID: "c", BotUserID: "c", ChannelName: "webchat", LastInteracted: ts(t0.Add(-47 * time.Hour))},
	)
	pages := e.mustPull(t, nil)

	type pageSum struct {
		IDs    []string
		Cursor string
	}
	var got []pageSum
	for _, p := range pages {
		var s pageSum
		for _, r := range p.Records {
			s.IDs = append(s.IDs, r.SourceID)
		}
		if p.Cursor != nil {
			var c cursor
			if err := json.Unmarshal(p.Cursor, &c); err != nil {
				t.Fatalf("cursor %s: %v", p.Cursor, err)
			}
			s.Cursor = c.End.Format(time.RFC3339)
		}
		got = append(got, s)
	}
	day := 24 * time.Hour
	want := []pageSum{
		{IDs: []string{"a"}, Cursor: t0.Add(-3 * day).Format(time.RFC3339)},
		{IDs: []string{"b"}},
		{IDs: []string{"c"}, Cursor: t0.Add(-day).Format(time.RFC3339)},
		{Cursor: t0.Format(time.RFC3339)},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("pages (-want +got):\n%s", d)
	}
	var windows []string
	for _, r := range e.requests(t, "users") {
		windows = append(windows, fmt.Sprint(r["startDate"], " ", r["endDate"], " ", r["?"]))
	}
	wantWindows := []string{
		ts(t0.Add(-5*day)) + " " + ts(t0.Add(-3*day)) + " limit=1&page=1",
		ts(t0.Add(-3*day)) + " " + ts(t0.Add(-day)) + " limit=1&page=1",
		ts(t0.Add(-3*day)) + " " + ts(t0.Add(-day)) + " limit=1&page=2",
		ts(t0.Add(-day)) + " " + ts(t0) + " limit=1&page=1",
	}
	if d := cmp.Diff(wantWindows, windows); d != "" {
		t.Errorf("users windows (-want +got):\n%s", d)
	}
}

func TestPullResumesFromCursorMinusOverlap(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.AddUsers(
		netcoretest.User{UserID: "old", BotUserID: "old", ChannelName: "webchat", LastInteracted: ts(t0.Add(-3 * time.Hour))},
		netcoretest.User{UserID: "late", BotUserID: "late", ChannelName: "webchat", LastInteracted: ts(t0.Add(-90 * time.Minute))},
		netcoretest.User{UserID: "new", BotUserID: "new", ChannelName: "webchat", LastInteracted: ts(t0.Add(-time.Minute))},
	)
	prev, _ := json.Marshal(cursor{End: t0.Add(-time.Hour)})
	pages := e.mustPull(t, prev)

	var ids []string
	for _, p := range pages {
		for _, r := range p.Records {
			ids = append(ids, r.SourceID)
		}
	}
	if d := cmp.Diff([]string{"late", "new"}, ids); d != "" {
		t.Errorf("records read (-want +got):\n%s", d)
	}
	users := e.requests(t, "users")
	if got, want := users[0]["startDate"], ts(t0.Add(-2*time.Hour)); got != want {
		t.Errorf("startDate = %v, want cursor minus overlap %v", got, want)
	}
	last := pages[len(pages)-1].Cursor
	if want, _ := json.Marshal(cursor{End: t0}); string(last) != string(want) {
		t.Errorf("final cursor = %s, want %s", last, want)
	}
}

func TestUnreadableCursorReadsTheBackfillAgain(t *testing.T) {
	e := newEnv(t, nil)
	e.mustPull(t, connectors.Cursor("not json"))
	users := e.requests(t, "users")
	if got, want := users[0]["startDate"], ts(t0.Add(-5*24*time.Hour)); got != want {
		t.Errorf("startDate = %v, want the backfill start %v", got, want)
	}
	if !strings.Contains(e.logs.String(), "unreadable cursor") {
		t.Errorf("no warning logged: %s", e.logs.String())
	}
}

func TestTranscriptStartDateClampedToThreeMonths(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.AddUsers(
		netcoretest.User{UserID: "ancient", BotUserID: "ancient", ChannelName: "webchat",
			FirstInteracted: "2023-06-01T00:00:00.000Z", LastInteracted: ts(t0.Add(-time.Hour))},
		netcoretest.User{UserID: "recent", BotUserID: "recent", ChannelName: "webchat",
			FirstInteracted: "2024-04-20T08:00:00.000Z", LastInteracted: ts(t0.Add(-time.Hour))},
		netcoretest.User{UserID: "unknown-first", BotUserID: "unknown-first", ChannelName: "webchat",
			LastInteracted: ts(t0.Add(-time.Hour))},
	)
	e.fake.AddTranscript(1010, "ancient", netcoretest.Entry{From: "User", Type: "text", Payload: map[string]any{"message": "hi"}, CreatedAt: "2024-04-30T00:00:00.000Z"})
	pages := e.mustPull(t, nil)
	if _, problems := records(pages); len(problems) > 0 {
		t.Fatalf("problems (the service refused a startDate?): %v", problems)
	}
	horizon := "2024-02-02T12:00:00.000Z" // t0 - 3 months + 1 day
	var got []string
	for _, r := range e.requests(t, "transcripts") {
		got = append(got, fmt.Sprint(r["botUserId"], " ", r["startDate"]))
	}
	want := []string{"ancient " + horizon, "recent 2024-04-20T08:00:00.000Z", "unknown-first " + horizon}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("transcripts startDate (-want +got):\n%s", d)
	}
}

func TestChannelNamesMapBackToIDs(t *testing.T) {
	e := newEnv(t, map[string]any{"channels": []any{1010, 1014, 1016, 1017, 1021, 1012}})
	names := []string{"webchat", "whatsapp", "telegram", "facebook", "instagramMessaging", "GoogleBusinessMessages"}
	for i, n := range names {
		id := fmt.Sprint("+2162012345", i)
		e.fake.AddUsers(netcoretest.User{UserID: n, BotUserID: id, ChannelName: n, LastInteracted: ts(t0.Add(-time.Hour))})
	}
	pages := e.mustPull(t, nil)
	var got []string
	for _, r := range e.requests(t, "transcripts") {
		got = append(got, fmt.Sprint(r["botUserId"], " ", r["channelId"]))
	}
	want := []string{"+21620123450 1010", "+21620123451 1014", "+21620123452 1016", "+21620123453 1017", "+21620123454 1021"}
	// The fake serves GoogleBusinessMessages only when asked for 1012, with
	// its own casing; the connector matches names ignoring case.
	want = append(want, "+21620123455 1012")
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("transcripts calls (-want +got):\n%s", d)
	}
	var channels []string
	for _, p := range pages {
		for _, r := range p.Records {
			channels = append(channels, r.Channel)
		}
	}
	if d := cmp.Diff([]string{"webchat", "whatsapp", "telegram", "facebook", "instagramMessaging", "googleBusinessMessages"}, channels); d != "" {
		t.Errorf("record channels (-want +got):\n%s", d)
	}
}

func TestUnknownChannelNameIsProblemWithoutTranscriptCall(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.AddUsers(netcoretest.User{UserID: "v1", BotUserID: "v1", ChannelName: "viber", Name: "Val",
		LastInteracted: ts(t0.Add(-time.Hour))})
	pages := e.mustPull(t, nil)
	n, problems := records(pages)
	if n != 1 {
		t.Errorf("%d records, want the user still emitted", n)
	}
	if len(problems) != 1 || !strings.Contains(problems[0], `unknown channel name "viber"`) {
		t.Errorf("problems = %q", problems)
	}
	if c := e.fake.Recorder().Count("POST", "/transcripts"); c != 0 {
		t.Errorf("%d transcripts calls for an unknown channel", c)
	}
}

func TestBadDatesAreProblemsAndTheRecordIsKept(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.AddUsers(netcoretest.User{UserID: "odd", BotUserID: "odd", ChannelName: "webchat", Name: "Odd Dates",
		CreatedDate: "2024-04-25 07:30:00", FirstInteracted: "sometime", LastInteracted: "30/04/2024 10:00"})
	e.fake.AddTranscript(1010, "odd", netcoretest.Entry{From: "User", Type: "text", Payload: map[string]any{"message": "hi"}, CreatedAt: "yesterday"})
	pages := e.mustPull(t, nil)
	var recs []lead.Record
	var problems []string
	for _, p := range pages {
		recs = append(recs, p.Records...)
		for _, pr := range p.Problems {
			problems = append(problems, pr.Error())
		}
	}
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	if want := time.Date(2024, 4, 25, 7, 30, 0, 0, time.UTC); !recs[0].CreatedAt.Equal(want) {
		t.Errorf("CreatedAt = %v, want %v (odd but readable)", recs[0].CreatedAt, want)
	}
	if msgs := recs[0].Conversations[0].Messages; len(msgs) != 1 || msgs[0].Text != "hi" || !msgs[0].At.IsZero() {
		t.Errorf("messages = %+v, want the message kept with a zero time", msgs)
	}
	for _, want := range []string{"first interacted date", "last interacted date", "createdAt"} {
		found := false
		for _, p := range problems {
			found = found || strings.Contains(p, want)
		}
		if !found {
			t.Errorf("no problem about %q in %q", want, problems)
		}
	}
}

func TestTranscriptsReadPageByPage(t *testing.T) {
	e := newEnv(t, map[string]any{"transcript_page_size": 25})
	e.fake.AddUsers(netcoreUser("talker", "webchat"))
	for i := range 60 {
		e.fake.AddTranscript(1010, "talker", netcoretest.Entry{From: "User", Type: "text",
			Payload: map[string]any{"message": fmt.Sprint("m", i)}, CreatedAt: ts(t0.Add(-2*time.Hour + time.Duration(i)*time.Second))})
	}
	pages := e.mustPull(t, nil)
	msgs := pages[0].Records[0].Conversations[0].Messages
	if len(msgs) != 60 || msgs[0].Text != "m0" || msgs[59].Text != "m59" {
		t.Errorf("got %d messages, want m0..m59 in order", len(msgs))
	}
	if c := e.fake.Recorder().Count("POST", "/transcripts"); c != 3 {
		t.Errorf("%d transcripts calls, want 3 pages", c)
	}
}

func TestTranscriptRefusalIsProblem(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.AddUsers(netcoreUser("r", "webchat"))
	fault(e, statusFault("/transcripts", 400, `{"statusCode":400,"message":"startDate must not be older than 3 months"}`))
	pages := e.mustPull(t, nil)
	n, problems := records(pages)
	if n != 1 || len(problems) != 1 || !strings.Contains(problems[0], "transcripts refused") {
		t.Errorf("records %d, problems %q", n, problems)
	}
}

func TestMalformedUsersPageFailsNamingThePage(t *testing.T) {
	e := newEnv(t, nil)
	fault(e, bodyFault("/users", `{"users":[{"userId":"x",}]}`))
	_, err := e.pull(t, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "page 1") || !strings.Contains(err.Error(), "malformed JSON") {
		t.Fatalf("err = %v, want a malformed-JSON error naming the page", err)
	}
}

func TestForbiddenIsConfigError(t *testing.T) {
	e := newEnv(t, nil)
	fault(e, statusFault("/users", 403, `{"statusCode":403,"message":"Forbidden"}`))
	_, err := e.pull(t, nil, nil)
	if !errors.Is(err, connectors.ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
}

func TestRepeatedUsersPageStopsTheRun(t *testing.T) {
	e := newEnv(t, map[string]any{"page_size": 1})
	e.fake.AddUsers(
		netcoreUser("a", "webchat"),
		netcoreUser("b", "webchat"),
		netcoreUser("c", "webchat"),
	)
	page1 := `{"users":[{"userId":"a","channelName":"webchat"}],"page":1,"pages":3,"hasNextPage":true}`
	fault(e, bodyFault("/users", page1))
	fault(e, bodyFault("/users", page1))
	_, err := e.pull(t, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "same users") {
		t.Fatalf("err = %v, want the repeated page detected", err)
	}
}

func TestUsageReportedPerConfiguredChannel(t *testing.T) {
	e := newEnv(t, map[string]any{"channels": []any{1014, 1010}})
	e.fake.SetUsage("2024-05-01", 1014, netcoretest.Usage{TotalMessages: 1200, TotalUsers: 85})
	e.fake.SetUsage("2024-05-01", 1010, netcoretest.Usage{TotalMessages: 40, TotalUsers: 7})
	e.mustPull(t, nil)
	want := map[string]float64{
		"netcore_bot_usage_messages whatsapp nc": 1200, "netcore_bot_usage_users whatsapp nc": 85,
		"netcore_bot_usage_messages webchat nc": 40, "netcore_bot_usage_users webchat nc": 7,
	}
	if d := cmp.Diff(want, e.gauge.m); d != "" {
		t.Errorf("gauges (-want +got):\n%s", d)
	}
	if c := e.fake.Recorder().Count("GET", "/botUsage"); c != 2 {
		t.Errorf("%d botUsage calls, want one per channel", c)
	}
}

func TestUsageFailureIsLoggedAndDoesNotFailTheRun(t *testing.T) {
	e := newEnv(t, map[string]any{"channels": []any{1014, 1010}})
	e.fake.SetUsage("2024-05-01", 1010, netcoretest.Usage{TotalMessages: 40, TotalUsers: 7})
	fault(e, statusFault("/botUsage", 404, `{"statusCode":404,"message":"Not Found"}`))
	if _, err := e.pull(t, nil, nil); err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if !strings.Contains(e.logs.String(), "usage not read") || !strings.Contains(e.logs.String(), "channel=whatsapp") {
		t.Errorf("failure not logged: %s", e.logs.String())
	}
	if e.gauge.m["netcore_bot_usage_messages webchat nc"] != 40 {
		t.Errorf("the other channel's usage was not reported: %v", e.gauge.m)
	}
}

// threePageSource is a source over three webchat users, one per page.
func threePageSource(t *testing.T) connectors.Source {
	t.Helper()
	e := newEnv(t, map[string]any{"page_size": 1})
	for i := range 3 {
		e.fake.AddUsers(netcoreUser(fmt.Sprint(i), "webchat"))
	}
	src, err := NewSource(e.in)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestEmitErrorStopsPull(t *testing.T) {
	src := threePageSource(t)
	stop := errors.New("store full")
	calls := 0
	err := src.Pull(context.Background(), nil, func(connectors.Page) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("err = %v after %d emits, want the emit error after 1", err, calls)
	}
}

func TestCancelledContextStopsPull(t *testing.T) {
	src := threePageSource(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := src.Pull(ctx, nil, func(connectors.Page) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestUndecodableUsersAreSkippedAsProblems(t *testing.T) {
	e := newEnv(t, nil)
	fault(e, bodyFault("/users", `{"users":[{"channelName":"webchat"},42,{"userId":"ok","botUserId":"ok","channelName":"webchat"}],"page":1,"pages":1,"hasNextPage":false}`))
	pages := e.mustPull(t, nil)
	n, problems := records(pages)
	if n != 1 || len(problems) != 2 {
		t.Fatalf("records %d, problems %q; want 1 record and 2 problems", n, problems)
	}
	for i, want := range []string{"user 1: skipped: no userId", "user 2: skipped"} {
		if !strings.Contains(problems[i], want) {
			t.Errorf("problem %d = %q, want it to contain %q", i, problems[i], want)
		}
	}
}

func TestMalformedTranscriptsPageFailsNamingIt(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.AddUsers(netcoreUser("m", "webchat"))
	fault(e, bodyFault("/transcripts", `{"transcripts":[`))
	_, err := e.pull(t, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "transcripts of userId m page 1") {
		t.Fatalf("err = %v, want it to name the transcripts page", err)
	}
}

// TestAUserLeavingTheWindowWhileItIsReadSkipsNobody: five users in a past
// window, read two a page. After the first page, its first user interacts
// again and leaves the window: the users behind move one place up, and "c"
// moves onto the page already read. Pages are numbered, so "c" would never
// be read (the window is behind the cursor afterwards); the total the
// service gives drops, and the window is read again before its last page
// carries the cursor, without fetching the transcripts of the users read.
func TestAUserLeavingTheWindowWhileItIsReadSkipsNobody(t *testing.T) {
	e := newEnv(t, map[string]any{"window": "10d", "page_size": 2})
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		e.fake.AddUsers(netcoretest.User{UserID: id, BotUserID: id, ChannelName: "webchat", LastInteracted: ts(t0.Add(-3 * 24 * time.Hour))})
	}
	pages, err := e.pull(t, nil, func(p connectors.Page) {
		if len(p.Records) > 0 && p.Records[0].SourceID == "a" {
			e.fake.UpdateUser("a", func(u *netcoretest.User) { u.LastInteracted = ts(t0.Add(time.Minute)) })
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	cursors := 0
	for i, p := range pages {
		for _, r := range p.Records {
			count[r.SourceID]++
		}
		if p.Cursor != nil {
			cursors++
			if i != len(pages)-1 {
				t.Errorf("page %d of %d (%s) carries the cursor", i+1, len(pages), p.Label)
			}
		}
	}
	if d := cmp.Diff(map[string]int{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}, count); d != "" {
		t.Errorf("users read (-want +got):\n%s", d)
	}
	if cursors != 1 {
		t.Errorf("%d pages carry the cursor, want the last one only", cursors)
	}
	transcripts := map[string]int{}
	for _, r := range e.requests(t, "transcripts") {
		transcripts[fmt.Sprint(r["botUserId"])]++
	}
	if len(transcripts) != 5 {
		t.Errorf("transcripts read for %v, want the five users", transcripts)
	}
	for id, n := range transcripts {
		if n != 1 {
			t.Errorf("transcripts of %s read %d times, want once", id, n)
		}
	}
}
