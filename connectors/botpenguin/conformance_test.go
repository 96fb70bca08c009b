package botpenguin_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/botpenguin"
	"github.com/leadsync/leadsync/connectors/botpenguin/botpenguintest"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/lead"
)

func conformanceChat(i int) botpenguintest.Chat {
	return botpenguintest.Chat{
		UUID: fmt.Sprintf("conf-%d", i), Lead: true, Nested: i%2 == 0, Status: "OPEN",
		Name: fmt.Sprintf("Person Number%d", i), Phone: fmt.Sprintf("98%08d", i), DialCode: "+91",
		CreatedAt: "2024-06-01T10:00:00.000Z", UpdatedAt: "2024-06-01T10:00:00.000Z",
	}
}

func TestConformance(t *testing.T) {
	var fake *botpenguintest.Fake
	sourcetest.Run(t, sourcetest.Harness{
		NewFake: func(t *testing.T, persons int) (http.Handler, *vendortest.Server) {
			fake = botpenguintest.New()
			fake.SetPageSize(3)
			for i := 1; i <= persons; i++ {
				fake.AddChats(conformanceChat(i))
			}
			return fake.Handler(), fake.Recorder()
		},
		Instance:  instance,
		NewSource: func(in *connectors.Instance) (connectors.Source, error) { return botpenguin.NewSource(in) },
		ListPath:  "inbox/direct/chats",
		AddPerson: func(i int) { fake.AddChats(conformanceChat(i)) },
		PersonKey: func(r lead.Record) string { return r.SourceID },
	})
}
