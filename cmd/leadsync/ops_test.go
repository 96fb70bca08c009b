package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
	"github.com/leadsync/leadsync/internal/demo"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	status, b := fixture.Do(t, req)
	return status, string(b)
}

// metricValue finds one sample "name{labels} value" in a Prometheus text page.
func metricValue(t *testing.T, page, name, labels string) float64 {
	t.Helper()
	for _, line := range strings.Split(page, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := strings.TrimPrefix(line, name)
		matches := true
		for _, l := range strings.Split(labels, ",") {
			matches = matches && strings.Contains(rest, l)
		}
		if labels != "" && !matches {
			continue
		}
		if labels == "" && strings.HasPrefix(rest, "{") {
			continue
		}
		f := strings.Fields(rest)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		return v
	}
	t.Fatalf("no metric %s%s in:\n%s", name, labels, page)
	return 0
}

// TestMetricsHealthAndStatusAfterAKnownSync runs the daemon against the
// demo fakes, waits until every source ran and the pusher finished, and
// checks what /metrics, /healthz, /readyz and /status say.
func TestMetricsHealthAndStatusAfterAKnownSync(t *testing.T) {
	e := newE2E(t, "@every 1h")
	addr := freeAddr(t)
	d := e.startDaemon("LEADSYNC_LISTEN=" + addr)
	defer d.stop()
	finished := map[string]bool{}
	for len(finished) < 5 {
		m := d.waitFor("run finished", 60*time.Second)
		finished[m["connector"].(string)] = true
	}
	d.waitFor("push finished", 60*time.Second)
	base := "http://" + addr

	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz: %d %q", code, body)
	}
	code, page := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, c := range []string{"facebook", "widget", "whatsapp", "chatbot", "crm"} {
		if v := metricValue(t, page, "leadsync_source_runs_total", `connector="`+c+`",result="ok"`); v != 1 {
			t.Errorf("runs ok for %s = %v, want 1", c, v)
		}
		if v := metricValue(t, page, "leadsync_source_last_success_timestamp_seconds", `connector="`+c+`"`); v < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("last success of %s = %v, not recent", c, v)
		}
	}
	if v := metricValue(t, page, "leadsync_source_records_total", `connector="facebook",outcome="changed"`); v != 4 {
		t.Errorf("facebook changed records = %v, want 4", v)
	}
	if v := metricValue(t, page, "leadsync_http_requests_total", `connector="crm",code="200"`); v < 6 {
		t.Errorf("CRM 200s = %v, want at least one per lead", v)
	}
	if v := metricValue(t, page, "leadsync_dlq_depth", ""); v != 1 {
		t.Errorf("dlq depth = %v, want 1", v)
	}
	if v := metricValue(t, page, "leadsync_outbox_depth", ""); v != 0 {
		t.Errorf("outbox depth = %v, want 0", v)
	}
	if v := metricValue(t, page, "leadsync_pushes_total", `result="dlq"`); v != 1 {
		t.Errorf("dlq pushes = %v, want 1", v)
	}
	if v := metricValue(t, page, "leadsync_crm_request_duration_seconds_count", `method="POST"`); v < 6 {
		t.Errorf("CRM POST latency samples = %v", v)
	}
	if v := metricValue(t, page, "netcore_bot_usage_messages", `connector="whatsapp",channel="whatsapp"`); v != demo.DemoWhatsAppMessages {
		t.Errorf("netcore WhatsApp usage gauge = %v, want the fake's %d", v, demo.DemoWhatsAppMessages)
	}

	_, body := get(t, base+"/status")
	var st struct {
		Sources []struct {
			Instance   string
			LastResult string `json:"last_result"`
			Cursor     string
			Counts     struct{ Records int }
		}
		OutboxDepth int `json:"outbox_depth"`
		DLQDepth    int `json:"dlq_depth"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	if len(st.Sources) != 5 || st.DLQDepth != 1 || st.OutboxDepth != 0 {
		t.Errorf("/status: %s", body)
	}
	for _, s := range st.Sources {
		if s.LastResult != "ok" {
			t.Errorf("/status %s last result %q", s.Instance, s.LastResult)
		}
		if s.Instance == "widget" && (s.Cursor == "" || s.Counts.Records != 4) {
			t.Errorf("/status widget: cursor %q records %d", s.Cursor, s.Counts.Records)
		}
	}

	// Health check subcommand against the live daemon.
	if out, stderr, code := e.leadsync("healthcheck", "--url", base+"/readyz"); code != 0 {
		t.Errorf("healthcheck: %d %s %s", code, out, stderr)
	}
	took, err := d.terminate(30 * time.Second)
	if err != nil {
		t.Fatalf("SIGTERM exit: %v\n%s", err, d.log())
	}
	t.Logf("exit after SIGTERM took %v", took)
	if _, _, code := e.leadsync("healthcheck", "--url", base+"/readyz"); code == 0 {
		t.Error("healthcheck passed with the daemon stopped")
	}
}

// TestSIGTERMDuringBusyPushExitsCleanlyAndNextRunCompletes stops the
// daemon in the middle of a slow push: it must exit 0 within the shutdown
// deadline, and the next `once` must complete the work with no duplicate.
func TestSIGTERMDuringBusyPushExitsCleanlyAndNextRunCompletes(t *testing.T) {
	e := newE2E(t, "@every 1h")
	phones := e.env.SeedMany(60, time.Now())
	writes := make(chan struct{}, 1000)
	e.env.SetCRMHook(func(s demo.Stage, r *http.Request) {
		if s == demo.Before && r.Method == http.MethodPost && strings.Contains(r.URL.Path, "create/lead") {
			time.Sleep(50 * time.Millisecond) // a slow CRM
			select {
			case writes <- struct{}{}:
			default:
			}
		}
	})
	d := e.startDaemon("LEADSYNC_PUSH_CONCURRENCY=2")
	defer d.stop()
	for range 5 {
		select {
		case <-writes:
		case <-time.After(60 * time.Second):
			t.Fatalf("no CRM create:\n%s", d.log())
		}
	}
	took, err := d.terminate(30 * time.Second)
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, d.log())
	}
	if took > 25*time.Second {
		t.Errorf("exit took %v, over the 20 s shutdown deadline", took)
	}
	if n := len(e.env.CRM.Leads()); n >= len(phones)+6 {
		t.Fatalf("push finished before SIGTERM (%d leads): the test proved nothing", n)
	}
	e.env.SetCRMHook(nil)
	if out, stderr, code := e.leadsync("once", "--config", e.cfg); code != 0 {
		t.Fatalf("once after SIGTERM: %d\n%s\n%s", code, out, stderr)
	}
	leads := byPhone(e.env.CRM.Leads())
	for _, p := range phones {
		if len(leads[p]) != 1 {
			t.Errorf("phone %s: %d leads, want 1", p, len(leads[p]))
		}
	}
}
