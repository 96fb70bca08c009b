package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/config"
	"github.com/leadsync/leadsync/connectors/roborder/robordertest"
)

// probes are, per connector type, a request the fake answers with its
// "no credentials" refusal: it proves the right fake listens at the URL.
var probes = map[string]struct {
	method, path string
	status       int
}{
	"roborder":   {"GET", "api/v1/leads", http.StatusUnauthorized},
	"askhandle":  {"GET", "api/v1/leads/", http.StatusUnauthorized},
	"netcore":    {"POST", "users", http.StatusUnauthorized},
	"botpenguin": {"GET", "inbox/direct/chats", http.StatusUnauthorized},
	"epixel":     {"GET", "leads/list/", http.StatusForbidden}, // a missing apikey is a 403 there
}

// started is a vendorsim running in-process; stop ends it and returns run's error.
type started struct {
	rows map[string][2]string // instance -> type, URL
	out  []string             // every line before "ready"
	stop func() error
}

// start runs vendorsim with args and waits for its "ready" line.
func start(t *testing.T, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	s := &started{rows: map[string][2]string{}}
	sc := bufio.NewScanner(pr)
	ready := false
	for !ready && sc.Scan() {
		line := sc.Text()
		if ready = line == "ready"; ready {
			break
		}
		s.out = append(s.out, line)
		if f := strings.Fields(line); len(f) == 3 && strings.HasPrefix(f[2], "http://127.0.0.1:") {
			s.rows[f[0]] = [2]string{f[1], f[2]}
		}
	}
	// Whatever run prints later must not block it on the pipe.
	go io.Copy(io.Discard, pr)
	s.stop = sync.OnceValue(func() error { cancel(); return <-done })
	if !ready {
		t.Fatalf("vendorsim ended before \"ready\": %v; output:\n%s", s.stop(), strings.Join(s.out, "\n"))
	}
	t.Cleanup(func() { s.stop() })
	return s
}

func TestEveryPrintedURLIsItsVendorsFake(t *testing.T) {
	s := start(t)
	seen := map[string]bool{}
	for name, row := range s.rows {
		typ, url := row[0], row[1]
		seen[typ] = true
		p, ok := probes[typ]
		if !ok {
			t.Errorf("%s: no probe for type %q; add one to probes", name, typ)
			continue
		}
		req, err := http.NewRequest(p.method, url+p.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s (%s) at %s: %v", name, typ, url, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != p.status {
			t.Errorf("%s (%s): %s %s without credentials = %d, want %d", name, typ, p.method, url+p.path, resp.StatusCode, p.status)
		}
	}
	for typ := range probes {
		if !seen[typ] {
			t.Errorf("no fake of type %s printed; output:\n%s", typ, strings.Join(s.out, "\n"))
		}
	}
}

func TestConfigOutLoadsAndPointsAtTheFakes(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "leadsync.yaml")
	state := filepath.Join(dir, "state.db")
	s := start(t, "--persons", "5", "--config-out", cfg, "--state", state, "--listen", "127.0.0.1:0", "--schedule", "@every 1m")
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatalf("written configuration: %v", err)
	}
	if c.State.Path != state || *c.Listen != "127.0.0.1:0" {
		t.Errorf("state %q listen %q, want %q and 127.0.0.1:0", c.State.Path, *c.Listen, state)
	}
	got := map[string][2]string{}
	for name, cc := range c.Connectors {
		got[name] = [2]string{cc.Type, cc.BaseURL}
		if name != c.Target && cc.Schedule != "@every 1m" {
			t.Errorf("%s: schedule %q, want @every 1m", name, cc.Schedule)
		}
	}
	if d := cmp.Diff(s.rows, got); d != "" {
		t.Errorf("printed instances vs the written configuration (-printed +config):\n%s", d)
	}
	if n := roborderLeads(t, s.rows["facebook"][1]); n != 4+5 {
		t.Errorf("the Roborder fake holds %d leads, want the 4 samples + 5 generated", n)
	}
	if err := s.stop(); err != nil {
		t.Errorf("run after cancel: %v", err)
	}
}

func TestStopsCleanlyWhenCanceled(t *testing.T) {
	s := start(t, "--base-port", "0")
	url := ""
	for _, row := range s.rows {
		url = row[1]
	}
	if err := s.stop(); err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
	if _, err := http.Get(url); err == nil {
		t.Errorf("%s still answers after run returned", url)
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--persons", "-1"},
		{"--base-port", "70000"},
		{"--no-such-flag"},
		{"stray"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			err := run(context.Background(), args, io.Discard)
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestConfigOutToAnUnwritablePathFails(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "missing-dir", "x.yaml")
	err := run(context.Background(), []string{"--config-out", bad}, io.Discard)
	if err == nil {
		t.Fatal("accepted")
	}
	if _, statErr := os.Stat(bad); statErr == nil {
		t.Errorf("%s was written", bad)
	}
}

// roborderLeads counts the leads the Roborder fake at url lists (its
// default shape answers the whole list at once).
func roborderLeads(t *testing.T, url string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"api/v1/leads", nil)
	req.Header.Set("Authorization", "Bearer "+robordertest.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("roborder leads: %v", err)
	}
	return len(body.Data)
}

func TestHelpListsEveryFlag(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v, want flag.ErrHelp (main exits 0 on it)", err)
	}
	for _, f := range []string{"-base-port", "-persons", "-config-out", "-state", "-listen", "-schedule"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("--help does not mention %s:\n%s", f, out.String())
		}
	}
}
