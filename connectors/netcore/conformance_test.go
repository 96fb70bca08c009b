package netcore_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/netcore"
	"github.com/leadsync/leadsync/connectors/netcore/netcoretest"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/lead"
)

// conformanceNow is the clock the instance and the fake share: fixed, so a
// rerun asks for exactly the same windows.
var conformanceNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return conformanceNow }

// conformanceUser is person i, last seen `ago` before now: even persons on
// WhatsApp (the phone is the botUserId), odd ones on web chat.
func conformanceUser(i int, ago time.Duration) netcoretest.User {
	last := conformanceNow.Add(-ago).Format("2006-01-02T15:04:05.000Z")
	u := netcoretest.User{
		UserID: fmt.Sprintf("user-%04d", i), ChannelName: "webchat", BotUserID: fmt.Sprintf("web-%04d", i),
		Name: fmt.Sprintf("Person Number%d", i), CreatedDate: "2024-04-01T09:00:00.000Z",
		FirstInteracted: "2024-04-01T09:00:00.000Z", LastInteracted: last,
	}
	if i%2 == 0 {
		u.ChannelName, u.BotUserID = "whatsapp", fmt.Sprintf("+2162%07d", i)
	}
	return u
}

func channelOf(u netcoretest.User) int {
	if u.ChannelName == "whatsapp" {
		return 1014
	}
	return 1010
}

// conformanceHarness serves users in two 7-day windows, 3 per page, each
// with a short transcript, answering in shape.
func conformanceHarness(shape netcoretest.Shape) sourcetest.Harness {
	var fake *netcoretest.Fake
	return sourcetest.Harness{
		NewFake: func(t *testing.T, persons int) (http.Handler, *vendortest.Server) {
			fake = netcoretest.New()
			fake.SetClock(clock)
			fake.SetShape(shape)
			for i := 1; i <= persons; i++ {
				u := conformanceUser(i, time.Duration(i)*25*time.Hour)
				fake.AddUsers(u)
				fake.AddTranscript(channelOf(u), u.BotUserID,
					netcoretest.Entry{From: "User", Type: "text", Payload: map[string]any{"body": "Hi"}, CreatedAt: "2024-04-20T10:00:00.000Z"},
					netcoretest.Entry{From: "Bot", Type: "text", Payload: map[string]any{"body": "Hello!"}, CreatedAt: "2024-04-20T10:00:01.000Z"})
			}
			return fake.Handler(), fake.Recorder()
		},
		Instance: func(baseURL string) *connectors.Instance {
			return &connectors.Instance{
				Name: "nc", Type: "netcore", BaseURL: baseURL, Region: "TN",
				Backfill: 14 * 24 * time.Hour, Overlap: time.Hour,
				Auth:    map[string]string{"app_id": netcoretest.AppID, "app_secret": netcoretest.AppSecret},
				Options: map[string]any{"page_size": 3},
				Clock:   clock,
			}
		},
		NewSource: func(in *connectors.Instance) (connectors.Source, error) { return netcore.NewSource(in) },
		ListPath:  "users",
		Renewable: true,
		LoginPath: "login",
		AddPerson: func(i int) { fake.AddUsers(conformanceUser(i, 0)) },
		PersonKey: func(r lead.Record) string { return r.SourceID },
	}
}

// TestConformance runs the suite with hasNextPage as a boolean and as 0/1;
// each also takes one of the login expiry keys and user name keys.
func TestConformance(t *testing.T) {
	for _, tt := range []struct {
		name  string
		shape netcoretest.Shape
	}{
		{"HasNextBool", netcoretest.Shape{HasNext: netcoretest.Bool, ExpiryKey: "expireAt", ExpiryFormat: netcoretest.ExpiryRFC3339, NameKey: "userName"}},
		{"HasNextInt", netcoretest.Shape{HasNext: netcoretest.Int, ExpiryKey: "expiresAt", ExpiryFormat: netcoretest.ExpiryEpochMillis, NameKey: "name"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each run has its own fakes; the Retry-After waits overlap
			sourcetest.Run(t, conformanceHarness(tt.shape))
		})
	}
}
