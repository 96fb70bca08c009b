package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors/botpenguin/botpenguintest"
	"github.com/leadsync/leadsync/connectors/epixel/epixeltest"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
	"github.com/leadsync/leadsync/internal/demo"
)

// binary is the leadsync binary the end-to-end tests run, built once.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "leadsync-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "leadsync")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building leadsync: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// e2e is one test's fakes, configuration and state directory.
type e2e struct {
	t   *testing.T
	env *demo.Env
	dir string
	cfg string
}

func newE2E(t *testing.T, schedule string) *e2e {
	t.Helper()
	env, err := demo.Start(0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(env.Config(filepath.Join(dir, "state.db"), schedule)), 0o600); err != nil {
		t.Fatal(err)
	}
	return &e2e{t: t, env: env, dir: dir, cfg: cfg}
}

// leadsync runs the binary and returns stdout, stderr and the exit code.
func (e *e2e) leadsync(args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// personKey identifies a CRM lead's person for duplicate checks: its phone
// (every person the demo can create has one).
func byPhone(leads []epixeltest.Lead) map[string][]epixeltest.Lead {
	out := map[string][]epixeltest.Lead{}
	for _, l := range leads {
		out[l.Phone] = append(out[l.Phone], l)
	}
	return out
}

func TestOnceSyncsEveryPersonOnceWithNotes(t *testing.T) {
	e := newE2E(t, "@every 5m")
	out, stderr, code := e.leadsync("once", "--config", e.cfg)
	if code != 0 {
		t.Fatalf("once exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	leads := byPhone(e.env.CRM.Leads())
	want := map[string]struct {
		first, email string
		minNotes     int
	}{
		"21620123456": {"Ali", "ali.bensalah@example.tn", 2}, // roborder + askhandle room + whatsapp transcript
		"21652000111": {"Nour", "21652000111@no-email.invalid", 1},
		"21698765432": {"Sarra", "sarra.kefi@example.tn", 0}, // askhandle + botpenguin
		"33612345678": {"Hélène", "helene.dupre@example.fr", 0},
		"21698111222": {"Karim", "21698111222@no-email.invalid", 0},
		"21655111222": {"محمد", "mohamed.laarbi@example.tn", 0}, // typed into the CRM before, adopted, BotPenguin is newer
	}
	for phone, w := range want {
		ls := leads[phone]
		if len(ls) != 1 {
			t.Errorf("phone %s: %d CRM leads, want exactly 1", phone, len(ls))
			continue
		}
		l := ls[0]
		if !strings.EqualFold(l.FirstName, w.first) || l.Email != w.email || len(l.Notes) < w.minNotes {
			t.Errorf("phone %s: lead %s %s <%s> with %d notes; want %s <%s> with at least %d notes",
				phone, l.FirstName, l.LastName, l.Email, len(l.Notes), w.first, w.email, w.minNotes)
		}
	}
	if len(leads) != len(want) {
		t.Errorf("CRM holds %d persons, want %d: %v", len(leads), len(want), leads)
	}
	ali := leads["21620123456"][0]
	all := ""
	for _, n := range ali.Notes {
		all += n.Note + "\n"
	}
	for _, s := range []string{"red sneakers in 43", "size 43 is in stock", "Is my order ORD-00001 shipped?", "It left our warehouse"} {
		if strings.Count(all, s) != 1 {
			t.Errorf("Ali's notes hold %q %d times, want once:\n%s", s, strings.Count(all, s), all)
		}
	}
}

func TestSecondOnceMakesNoCRMWrite(t *testing.T) {
	e := newE2E(t, "@every 5m")
	if out, stderr, code := e.leadsync("once", "--config", e.cfg); code != 0 {
		t.Fatalf("first once: exit %d\n%s\n%s", code, out, stderr)
	}
	writes := e.env.CRM.Writes()
	if writes == 0 {
		t.Fatal("first once wrote nothing")
	}
	out, stderr, code := e.leadsync("once", "--config", e.cfg)
	if code != 0 {
		t.Fatalf("second once: exit %d\n%s\n%s", code, out, stderr)
	}
	if got := e.env.CRM.Writes(); got != writes {
		t.Fatalf("second once made %d CRM writes, want 0\n%s", got-writes, out)
	}
}

func TestRefusedLeadsAppearInDLQList(t *testing.T) {
	e := newE2E(t, "@every 5m")
	if out, stderr, code := e.leadsync("once", "--config", e.cfg); code != 0 {
		t.Fatalf("once: exit %d\n%s\n%s", code, out, stderr)
	}
	out, stderr, code := e.leadsync("dlq", "list", "--config", e.cfg)
	if code != 0 {
		t.Fatalf("dlq list: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("dlq list printed %d lines, want 1 (Youssef, no phone):\n%s", len(lines), out)
	}
	for _, s := range []string{"youssef@example.tn", "widget:6f1c2a9e-0003", "phone"} {
		if !strings.Contains(lines[0], s) {
			t.Errorf("dlq line lacks %q: %s", s, lines[0])
		}
	}
	id := strings.Fields(lines[0])[0]
	out, _, code = e.leadsync("dlq", "replay", "--config", e.cfg, id)
	if code != 0 || !strings.Contains(out, "1 entries") {
		t.Fatalf("replay: exit %d: %s", code, out)
	}
	// Replayed and refused again: back in the DLQ, nothing lost.
	e.leadsync("once", "--config", e.cfg)
	out, _, _ = e.leadsync("dlq", "list", "--config", e.cfg)
	if !strings.Contains(out, "youssef@example.tn") {
		t.Fatalf("after replay, dlq list:\n%s", out)
	}
}

func TestCheckReportsBadConfigOnOneLine(t *testing.T) {
	e := newE2E(t, "@every 5m")
	if out, stderr, code := e.leadsync("check", "--config", e.cfg); code != 0 {
		t.Fatalf("check of a good config: exit %d %s %s", code, out, stderr)
	}
	bad := filepath.Join(e.dir, "bad.yaml")
	b, _ := os.ReadFile(e.cfg)
	os.WriteFile(bad, bytes.Replace(b, []byte("type: askhandle"), []byte("type: askhandel"), 1), 0o600)
	_, stderr, code := e.leadsync("check", "--config", bad)
	if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "connectors.widget.type") {
		t.Fatalf("check of a bad config: exit %d, stderr %q", code, stderr)
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	e := &e2e{t: t}
	for _, c := range [][]string{{"run"}, {"once"}, {"check"}, {"dlq", "list"}, {"dlq", "replay"}, {"state", "show"}, {"demo"}, {"healthcheck"}} {
		out, stderr, code := e.leadsync(append(c, "--help")...)
		if code != 0 || !strings.Contains(out+stderr, "leadsync "+c[0]) {
			t.Errorf("%v --help: exit %d, output %q", c, code, out+stderr)
		}
	}
	out, _, code := e.leadsync("version")
	if code != 0 || !strings.HasPrefix(out, "leadsync ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestSecondDaemonOnSameStateExitsAtOnce(t *testing.T) {
	e := newE2E(t, "@every 1h")
	d := e.startDaemon()
	defer d.stop()
	start := time.Now()
	_, stderr, code := e.leadsync("once", "--config", e.cfg)
	if code == 0 || !strings.Contains(stderr, "locked by another leadsync process") {
		t.Fatalf("second process: exit %d, stderr %q", code, stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("second process took %v to fail", d)
	}
}

func TestStateShowExplainsAPerson(t *testing.T) {
	e := newE2E(t, "@every 5m")
	if out, stderr, code := e.leadsync("once", "--config", e.cfg); code != 0 {
		t.Fatalf("once: %d\n%s\n%s", code, out, stderr)
	}
	for _, q := range []string{"ALI.BENSALAH@example.tn", "20 123 456", "facebook:1"} {
		out, stderr, code := e.leadsync("state", "show", q, "--config", e.cfg)
		if code != 0 {
			t.Fatalf("state show %q: %d %s", q, code, stderr)
		}
		for _, s := range []string{"CRM id: ali-ben-salah", "facebook:1", "widget:6f1c2a9e-0001", "whatsapp:nc-1", "first_name  Ali", "from whatsapp:nc-1", "notes: 7 messages"} {
			if !strings.Contains(out, s) {
				t.Errorf("state show %q lacks %q:\n%s", q, s, out)
			}
		}
	}
	if _, stderr, code := e.leadsync("state", "show", "nobody@example.tn", "--config", e.cfg); code == 0 || !strings.Contains(stderr, "no person matches") {
		t.Errorf("unknown person: %d %q", code, stderr)
	}
}

// TestRequestsPerRunAndUnchangedRerun records what one run asks of each
// vendor for the demo data set, and that an unchanged second run reads the
// same and writes nothing.
func TestRequestsPerRunAndUnchangedRerun(t *testing.T) {
	e := newE2E(t, "@every 5m")
	recorders := map[string]interface {
		Requests() []vendortest.Request
		Reset()
	}{
		"roborder": e.env.Roborder.Recorder(), "askhandle": e.env.Ask.Recorder(), "netcore": e.env.Netcore.Recorder(),
		"botpenguin": e.env.BotPenguin.Recorder(), "epixel": e.env.CRM.Recorder(),
	}
	count := func() map[string]string {
		out := map[string]string{}
		for name, r := range recorders {
			byCall := map[string]int{}
			for _, q := range r.Requests() {
				byCall[q.Method+" "+q.Path]++
			}
			out[name] = fmt.Sprint(byCall)
			r.Reset()
		}
		return out
	}
	if _, stderr, code := e.leadsync("once", "--config", e.cfg); code != 0 {
		t.Fatal(stderr)
	}
	first := count()
	writes := e.env.CRM.Writes()
	if _, stderr, code := e.leadsync("once", "--config", e.cfg); code != 0 {
		t.Fatal(stderr)
	}
	second := count()
	for _, v := range []string{"roborder", "askhandle", "netcore", "botpenguin", "epixel"} {
		t.Logf("%-10s first run:  %s", v, first[v])
		t.Logf("%-10s second run: %s", v, second[v])
	}
	if w := e.env.CRM.Writes(); w != writes {
		t.Errorf("unchanged rerun wrote %d times to the CRM", w-writes)
	}
	if strings.Contains(second["epixel"], "create") || strings.Contains(second["epixel"], "update") {
		t.Errorf("unchanged rerun sent CRM writes: %s", second["epixel"])
	}
}

// TestVendorStatusChangeReachesTheCRM: the CRM is polled as a source, so by
// the second run its own record of Sarra agrees with her merged names and
// contacts; her BotPenguin status then changes to one status_map maps. The
// next run must write the mapped status (it used to skip the update because
// names, email and phone agreed), and the run after it nothing.
func TestVendorStatusChangeReachesTheCRM(t *testing.T) {
	e := newE2E(t, "@every 5m")
	cfg, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The crm block is the configuration's last.
	cfg = append(cfg, "    status_map: {closed: customer}\n"...)
	if err := os.WriteFile(e.cfg, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	once := func(what string) {
		t.Helper()
		if out, stderr, code := e.leadsync("once", "--config", e.cfg); code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", what, code, out, stderr)
		}
	}
	sarra := func() epixeltest.Lead {
		t.Helper()
		ls := byPhone(e.env.CRM.Leads())["21698765432"]
		if len(ls) != 1 {
			t.Fatalf("%d CRM leads for Sarra, want 1", len(ls))
		}
		return ls[0]
	}
	once("first once")
	once("second once") // reads Sarra's lead back from the CRM
	if s := sarra().Status; s != "prospect" {
		t.Fatalf("Sarra's status %q before the change, want the default prospect", s)
	}
	body := fmt.Sprintf(`{"uuid":"c0ffee01","botId":%q,"customerId":%q,"status":"CLOSED"}`, botpenguintest.BotID, botpenguintest.CustomerID)
	req, err := http.NewRequest(http.MethodPut, e.env.URLs["chatbot"]+"inbox/direct/lead", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-bot-token", botpenguintest.Token)
	req.Header.Set("Content-Type", "application/json")
	if code, answer := fixture.Do(t, req); code != http.StatusOK {
		t.Fatalf("BotPenguin upsert: HTTP %d %s", code, answer)
	}
	once("once after the status change")
	if s := sarra().Status; s != "customer" {
		t.Fatalf("Sarra's CRM status %q after her BotPenguin chat closed, want customer", s)
	}
	writes := e.env.CRM.Writes()
	once("once after the update")
	once("once after the update, read back")
	if got := e.env.CRM.Writes(); got != writes {
		t.Fatalf("%d CRM writes after the status was written, want 0", got-writes)
	}
}
