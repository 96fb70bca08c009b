package demo

import (
	"fmt"
	"time"

	"github.com/leadsync/leadsync/connectors/botpenguin/botpenguintest"
)

// botpenguinConfig is the demo configuration of the BotPenguin instance.
func botpenguinConfig(url, schedule string) string {
	return fmt.Sprintf(`  chatbot:
    type: botpenguin
    base_url: %s
    schedule: %q
    rate_limit: {rps: 50, burst: 10}
    auth: {token: %q}
    bot_id: %q
    customer_id: %q
`, url, schedule, botpenguintest.Token, botpenguintest.BotID, botpenguintest.CustomerID)
}

// seedBotPenguin loads the BotPenguin chats of the sample persons.
func seedBotPenguin(f *botpenguintest.Fake, now time.Time) {
	at := func(d int) string { return ts(now.Add(-time.Duration(d) * 24 * time.Hour)) }
	f.AddChats(
		// Sarra again, phone written nationally with a dial code, email in lower case.
		botpenguintest.Chat{ID: "bp-1", UUID: "c0ffee01", Status: "INPROGRESS", CreatedAt: at(3), UpdatedAt: at(2), Lead: true,
			Name: "Sarra Kefi", Email: "sarra.kefi@example.tn", Phone: "98765432", DialCode: "+216",
			Tags: []string{"vip"}, LastMessage: &botpenguintest.LastMessage{By: "user", At: at(2), Text: "Thanks!", Channel: "website"}},
		// Mohamed, in the nested contact shape, whom the CRM already knows: adopted.
		botpenguintest.Chat{ID: "bp-2", UUID: "c0ffee02", Status: "OPEN", CreatedAt: at(2), UpdatedAt: at(1), Lead: true, Nested: true,
			Name: "محمد العربي", Email: "Mohamed.Laarbi@example.tn", Phone: "55111222", DialCode: "216",
			Attributes: []botpenguintest.Attribute{{Key: "city", Value: "Tunis"}}},
		// Not a lead: never read.
		botpenguintest.Chat{ID: "bp-3", UUID: "c0ffee03", Status: "CLOSED", CreatedAt: at(1), Name: "Visitor", Lead: false},
	)
}
