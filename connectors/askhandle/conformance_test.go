package askhandle_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/askhandle"
	"github.com/leadsync/leadsync/connectors/askhandle/askhandletest"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/lead"
)

// conformanceLead is person i, created i hours before the test clock's now
// (so inside the backfill window); created = now for the ones the suite adds.
func conformanceLead(i int, created time.Time) askhandletest.Lead {
	return askhandletest.Lead{
		UUID: fmt.Sprintf("conf-%04d", i), Nickname: fmt.Sprintf("Person Number%d", i),
		Email: fmt.Sprintf("person%d@example.com", i), PhoneNumber: fmt.Sprintf("+2162%07d", i),
		Device: "desktop", FromPageTitle: "Pricing", Referrer: "https://www.google.com/",
		CreatedAt: created.UTC().Format(time.RFC3339),
	}
}

// conformanceHarness serves leads (and one chat room per person, so a rerun
// also compares conversations) in shape, 3 per page, with either credential
// form.
func conformanceHarness(shape askhandletest.Shape, auth map[string]string, renewable bool) sourcetest.Harness {
	// The bare shape also writes each message's room as a bare uuid and
	// repeats the messages inline in their rooms: the other forms vendors.md
	// accepts, which must not change what a rerun reads.
	roomField, inline := askhandletest.RoomObject, askhandletest.InlineNone
	if shape == askhandletest.BareArray {
		roomField, inline = askhandletest.RoomString, askhandletest.InlineObjects
	}
	var fake *askhandletest.Fake
	return sourcetest.Harness{
		NewFake: func(t *testing.T, persons int) (http.Handler, *vendortest.Server) {
			fake = askhandletest.New()
			fake.SetShape(shape)
			fake.SetRoomField(roomField)
			fake.SetInline(inline)
			for i := 1; i <= persons; i++ {
				fake.AddLead(conformanceLead(i, now.Add(-time.Duration(i)*time.Hour)))
				room := fmt.Sprintf("room-%04d", i)
				fake.AddRoom(askhandletest.Room{UUID: room, Label: "Pricing", CreatedAt: "2024-03-19T10:00:00Z"})
				fake.AddMessage(askhandletest.Message{
					UUID: fmt.Sprintf("msg-%04d", i), Room: room, Nickname: fmt.Sprintf("Person Number%d", i),
					Email: fmt.Sprintf("person%d@example.com", i), Body: "How much is it?", SentAt: "2024-03-19T10:00:05Z",
				})
			}
			return fake.Handler(), fake.Recorder()
		},
		Instance: func(baseURL string) *connectors.Instance {
			return &connectors.Instance{
				Name: "ah", Type: "askhandle", BaseURL: baseURL, Region: "TN", Auth: auth,
				Options: map[string]any{"page_size": 3},
				Clock:   func() time.Time { return now },
			}
		},
		NewSource: func(in *connectors.Instance) (connectors.Source, error) { return askhandle.NewSource(in) },
		ListPath:  "api/v1/leads/",
		Renewable: renewable,
		LoginPath: "api/v1/auth/api-token",
		AddPerson: func(i int) { fake.AddLead(conformanceLead(i, now)) },
		PersonKey: func(r lead.Record) string {
			if strings.HasPrefix(r.SourceID, "room:") {
				return "" // room records: the persons are the leads
			}
			return r.SourceID
		},
	}
}

// TestConformance runs the suite in both list shapes with both credential
// forms: an api_key cannot be renewed after a 401, a login token can.
func TestConformance(t *testing.T) {
	for _, shape := range []struct {
		name  string
		shape askhandletest.Shape
	}{{"Paginated", askhandletest.Paginated}, {"BareArray", askhandletest.BareArray}} {
		t.Run(shape.name+"/APIKey", func(t *testing.T) {
			t.Parallel() // each variant has its own fakes; the Retry-After waits overlap
			sourcetest.Run(t, conformanceHarness(shape.shape, apiKeyAuth(), false))
		})
		t.Run(shape.name+"/Login", func(t *testing.T) {
			t.Parallel()
			sourcetest.Run(t, conformanceHarness(shape.shape, loginAuth(), true))
		})
	}
}
