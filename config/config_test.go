package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/config"
	_ "github.com/leadsync/leadsync/connectors/all"
)

const valid = `
state: {path: /tmp/x.db}
listen: ""
default_region: TN
target: crm
connectors:
  ask:
    type: askhandle
    base_url: http://127.0.0.1:1/ask/
    schedule: "@every 5m"
    rate_limit: {rps: 2, burst: 5}
    auth: {api_key: "${ASK_KEY}"}
  crm:
    type: epixel
    base_url: http://127.0.0.1:1/api/v1/
    auth: {api_key: k, username: u, password: "${CRM_PASSWORD}"}
    placeholder_last_name: "-"
`

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

var goodEnv = map[string]string{"ASK_KEY": "secret-ask", "CRM_PASSWORD": "pw"}

func TestValidConfigLoadsWithExpansion(t *testing.T) {
	c, err := config.Parse([]byte(valid), env(goodEnv))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Connectors["ask"].Auth["api_key"]; got != "secret-ask" {
		t.Fatalf("api_key = %q", got)
	}
	if *c.Listen != "" || c.Connectors["ask"].Backfill != config.Duration(90*24*time.Hour) {
		t.Fatalf("listen %q backfill %v", *c.Listen, c.Connectors["ask"].Backfill)
	}
	if c.Connectors["crm"].Options["placeholder_last_name"] != "-" {
		t.Fatalf("options %v", c.Connectors["crm"].Options)
	}
}

func TestEnvironmentOverridesGlobals(t *testing.T) {
	e := map[string]string{"LEADSYNC_STATE_PATH": "/data/ls.db", "LEADSYNC_LISTEN": ":9999", "LEADSYNC_PUSH_CONCURRENCY": "8"}
	for k, v := range goodEnv {
		e[k] = v
	}
	c, err := config.Parse([]byte(valid), env(e))
	if err != nil {
		t.Fatal(err)
	}
	if c.State.Path != "/data/ls.db" || *c.Listen != ":9999" || c.Push.Concurrency != 8 {
		t.Fatalf("overrides not applied: %+v listen %q", c.State, *c.Listen)
	}
}

// A connector's scratch files (AskHandle's message spool) go beside the
// state file, on its volume, not in a temporary directory a read-only root
// filesystem may not have.
func TestInstancesWriteScratchFilesBesideTheStateFile(t *testing.T) {
	e := map[string]string{"LEADSYNC_STATE_PATH": "/data/ls.db"}
	for k, v := range goodEnv {
		e[k] = v
	}
	c, err := config.Parse([]byte(valid), env(e))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Instance("ask", nil).ScratchDir; got != "/data" {
		t.Fatalf("scratch directory %q, want /data", got)
	}
}

func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "key")
	os.WriteFile(f, []byte("from-file\n"), 0o600)
	cfg := strings.Replace(valid, `api_key: "${ASK_KEY}"`, `api_key_file: `+f, 1)
	c, err := config.Parse([]byte(cfg), env(goodEnv))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Connectors["ask"].Auth["api_key"]; got != "from-file" {
		t.Fatalf("api_key = %q, want from-file", got)
	}
	// ${VAR} falls back to VAR_FILE.
	c, err = config.Parse([]byte(valid), env(map[string]string{"ASK_KEY_FILE": f, "CRM_PASSWORD": "pw"}))
	if err != nil || c.Connectors["ask"].Auth["api_key"] != "from-file" {
		t.Fatalf("VAR_FILE fallback: %v", err)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, from, to, want string
	}{
		{"unset variable", `"${ASK_KEY}"`, `"${NOPE}"`, "NOPE is not set"},
		{"unknown type", "type: askhandle", "type: askhandel", `connectors.ask.type: unknown type "askhandel"`},
		{"bad cron", `"@every 5m"`, `"61 * * * *"`, "connectors.ask.schedule: bad cron spec"},
		{"cron that panics", `"@every 5m"`, `"TZ=UTC"`, "connectors.ask.schedule: bad cron spec"},
		{"missing credentials", `auth: {api_key: "${ASK_KEY}"}`, `auth: {}`, "connectors.ask.auth"},
		{"target not an instance", "target: crm", "target: crmx", `target: "crmx" is not a configured connector instance`},
		{"base_url not http", "http://127.0.0.1:1/ask/", "ftp://h/", `connectors.ask.base_url: "ftp://h/" is not an http(s) URL`},
		{"unknown top-level key", "default_region: TN", "default_regoin: TN", "default_regoin"},
		{"bad region", "default_region: TN", "default_region: XX", "default_region"},
		{"unknown option", `placeholder_last_name: "-"`, `placeholder_lastname: "-"`, "placeholder_lastname"},
		{"negative rate", "rps: 2", "rps: -2", "connectors.ask.rate_limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := strings.Replace(valid, tc.from, tc.to, 1)
			if cfg == valid {
				t.Fatalf("replacement %q not found", tc.from)
			}
			_, err := config.Parse([]byte(cfg), env(goodEnv))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret-ask") {
				t.Fatalf("error reveals a secret: %v", err)
			}
		})
	}
}

func TestMalformedYAMLIsAnError(t *testing.T) {
	for _, in := range []string{"", "connectors: [", "- a\n- b", "state: 3"} {
		if _, err := config.Parse([]byte(in), env(nil)); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	b, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	anything := func(k string) (string, bool) {
		if strings.HasPrefix(k, "LEADSYNC_") {
			return "", false
		}
		return "x-" + strings.ToLower(k), true
	}
	if _, err := config.Parse(b, anything); err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte("connectors: {a: {type: roborder}}"))
	f.Add([]byte("target: ${X"))
	f.Fuzz(func(t *testing.T, b []byte) {
		config.Parse(b, env(goodEnv)) // must not panic
	})
}

// TestAliasBombIsRefused: YAML anchors that expand exponentially in a
// connector's options are an error, not minutes of CPU and gigabytes.
func TestAliasBombIsRefused(t *testing.T) {
	bomb := "connectors:\n  x:\n    type: roborder\n    a: &a [x,x,x,x,x,x,x,x,x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g"} {
		bomb += "    " + n + ": &" + n + " [" + strings.Repeat("*"+prev+",", 8) + "*" + prev + "]\n"
		prev = n
	}
	_, err := config.Parse([]byte(bomb), env(nil))
	if err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Fatalf("err = %v, want the alias expansion refused", err)
	}
}
