package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/leadsync/leadsync/connectors/askhandle/askhandletest"
	"github.com/leadsync/leadsync/connectors/botpenguin/botpenguintest"
	"github.com/leadsync/leadsync/connectors/epixel/epixeltest"
	"github.com/leadsync/leadsync/connectors/netcore/netcoretest"
	"github.com/leadsync/leadsync/connectors/roborder/robordertest"
	"github.com/leadsync/leadsync/connectors/vendortest"
)

// Every credential configured, and every token a vendor issued during the
// run, is a canary: after a debug-level `once` through 401s, 429s, 5xx,
// error bodies that echo the credential and a malformed page, no canary may
// appear in stdout, stderr or the raw bytes of the state file.
func TestNoSecretReachesOutputOrState(t *testing.T) {
	e := newE2E(t, "@every 1h")
	env := e.env

	// Two pages of Roborder leads, the second refused once: a re-login mid-pagination.
	env.Roborder.SetShape(robordertest.Paginator)
	env.Roborder.SetPerPage(2)
	unauth := robordertest.Unauthenticated()
	unauth.Match, unauth.Skip = "api/v1/leads", 1
	env.Roborder.Recorder().Inject(unauth)
	// AskHandle throttles once, then refuses its key with a body that echoes it.
	env.Ask.Recorder().Inject(vendortest.Fault{Match: "api/v1/leads/", Status: http.StatusTooManyRequests, RetryAfter: "0", Body: askhandletest.ThrottledBody})
	env.Ask.Recorder().Inject(vendortest.Fault{Match: "api/v1/rooms/", Status: http.StatusUnauthorized,
		Body: `{"detail":"Invalid token: ` + askhandletest.APIKey + `"}`})
	// Netcore fails once with a 500, then revokes the token mid-run with a
	// body that echoes the app secret.
	env.Netcore.Recorder().Inject(vendortest.Fault{Match: "/users", Status: http.StatusInternalServerError, Body: `{"message":"boom"}`})
	env.Netcore.Recorder().Inject(vendortest.Fault{Match: "/transcripts", Status: http.StatusUnauthorized,
		Body: `{"message":"token expired for app ` + netcoretest.AppID + ` / ` + netcoretest.AppSecret + `"}`})
	// BotPenguin answers a malformed page.
	env.BotPenguin.Recorder().Inject(vendortest.Fault{Match: "inbox/direct/chats", Status: http.StatusOK, Body: `{"success":true,"data":[{"uuid":"x",`})
	// The CRM expires the token on the first lookup, its error body carrying the apikey.
	env.CRM.Recorder().Inject(vendortest.Fault{Match: "leads/list/", Status: http.StatusUnauthorized,
		Body: `{"status_code":401,"errors":{"detail":["Given token not valid for any token type"],"apikey":["` + epixeltest.APIKey + `"]},"data":{}}`})

	cmd := exec.Command(binary, "once", "--config", e.cfg)
	cmd.Env = append(os.Environ(), "LEADSYNC_LOG_LEVEL=debug", "LEADSYNC_LOG_FORMAT=json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	// The run must have met the faults, or the test proves nothing.
	for _, want := range []string{"chatbot", "chats page 1", "401", "[REDACTED]"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q: the faults were not met\n%s", want, tail(stderr.String()))
		}
	}

	canaries := map[string]string{
		robordertest.Email:    "roborder email",
		robordertest.Password: "roborder password",
		askhandletest.APIKey:  "askhandle api_key",
		netcoretest.AppID:     "netcore app_id",
		netcoretest.AppSecret: "netcore app_secret",
		epixeltest.APIKey:     "epixel api_key",
		epixeltest.Username:   "epixel username",
		epixeltest.Password:   "epixel password",
		botpenguintest.Token:  "botpenguin token",
	}
	issued := 0
	for name, rec := range map[string]*vendortest.Server{
		"roborder": env.Roborder.Recorder(), "askhandle": env.Ask.Recorder(), "netcore": env.Netcore.Recorder(),
		"epixel": env.CRM.Recorder(), "botpenguin": env.BotPenguin.Recorder(),
	} {
		for _, tok := range sentCredentials(rec.Requests()) {
			if _, known := canaries[tok]; !known {
				canaries[tok] = name + " issued token"
				issued++
			}
		}
	}
	// Roborder, Netcore and Epixel each issued at least two tokens (a login and a renewal).
	t.Logf("%d canaries, %d issued tokens", len(canaries), issued)
	if issued < 6 {
		t.Errorf("only %d issued tokens seen in the fakes' requests, want at least 6", issued)
	}

	state, err := os.ReadFile(filepath.Join(e.dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string][]byte{"stdout": stdout.Bytes(), "stderr": stderr.Bytes(), "state file": state}
	keys := make([]string, 0, len(canaries))
	for k := range canaries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, c := range keys {
		for where, b := range outputs {
			for _, form := range []string{c, url.QueryEscape(c), url.PathEscape(c)} {
				if bytes.Contains(b, []byte(form)) {
					t.Errorf("%s (%q) appears in %s", canaries[c], form, where)
				}
			}
		}
	}
}

// sentCredentials lists every credential value the requests carried: the
// credential headers (without their scheme word) and the secret fields of
// login and refresh bodies.
func sentCredentials(reqs []vendortest.Request) []string {
	var out []string
	add := func(v string) {
		v = strings.TrimSpace(v)
		for _, scheme := range []string{"Bearer ", "Token "} {
			v = strings.TrimPrefix(v, scheme)
		}
		if len(v) >= 8 {
			out = append(out, v)
		}
	}
	for _, r := range reqs {
		for _, h := range []string{"Authorization", "Apikey", "X-Bot-Token", "X-Bp-Token"} {
			add(r.Header.Get(h))
		}
		var body map[string]any
		if json.Unmarshal(r.Body, &body) == nil {
			for _, k := range []string{"refresh", "password", "appSecret", "token"} {
				if s, ok := body[k].(string); ok {
					add(s)
				}
			}
		}
	}
	return out
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}
