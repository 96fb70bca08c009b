package netcore

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
	"github.com/leadsync/leadsync/lead"
)

func mustEntry(t *testing.T, raw string) entry {
	t.Helper()
	e, err := decodeEntry(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRenderEveryTranscriptType(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name  string
		entry string
		want  string
	}{
		{"text", `{"type":"text","text":{"message":"Hello  there\nfriend","buttons":[],"isRating":false}}`, "Hello there friend"},
		{"text as a string", `{"type":"text","text":"plain"}`, "plain"},
		{"image with url", `{"type":"image","image":{"url":"https://cdn.example.com/a.jpg"}}`, "[image] https://cdn.example.com/a.jpg"},
		{"image with caption", `{"type":"image","image":{"url":"https://cdn.example.com/a.jpg","caption":"my foot"}}`, "[image] my foot"},
		{"video", `{"type":"video","video":{"url":"https://cdn.example.com/v.mp4"}}`, "[video] https://cdn.example.com/v.mp4"},
		{"audio", `{"type":"audio","audio":{"url":"https://cdn.example.com/a.ogg"}}`, "[audio] https://cdn.example.com/a.ogg"},
		{"file", `{"type":"file","file":{"url":"https://cdn.example.com/f.bin","fileName":"invoice.pdf"}}`, "[file] invoice.pdf"},
		{"pdf", `{"type":"pdf","pdf":{"url":"https://cdn.example.com/c.pdf"}}`, "[pdf] https://cdn.example.com/c.pdf"},
		{"doc", `{"type":"doc","doc":{"url":"https://cdn.example.com/c.docx"}}`, "[doc] https://cdn.example.com/c.docx"},
		{"attachment", `{"type":"attachment","attachment":{"contentType":"image/png","contentUrl":"https://cdn.example.com/p.png"}}`, "[attachment] https://cdn.example.com/p.png"},
		{"reply buttons from the bot", `{"type":"reply","reply":{"header":{"type":"text","text":"Hi"},"body":"Pick one","action":{"buttons":[{"type":"reply","title":"Yes","id":"1"},{"type":"reply","title":"No","id":"2"}]}}}`, "[reply] Pick one: Yes, No"},
		{"reply from the user", `{"type":"reply","reply":{"title":"Yes","id":"1"}}`, "[reply] Yes"},
		{"button reply", `{"type":"buttonReply","buttonReply":{"title":"Track order","payload":"track"}}`, "[reply] Track order"},
		{"dynamic reply", `{"type":"dynamicReply","dynamicReply":{"body":"Choose","actions":{"buttons":[{"type":"reply","title":"A"}]}}}`, "[reply] Choose: A"},
		{"list", `{"type":"list","list":{"header":{"type":"text","text":"Sizes"},"body":"In stock","actions":{"button_text":"Pick","sections":[{"title":"EU","row":[{"title":"40"},{"title":"41"}]},{"title":"US","row":[{"title":"8"}]}]}}}`, "[list] Sizes: 40, 41, 8"},
		{"list reply from the user", `{"type":"list","list":{"title":"41","id":"s41"}}`, "[list] 41"},
		{"dynamic list", `{"type":"dynamicList","dynamicList":{"body":"Stores","actions":{"sections":[{"row":[{"title":"Pune"}]}]}}}`, "[list] Stores: Pune"},
		{"location", `{"type":"location","location":{"longitude":"73.85","latitude":"18.52","label":"Home","address":"Pune"}}`, "[location] 18.52,73.85 (Home)"},
		{"location with numbers, no name", `{"type":"location","location":{"longitude":73.85,"latitude":18.52}}`, "[location] 18.52,73.85"},
		{"order", `{"type":"order","order":{"catalogId":"c","items":[{"quantity":"2","price":"10.50","currency":"INR"},{"quantity":"1","price":"5","currency":"INR"}]}}`, "[order] 3 items, 26.00 INR"},
		{"order without prices", `{"type":"order","order":{"items":[{"retailerId":"x"}]}}`, "[order] 1 item"},
		{"template", `{"type":"template","template":{"name":"order_update","body":"Your order shipped","buttons":[]}}`, "[template] order_update"},
		{"contact", `{"type":"contact","contact":{"firstName":"Ravi","lastName":"K","phoneNumber":"+919800000000"}}`, "[contact] Ravi K +919800000000"},
		{"card", `{"type":"card","card":{"title":"Runner","subtitle":"Rs 1499"}}`, "[card] Runner"},
		{"carousel", `{"type":"carousel","carousel":[{"title":"A"},{"title":"B"}]}`, "[carousel] A, B"},
		{"form", `{"type":"form","form":{"title":"Sign up","name":"signup"}}`, "[form] Sign up"},
		{"product single", `{"type":"productSingle","productSingle":{"action":{"title":"Runner 40"}}}`, "[product] Runner 40"},
		{"product multi", `{"type":"productMulti","productMulti":{"header":{"type":"text","text":"Shoes"},"action":{"sections":[{"items":[{"title":"A"},{"title":"B"}]}]}}}`, "[products] Shoes: A, B"},
		{"unknown type", `{"type":"paymentStatus","paymentStatus":{"status":"captured","amount":3998}}`, `[paymentStatus] {"status":"captured","amount":3998}`},
		{"unknown type truncated", `{"type":"blob","blob":{"data":"` + long + `"}}`, `[blob] {"data":"` + strings.Repeat("x", 200-len(`{"data":"`)) + "..."},
		{"unknown type without payload", `{"type":"typing"}`, "[typing]"},
		{"known type with unexpected payload", `{"type":"location","location":{"label":"nowhere"}}`, `[location] {"label":"nowhere"}`},
		{"text with null payload", `{"type":"text","text":null}`, "[text]"},
		{"no type at all", `{"from":"Bot","createdAt":"2024-01-01T00:00:00Z"}`, `[unknown] {"from":"Bot","createdAt":"2024-01-01T00:00:00Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(mustEntry(t, tt.entry)); got != tt.want {
				t.Errorf("render = %q\nwant      %q", got, tt.want)
			}
		})
	}
}

func TestSenderRoles(t *testing.T) {
	for from, want := range map[string]string{"User": lead.SenderUser, "user": lead.SenderUser, "Bot": lead.SenderBot, "Agent": lead.SenderAgent, "System": lead.SenderBot, "": lead.SenderBot} {
		m, err := mustEntry(t, `{"from":"`+from+`","type":"text","text":{"message":"x"}}`).message("c", nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.Sender != want {
			t.Errorf("from %q: sender %q, want %q", from, m.Sender, want)
		}
	}
}

func TestTestdataTranscriptRendersEveryEntry(t *testing.T) {
	p, err := decodeTranscriptsPage(fixture.ReadTestdata(t, "transcripts_all_types.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, raw := range p.Transcripts {
		m, err := mustEntry(t, string(raw)).message("1014:+919876543210", nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Sender+": "+m.Text)
	}
	want := []string{
		"user: Hi, I want to order shoes",
		"bot: [reply] What are you looking for?: Shoes, Bags",
		"user: [reply] Shoes",
		"bot: [list] Pick a size: 40, 41",
		"user: [image] https://cdn.example.com/u/foot.jpg",
		"user: [location] 18.5204,73.8567 (Home)",
		"user: [order] 3 items, 3998.00 INR",
		"bot: [template] order_confirmation",
		"agent: Your shoes ship tomorrow.",
		`user: [paymentStatus] {"status":"captured","amount":3998,"gateway":"razorpay"}`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rendered transcript (-want +got):\n%s", d)
	}
	if p.more(1, 100) {
		t.Error("more pages after page 1 of 1")
	}
	if len(p.BotUser.Tags) != 2 || len(p.BotUser.CustomFields) != 3 {
		t.Errorf("botUser = %+v", p.BotUser)
	}
}

func TestMessageIDIsStableAndDistinct(t *testing.T) {
	a := mustEntry(t, `{"from":"User","type":"text","text":{"message":"hi","buttons":[]},"createdAt":"2024-04-29T18:30:00.000Z"}`)
	reformatted := mustEntry(t, `{ "createdAt": "2024-04-29T18:30:00.000Z", "text": { "buttons": [ ], "message": "hi" }, "type": "text", "from": "User" }`)
	if messageID("c", a) != messageID("c", reformatted) {
		t.Error("same message, different formatting: ids differ")
	}
	others := []struct {
		conv string
		e    string
	}{
		{"other", `{"from":"User","type":"text","text":{"message":"hi","buttons":[]},"createdAt":"2024-04-29T18:30:00.000Z"}`},
		{"c", `{"from":"Bot","type":"text","text":{"message":"hi","buttons":[]},"createdAt":"2024-04-29T18:30:00.000Z"}`},
		{"c", `{"from":"User","type":"text","text":{"message":"hi!","buttons":[]},"createdAt":"2024-04-29T18:30:00.000Z"}`},
		{"c", `{"from":"User","type":"text","text":{"message":"hi","buttons":[]},"createdAt":"2024-04-29T18:30:01.000Z"}`},
	}
	for _, o := range others {
		if messageID(o.conv, mustEntry(t, o.e)) == messageID("c", a) {
			t.Errorf("%s %s: same id as a different message", o.conv, o.e)
		}
	}
}

func TestIdenticalEntriesKeepDistinctIDs(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.AddUsers(netcoreUser("dup", "webchat"))
	same := `2024-04-30T10:00:00.000Z`
	for range 2 {
		e.fake.AddTranscript(1010, "dup", entryText("User", "ok", same))
	}
	pages := e.mustPull(t, nil)
	msgs := pages[0].Records[0].Conversations[0].Messages
	if len(msgs) != 2 || msgs[0].ID == msgs[1].ID {
		t.Errorf("messages = %+v, want two with distinct ids", msgs)
	}
	again := e.mustPull(t, nil)[0].Records[0].Conversations[0].Messages
	if d := cmp.Diff(msgs, again); d != "" {
		t.Errorf("second run differs (-first +second):\n%s", d)
	}
}

func TestWhatsAppIDWithoutPlusIsStillAnInternationalPhone(t *testing.T) {
	e := newEnv(t, nil) // region TN: a national reading would be wrong
	u := netcoreUser("919876543210", "whatsapp")
	e.fake.AddUsers(u)
	pages := e.mustPull(t, nil)
	if got := pages[0].Records[0].Phones; len(got) != 1 || got[0] != "+919876543210" {
		t.Errorf("phones = %v", got)
	}
}

func TestMessagesSortedByTime(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.AddUsers(netcoreUser("s", "webchat"))
	e.fake.AddTranscript(1010, "s",
		entryText("Bot", "second", "2024-04-30T10:00:02.000Z"),
		entryText("User", "first", "2024-04-30T10:00:01.000Z"))
	msgs := e.mustPull(t, nil)[0].Records[0].Conversations[0].Messages
	if len(msgs) != 2 || msgs[0].Text != "first" || !msgs[0].At.Before(msgs[1].At) {
		t.Errorf("messages = %+v", msgs)
	}
}
