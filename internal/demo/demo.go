// Package demo runs the five fake vendors with sample data written the way
// real people and real vendors write it: the same person on several
// vendors, phones with and without country codes, emails in other cases.
// `leadsync demo`, cmd/vendorsim and the end-to-end tests use it.
package demo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/leadsync/leadsync/connectors/askhandle/askhandletest"
	"github.com/leadsync/leadsync/connectors/botpenguin/botpenguintest"
	"github.com/leadsync/leadsync/connectors/epixel/epixeltest"
	"github.com/leadsync/leadsync/connectors/netcore/netcoretest"
	"github.com/leadsync/leadsync/connectors/roborder/robordertest"
)

// Env is the running fakes.
type Env struct {
	Roborder *robordertest.Fake
	Ask      *askhandletest.Fake
	Netcore  *netcoretest.Fake
	CRM      *epixeltest.Fake
	// BotPenguin is the fake BotPenguin.
	BotPenguin *botpenguintest.Fake

	// URLs maps a connector instance name to its fake's base URL.
	URLs    map[string]string
	servers []*http.Server
	crmHook atomic.Pointer[Hook]
}

// Hook sees every CRM request twice: before the fake handles it, and after
// it handled it but before the answer leaves (when the CRM has committed a
// write the client has not yet heard of). Tests use it to kill leadsync at
// exact moments, or to slow the CRM down.
type Hook func(stage Stage, r *http.Request)

// Stage says when a Hook runs.
type Stage int

// Hook stages.
const (
	Before Stage = iota
	After
)

// SetCRMHook installs (or, with nil, removes) the CRM hook.
func (e *Env) SetCRMHook(h Hook) {
	if h == nil {
		e.crmHook.Store(nil)
		return
	}
	e.crmHook.Store(&h)
}

// hooked wraps the CRM handler with the hook.
func (e *Env) hooked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hp := e.crmHook.Load()
		if hp == nil {
			next.ServeHTTP(w, r)
			return
		}
		(*hp)(Before, r)
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		(*hp)(After, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

// Start serves every fake on its own 127.0.0.1 port (or on ports from
// base, when base > 0: base, base+1, ...) and loads the sample data.
func Start(base int, now time.Time) (*Env, error) {
	e := &Env{
		Roborder:   robordertest.New(),
		Ask:        askhandletest.New(),
		Netcore:    netcoretest.New(),
		CRM:        epixeltest.New(),
		BotPenguin: botpenguintest.New(),
		URLs:       map[string]string{},
	}
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"facebook", e.Roborder.Handler()},
		{"widget", e.Ask.Handler()},
		{"whatsapp", e.Netcore.Handler()},
		{"crm", e.hooked(e.CRM.Handler())},
		{"chatbot", e.BotPenguin.Handler()},
	}
	for i, h := range handlers {
		addr := "127.0.0.1:0"
		if base > 0 {
			addr = fmt.Sprintf("127.0.0.1:%d", base+i)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("fake %s: %w", h.name, err)
		}
		srv := &http.Server{Handler: h.h, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		e.servers = append(e.servers, srv)
		e.URLs[h.name] = "http://" + ln.Addr().String() + "/"
	}
	e.Seed(now)
	return e, nil
}

// Close stops every fake.
func (e *Env) Close() {
	for _, s := range e.servers {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.Shutdown(ctx)
		cancel()
	}
}

// Config is a leadsync configuration for the fakes. statePath is where the
// store goes; schedule is every source's schedule.
func (e *Env) Config(statePath, schedule string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `state: {path: %q}
listen: ""
default_region: TN
target: crm
log: {level: warn, format: text}
push: {concurrency: 4, max_backoff: 2s}
connectors:
  facebook:
    type: roborder
    base_url: %s
    schedule: %q
    rate_limit: {rps: 50, burst: 10}
    auth: {email: %q, password: %q}
  widget:
    type: askhandle
    base_url: %s
    schedule: %q
    rate_limit: {rps: 50, burst: 10}
    auth: {api_key: %q}
  whatsapp:
    type: netcore
    base_url: %s
    schedule: %q
    rate_limit: {rps: 50, burst: 10}
    auth: {app_id: %q, app_secret: %q}
    channels: [1010, 1014, 1016]
`, statePath, e.URLs["facebook"], schedule, robordertest.Email, robordertest.Password,
		e.URLs["widget"], schedule, askhandletest.APIKey,
		e.URLs["whatsapp"], schedule, netcoretest.AppID, netcoretest.AppSecret)
	b.WriteString(botpenguinConfig(e.URLs["chatbot"], schedule))
	fmt.Fprintf(&b, `  crm:
    type: epixel
    base_url: %s
    schedule: %q
    rate_limit: {rps: 100, burst: 20}
    auth: {api_key: %q, username: %q, password: %q}
    placeholder_last_name: "-"
    placeholder_email: "{phone}@no-email.invalid"
    source_map: {facebook: Facebook, widget: Website, whatsapp: WhatsApp, chatbot: Chatbot}
`, e.URLs["crm"], schedule, epixeltest.APIKey, epixeltest.Username, epixeltest.Password)
	return b.String()
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// DemoWhatsAppMessages is the WhatsApp message count the demo's Netcore
// usage reports for the current month.
const DemoWhatsAppMessages = 5

// Seed loads the sample persons.
func (e *Env) Seed(now time.Time) {
	day := func(d int) time.Time { return now.Add(-time.Duration(d) * 24 * time.Hour) }

	// Roborder: Facebook and Instagram orders; phones as national digits.
	e.Roborder.AddLeads(
		robordertest.Lead{ID: 1, Code: "ORD-00001", CustomerName: "Ali Ben Salah", Platform: "Facebook", PageName: "Souk Shoes", Phone: "20123456", CreatedAt: ts(day(5))},
		robordertest.Lead{ID: 2, Code: "ORD-00002", CustomerName: "Nour  Trabelsi", Platform: "Instagram", PageName: "Souk Shoes", Phone: "52 000 111", CreatedAt: ts(day(4))},
		robordertest.Lead{ID: 3, Code: "ORD-00003", CustomerName: "Hélène Dupré", Platform: "Instagram", PageName: "Souk Shoes", Phone: "+33 6 12 34 56 78", Email: "helene.dupre@example.fr", CreatedAt: ts(day(3))},
		robordertest.Lead{ID: 4, Code: "ORD-00004", CustomerName: "Karim", Platform: "Facebook", PageName: "Souk Shoes", Phone: "98 111 222", CreatedAt: ts(day(2))},
	)

	// AskHandle: the website widget; Ali again (email, phone with +216), Sarra, and
	// Youssef, who left no phone (the CRM requires one: he goes to the DLQ).
	e.Ask.AddLead(askhandletest.Lead{UUID: "6f1c2a9e-0001", Nickname: "ali ben salah", Email: "Ali.BenSalah@Example.TN", PhoneNumber: "+216 20 123 456", Device: "mobile", FromPageTitle: "Pricing", CreatedAt: ts(day(4))})
	e.Ask.AddLead(askhandletest.Lead{UUID: "6f1c2a9e-0002", Nickname: "Sarra Kefi", Email: "SARRA.KEFI@example.tn", PhoneNumber: "+216 98 765 432", FromPageTitle: "Contact", CreatedAt: ts(day(3))})
	e.Ask.AddLead(askhandletest.Lead{UUID: "6f1c2a9e-0003", Nickname: "Youssef", Email: "youssef@example.tn", FromPageTitle: "Home", CreatedAt: ts(day(2))})
	e.Ask.AddRoom(askhandletest.Room{UUID: "room-ali", Label: "Shoe sizes", Name: "Ali", CreatedAt: ts(day(4))})
	msgs := []struct {
		support bool
		body    string
		at      time.Time
	}{
		{false, "Hello, do you have the red sneakers in 43?", day(4)},
		{true, "Hi Ali! Yes, size 43 is in stock.", day(4).Add(2 * time.Minute)},
		{false, "Great, can you deliver to Sfax?", day(4).Add(3 * time.Minute)},
		{true, "Yes, delivery to Sfax takes 2 days.", day(4).Add(5 * time.Minute)},
	}
	for i, m := range msgs {
		am := askhandletest.Message{UUID: fmt.Sprintf("msg-ali-%d", i+1), Body: m.body, IsSupportSender: m.support, SentAt: ts(m.at), Room: "room-ali"}
		if !m.support {
			am.Nickname, am.Email, am.PhoneNumber = "ali ben salah", "ali.bensalah@example.tn", "+21620123456"
		}
		e.Ask.AddMessage(am)
	}

	// Netcore: WhatsApp users are their phones; Ali and Nour again.
	e.Netcore.AddUsers(
		netcoretest.User{UserID: "nc-1", BotUserID: "+21620123456", ChannelName: "whatsapp", Name: "Ali", CreatedDate: ts(day(6)), FirstInteracted: ts(day(6)), LastInteracted: ts(day(1))},
		netcoretest.User{UserID: "nc-2", BotUserID: "+21652000111", ChannelName: "whatsapp", Name: "Nour T.", CreatedDate: ts(day(3)), FirstInteracted: ts(day(3)), LastInteracted: ts(day(1))},
	)
	e.Netcore.AddTranscript(1014, "+21620123456",
		netcoretest.Entry{From: "User", Type: "text", Payload: map[string]any{"text": "Is my order ORD-00001 shipped?"}, CreatedAt: ts(day(1))},
		netcoretest.Entry{From: "Bot", Type: "text", Payload: map[string]any{"text": "Let me check that for you."}, CreatedAt: ts(day(1).Add(time.Second))},
		netcoretest.Entry{From: "Agent", Type: "text", Payload: map[string]any{"text": "It left our warehouse this morning."}, CreatedAt: ts(day(1).Add(time.Minute))},
	)
	e.Netcore.AddTranscript(1014, "+21652000111",
		netcoretest.Entry{From: "User", Type: "location", Payload: map[string]any{"latitude": 36.8, "longitude": 10.18, "name": "Tunis"}, CreatedAt: ts(day(1))},
		netcoretest.Entry{From: "Bot", Type: "list", Payload: map[string]any{"title": "Our stores", "items": []any{map[string]any{"title": "Tunis Centre"}}}, CreatedAt: ts(day(1).Add(time.Second))},
	)

	// This month's WhatsApp usage, exported as netcore_bot_usage_* gauges.
	month := time.Date(now.UTC().Year(), now.UTC().Month(), 1, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
	e.Netcore.SetUsage(month, 1014, netcoretest.Usage{TotalMessages: DemoWhatsAppMessages, TotalUsers: 2})

	// The CRM already knows Mohamed (a salesperson typed him in): adopted, not duplicated.
	e.CRM.AddLead(epixeltest.Lead{FirstName: "Mohamed", LastName: "Laarbi", Email: "mohamed.laarbi@example.tn", Phone: "21655111222", Status: "contact", CreatedAt: day(30), UpdatedAt: day(30)})

	seedBotPenguin(e.BotPenguin, now)
}

// SeedMany adds n generated persons: each a Roborder order with a national
// phone, every second one also an AskHandle lead with an email and the
// phone written with +216, every fourth one with a chat room. It returns
// the phones (E.164 digits, as the CRM stores them) of every person.
func (e *Env) SeedMany(n int, now time.Time) []string {
	phones := make([]string, 0, n)
	for i := range n {
		national := fmt.Sprintf("2%07d", 3000000+i)
		phones = append(phones, "216"+national)
		at := ts(now.Add(-time.Duration(i%48) * time.Hour))
		e.Roborder.AddLeads(robordertest.Lead{ID: 1000 + i, Code: fmt.Sprintf("ORD-%05d", 1000+i), CustomerName: fmt.Sprintf("Person%d Gen", i), Platform: "Facebook", PageName: "Souk Shoes", Phone: national, CreatedAt: at})
		if i%2 == 0 {
			email := fmt.Sprintf("person%d@example.tn", i)
			e.Ask.AddLead(askhandletest.Lead{UUID: fmt.Sprintf("gen-%06d", i), Nickname: fmt.Sprintf("Person%d Gen", i), Email: strings.ToUpper(email), PhoneNumber: "+216 " + national, CreatedAt: at})
			if i%4 == 0 {
				room := fmt.Sprintf("room-gen-%06d", i)
				e.Ask.AddRoom(askhandletest.Room{UUID: room, Label: "Question", CreatedAt: at})
				e.Ask.AddMessage(askhandletest.Message{UUID: room + "-1", Nickname: "Person", Email: email, Body: fmt.Sprintf("Question number %d", i), SentAt: at, Room: room})
				e.Ask.AddMessage(askhandletest.Message{UUID: room + "-2", Body: fmt.Sprintf("Answer number %d", i), IsSupportSender: true, SentAt: at, Room: room})
			}
		}
	}
	return phones
}
