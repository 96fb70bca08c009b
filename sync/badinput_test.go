package sync

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/config"
	_ "github.com/leadsync/leadsync/connectors/all"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/internal/demo"
)

// One vendor answering garbage fails that vendor's run only: the engine runs
// every source of the same `once` to completion and pushes their persons.
func TestOneVendorAnsweringGarbageLeavesTheOthersUnaffected(t *testing.T) {
	garbage := []struct{ name, body string }{
		{"html", "<html><body>502 Bad Gateway</body></html>"},
		{"nested", strings.Repeat("[", 100000)},
	}
	vendors := []struct {
		instance string
		path     string // the listing path the garbage answers
		page     string // the page the run error names
		fake     func(*demo.Env) *vendortest.Server
	}{
		{"facebook", "api/v1/leads", "leads page 1", func(e *demo.Env) *vendortest.Server { return e.Roborder.Recorder() }},
		{"widget", "api/v1/leads/", "leads offset 0", func(e *demo.Env) *vendortest.Server { return e.Ask.Recorder() }},
		{"whatsapp", "/users", "page 1", func(e *demo.Env) *vendortest.Server { return e.Netcore.Recorder() }},
		{"chatbot", "inbox/direct/chats", "chats page 1", func(e *demo.Env) *vendortest.Server { return e.BotPenguin.Recorder() }},
	}
	for _, v := range vendors {
		for _, g := range garbage {
			t.Run(v.instance+" "+g.name, func(t *testing.T) {
				env, err := demo.Start(0, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(env.Close)
				// Every listing request of the vendor gets the garbage, however
				// many windows or pages the source asks for.
				v.fake(env).Inject(vendortest.Fault{Match: v.path, Status: 200, Body: g.body, Times: 1000})

				dir := t.TempDir()
				cfg, err := config.Parse([]byte(env.Config(filepath.Join(dir, "state.db"), "@every 1h")), func(string) (string, bool) { return "", false })
				if err != nil {
					t.Fatal(err)
				}
				eng, st, err := Open(cfg, Options{Logger: discardLogger()})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				sum, err := eng.Once(context.Background(), "", nil)
				if err == nil {
					t.Fatal("Once reported no error although one vendor answered garbage")
				}
				if len(sum.Runs) != len(eng.Sources()) || len(sum.Runs) < len(vendors) {
					t.Fatalf("%d runs, want one per source %v", len(sum.Runs), eng.Sources())
				}
				for _, r := range sum.Runs {
					if r.Instance == v.instance {
						if r.Err == nil || !strings.Contains(r.Err.Error(), v.page) || !strings.Contains(r.Err.Error(), "malformed JSON") {
							t.Errorf("%s: run error %v, want malformed JSON naming %q", r.Instance, r.Err, v.page)
						}
						continue
					}
					if r.Err != nil {
						t.Errorf("%s: run failed because %s answered garbage: %v", r.Instance, v.instance, r.Err)
					}
					if r.Stats.Records == 0 {
						t.Errorf("%s: no records staged", r.Instance)
					}
				}
				if sum.Push.Created+sum.Push.Adopted == 0 {
					t.Errorf("nothing pushed to the CRM: %+v", sum.Push)
				}
				if len(env.CRM.Leads()) < 3 {
					t.Errorf("the CRM holds %d leads, want the other vendors' persons", len(env.CRM.Leads()))
				}
			})
		}
	}
}
