// Command scale runs the real leadsync binary against the fake vendors at
// growing sizes and measures, per size: the first `leadsync once` (wall
// time, the child's peak RSS and CPU time, CRM writes), an unchanged second
// `once` (CPU time, CRM writes, requests per vendor), the state file's size
// and bytes per person, and `leadsync state compact` (before and after).
// With -idle it also starts `leadsync run` on the synced store, waits for
// "leadsync running" and the first run of every source, and reads the
// daemon's VmRSS.
//
// Persons come from demo.Env.SeedMany (Roborder + AskHandle: every person a
// Roborder order, every second one an AskHandle lead, every fourth one a chat
// room). The fakes are the project's own, served in this process, behind two
// bench-only fronts that keep their cost linear (the fakes were written for
// correctness, and rescan their whole list for every request, which at
// 100,000 persons takes hours): AskHandle list answers are taken from the fake
// once per endpoint and filter, then paged here in the fake's own format; and
// the CRM's lookups by email or phone are answered from an exact index of the
// leads the fake created (the epixel target keeps exact matches only anyway).
// Every other request goes to the fakes. None of this runs in leadsync.
//
//	go run ./bench/scale -sizes 1000,10000,100000 -idle
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/leadsync/leadsync/config"
	_ "github.com/leadsync/leadsync/connectors/all"
	"github.com/leadsync/leadsync/connectors/askhandle/askhandletest"
	"github.com/leadsync/leadsync/connectors/epixel/epixeltest"
	"github.com/leadsync/leadsync/connectors/roborder/robordertest"
	"github.com/leadsync/leadsync/internal/demo"
	lsync "github.com/leadsync/leadsync/sync"
)

func main() {
	sizes := flag.String("sizes", "1000,10000,100000", "persons to seed, one run per size")
	bin := flag.String("leadsync", "", "leadsync binary (default: go build ./cmd/leadsync)")
	idle := flag.Bool("idle", false, "also measure `leadsync run`'s RSS after its first runs")
	flag.StringVar(&profileDir, "profile", "", "instead of the binary, run each `once` in this process (as cmd/leadsync does)\nand write the heap profile at its peak to DIR/<persons>-once<N>.heap and its CPU profile\nto DIR/<persons>-once<N>.cpu")
	flag.StringVar(&timelinePath, "timeline", "", "append every 100 ms poll of each leadsync process (its number in this run and its command,\nseconds since start, VmRSS, RssAnon, RssFile, the state file's resident part, in kB) to FILE as CSV")
	keep := flag.String("dir", "", "keep state files and configs here (default: a temporary directory)")
	flag.Func("env", "KEY=VALUE added to the leadsync binary's environment (repeatable), e.g. -env GOGC=50", func(kv string) error {
		if !strings.Contains(kv, "=") {
			return fmt.Errorf("%q is not KEY=VALUE", kv)
		}
		childEnv = append(childEnv, kv)
		return nil
	})
	flag.Parse()
	dir := *keep
	if dir == "" {
		d, err := os.MkdirTemp("", "leadsync-bench-scale-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if *bin == "" {
		*bin = filepath.Join(dir, "leadsync")
		build := exec.Command("go", "build", "-o", *bin, "./cmd/leadsync")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			log.Fatalf("building leadsync (run from the repository root): %v", err)
		}
	}
	var rows []string
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			log.Fatal(err)
		}
		rows = append(rows, runSize(*bin, filepath.Join(dir, fmt.Sprint(n)), n, *idle))
	}
	fmt.Println()
	fmt.Println("| persons | 1st once wall | 1st once peak RSS | 1st once CPU | 2nd once CPU | 2nd once CRM writes | state file | bytes/person | compact before -> after | run RSS after first runs |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Println(r)
	}
}

var profileDir string

// childEnv is added to the leadsync binary's environment (-env).
var childEnv []string

// timelinePath, when set, receives every poll of every leadsync process
// (-timeline); launched numbers the processes, so that the two onces of a
// size are told apart.
var (
	timelinePath string
	launched     int
)

// onceInProcess does what `leadsync once` does, in this process, sampling
// the heap every 50 ms and keeping the profile of the largest one (at
// profile), and profiling the CPU meanwhile (at cpuProfile). The fake
// vendors run in this process too: their CPU is in the profile, under the
// fakes' own functions.
func onceInProcess(cfgPath, profile, cpuProfile string) child {
	c, err := config.Load(cfgPath)
	if err != nil {
		log.Fatal(err)
	}
	eng, st, err := lsync.Open(c, lsync.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	runtime.GC()
	stop := make(chan struct{})
	done := make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak {
				peak = ms.HeapInuse
				f, err := os.Create(profile)
				if err == nil {
					pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			}
		}
	}()
	cf, err := os.Create(cpuProfile)
	if err != nil {
		log.Fatal(err)
	}
	defer cf.Close()
	if err := pprof.StartCPUProfile(cf); err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	_, err = eng.Once(context.Background(), "", nil)
	wall := time.Since(start)
	pprof.StopCPUProfile()
	close(stop)
	peak := <-done
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("in-process once: %s, peak HeapInuse %s, profile %s\n", wall.Round(time.Millisecond), mb(int64(peak)), profile)
	return child{wall: wall, maxRSS: int64(peak)}
}

// child is one finished leadsync process.
type child struct {
	wall   time.Duration
	cpu    time.Duration
	maxRSS int64 // bytes
	out    string
	// Peaks of RssAnon and RssFile seen while polling, and of the resident
	// part of the state file's mapping alone (the rest of RssFile is mostly
	// the binary's own text and data).
	anon, file, state int64
	statePeakAt       time.Duration // when the state file's resident part peaked
}

// mappingRSS sums the Rss of a process's mappings of files whose path ends
// with suffix, in kB, from /proc/PID/smaps.
func mappingRSS(pid, suffix string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/smaps")
	if err != nil {
		return 0
	}
	var kb int64
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			in = len(f) >= 6 && strings.HasSuffix(f[len(f)-1], suffix)
		case in && len(f) == 3 && f[0] == "Rss:":
			n, _ := strconv.ParseInt(f[1], 10, 64)
			kb += n
		}
	}
	return kb
}

func statusKB(status []byte, field string) int64 {
	m := regexp.MustCompile(field + `:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb
}

// runLeadsync runs leadsync under /usr/bin/time, which reports the peak RSS
// of leadsync alone. The child's own rusage would not: Go starts children
// with vfork (CLONE_VM), and Linux carries the high-water RSS of the
// address space a process had before exec (here: this process, with every
// fake's data) into its ru_maxrss.
func runLeadsync(bin string, args ...string) child {
	timing, err := os.CreateTemp("", "leadsync-time-")
	if err != nil {
		log.Fatal(err)
	}
	timing.Close()
	defer os.Remove(timing.Name())
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M %U %S", "-o", timing.Name(), bin}, args...)...)
	cmd.Env = append(os.Environ(), childEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	// RSS split while it runs: anonymous (the Go heap, stacks) and file
	// (the state file's mmap), polled every 100 ms.
	stop := make(chan struct{})
	polled := make(chan [3]int64)
	var statePeakAt time.Duration
	var timeline *os.File
	if timelinePath != "" {
		if timeline, err = os.OpenFile(timelinePath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err != nil {
			log.Fatal(err)
		}
		defer timeline.Close()
	}
	launched++
	what := fmt.Sprintf("%d,%s", launched, args[0])
	go func() {
		var peak [3]int64
		children := fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			pid, _ := os.ReadFile(children) // leadsync, the child of time
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%s/status", strings.TrimSpace(string(pid)))); err == nil && len(pid) > 0 {
				anon, file := statusKB(b, "RssAnon"), statusKB(b, "RssFile")
				peak[0], peak[1] = max(peak[0], anon), max(peak[1], file)
				st := mappingRSS(strings.TrimSpace(string(pid)), "state.db")
				if st > peak[2] {
					peak[2], statePeakAt = st, time.Since(start)
				}
				if timeline != nil {
					fmt.Fprintf(timeline, "%s,%.1f,%d,%d,%d,%d\n", what, time.Since(start).Seconds(), statusKB(b, "VmRSS"), anon, file, st)
				}
			}
			select {
			case <-stop:
				polled <- peak
				return
			case <-t.C:
			}
		}
	}()
	err = cmd.Wait()
	close(stop)
	peak := <-polled
	c := child{wall: time.Since(start), out: out.String(), anon: peak[0] * 1024, file: peak[1] * 1024, state: peak[2] * 1024, statePeakAt: statePeakAt}
	var kb int64
	var user, sys float64
	if b, rerr := os.ReadFile(timing.Name()); rerr == nil {
		// The last line: time writes "Command exited with non-zero status" first on failure.
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		fmt.Sscan(lines[len(lines)-1], &kb, &user, &sys)
	}
	c.maxRSS = kb * 1024
	c.cpu = time.Duration((user + sys) * float64(time.Second))
	if err != nil {
		log.Fatalf("leadsync %s: %v\n%s", strings.Join(args, " "), err, tail(c.out))
	}
	return c
}

// summary is the table `once` prints at the end of its output.
func summary(out string) string {
	if i := strings.LastIndex(out, "SOURCE "); i >= 0 {
		return strings.TrimSpace(out[i:])
	}
	return ""
}

// restaged lists each source's pages staged a second time, from the "run
// finished" log lines in out (the store changed while they were staged
// ahead).
func restaged(out string) string {
	var parts []string
	for _, line := range strings.Split(out, "\n") {
		var l struct {
			Msg       string `json:"msg"`
			Connector string `json:"connector"`
			Pages     int    `json:"pages"`
			Restaged  int    `json:"restaged"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "run finished" {
			parts = append(parts, fmt.Sprintf("%s %d of %d", l.Connector, l.Restaged, l.Pages))
		}
	}
	return "pages staged again: " + strings.Join(parts, ", ")
}

func tail(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func runSize(bin, dir string, n int, idle bool) string {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("== %d persons\n", n)
	robo := robordertest.New()
	robo.SetShape(robordertest.Paginator)
	robo.SetPerPage(100)
	ask := askhandletest.New()
	crm := epixeltest.New()
	crm.SetAccessTTL(0)
	start := time.Now()
	(&demo.Env{Roborder: robo, Ask: ask}).SeedMany(n, time.Now())
	fmt.Printf("seeded in %s\n", time.Since(start).Round(time.Millisecond))

	counts := map[string]*atomic.Int64{"facebook": {}, "widget": {}, "crm": {}}
	serve := func(name string, h http.Handler) *httptest.Server {
		c := counts[name]
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.Add(1)
			h.ServeHTTP(w, r)
		}))
	}
	roboSrv := serve("facebook", robo.Handler())
	defer roboSrv.Close()
	askSrv := serve("widget", &pagedFront{next: ask.Handler(), lists: map[string][]json.RawMessage{}})
	defer askSrv.Close()
	crmSrv := serve("crm", &lookupFront{next: crm.Handler(), byKey: map[string][]string{}, bySlug: map[string]json.RawMessage{}})
	defer crmSrv.Close()

	cfg := filepath.Join(dir, "config.yaml")
	state := filepath.Join(dir, "state.db")
	writeConfig := func(schedule string) {
		y := fmt.Sprintf(`state: {path: %q}
listen: ""
default_region: TN
target: crm
log: {level: info, format: json}
push: {concurrency: 4, max_backoff: 2s}
connectors:
  facebook:
    type: roborder
    base_url: %s/
    schedule: %q
    auth: {email: %q, password: %q}
  widget:
    type: askhandle
    base_url: %s/
    schedule: %q
    auth: {api_key: %q}
  crm:
    type: epixel
    base_url: %s/
    auth: {api_key: %q, username: %q, password: %q}
    placeholder_last_name: "-"
    placeholder_email: "{phone}@no-email.invalid"
    source_map: {facebook: Facebook, widget: Website}
`, state, roboSrv.URL, schedule, robordertest.Email, robordertest.Password, askSrv.URL, schedule, askhandletest.APIKey,
			crmSrv.URL, epixeltest.APIKey, epixeltest.Username, epixeltest.Password)
		if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
			log.Fatal(err)
		}
	}
	writeConfig("@every 1h")
	reset := func() {
		for _, c := range counts {
			c.Store(0)
		}
		// The fakes' recorders keep every request with its body: forget them.
		robo.Recorder().Reset()
		ask.Recorder().Reset()
		crm.Recorder().Reset()
	}

	once := func(nth int) child {
		if profileDir != "" {
			base := filepath.Join(profileDir, fmt.Sprintf("%d-once%d", n, nth))
			return onceInProcess(cfg, base+".heap", base+".cpu")
		}
		return runLeadsync(bin, "once", "--config", cfg)
	}
	first := once(1)
	leads, writes1 := len(crm.Leads()), crm.Writes()
	fmt.Printf("1st once: wall %s, cpu %s, peak RSS %s (polled peaks: anon %s, file %s, of which state file %s at %s), CRM leads %d, CRM writes %d, requests facebook %d widget %d crm %d\n",
		first.wall.Round(time.Millisecond), first.cpu.Round(time.Millisecond), mb(first.maxRSS), mb(first.anon), mb(first.file), mb(first.state), first.statePeakAt.Round(100*time.Millisecond), leads, writes1,
		counts["facebook"].Load(), counts["widget"].Load(), counts["crm"].Load())
	fmt.Println(summary(first.out))
	fmt.Println(restaged(first.out))
	if leads != n {
		log.Fatalf("the CRM holds %d leads for %d persons\n%s", leads, n, tail(first.out))
	}
	reset()
	second := once(2)
	writes2 := crm.Writes() - writes1
	fmt.Printf("2nd once (unchanged): wall %s, cpu %s, peak RSS %s (polled peaks: anon %s, file %s, of which state file %s), CRM writes %d, requests facebook %d widget %d crm %d\n",
		second.wall.Round(time.Millisecond), second.cpu.Round(time.Millisecond), mb(second.maxRSS), mb(second.anon), mb(second.file), mb(second.state), writes2,
		counts["facebook"].Load(), counts["widget"].Load(), counts["crm"].Load())

	fi, err := os.Stat(state)
	if err != nil {
		log.Fatal(err)
	}
	size := fi.Size()
	comp := runLeadsync(bin, "state", "compact", "--config", cfg)
	m := regexp.MustCompile(`(\d+) -> (\d+) bytes`).FindStringSubmatch(comp.out)
	if m == nil {
		log.Fatalf("state compact: %s", comp.out)
	}
	before, _ := strconv.ParseInt(m[1], 10, 64)
	after, _ := strconv.ParseInt(m[2], 10, 64)
	fmt.Printf("state file %s (%d bytes/person); compact %s -> %s\n", mb(size), size/int64(n), mb(before), mb(after))

	runRSS := "-"
	if idle {
		// The daemon's first runs start at once whatever the schedule; an
		// hourly one keeps it idle after them (with "@every 5s", runs
		// that take longer than 5 s at 100k persons followed each other).
		writeConfig("@every 1h")
		runRSS = idleRSS(bin, cfg)
		fmt.Printf("run: %s\n", runRSS)
	}
	return fmt.Sprintf("| %d | %s | %s | %s | %s | %d | %s | %d | %s -> %s | %s |", n,
		first.wall.Round(100*time.Millisecond), mb(first.maxRSS), first.cpu.Round(100*time.Millisecond),
		second.cpu.Round(10*time.Millisecond), writes2, mb(size), size/int64(n), mb(before), mb(after), runRSS)
}

// idleRSS starts the daemon, waits for "leadsync running" and for the first
// run of both sources to finish (and the push that follows), then reads its
// VmRSS and VmHWM and stops it.
func idleRSS(bin, cfg string) string {
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), childEnv...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	running := make(chan struct{})
	finished := make(chan string, 16)
	go func() {
		dec := json.NewDecoder(pr)
		once := gosync.Once{}
		for {
			var line map[string]any
			if err := dec.Decode(&line); err != nil {
				return
			}
			switch line["msg"] {
			case "leadsync running":
				once.Do(func() { close(running) })
			case "run finished", "run failed":
				finished <- fmt.Sprint(line["connector"])
			}
		}
	}()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		pw.Close()
	}()
	select {
	case <-running:
	case <-time.After(30 * time.Second):
		log.Fatal("leadsync run: no \"leadsync running\" line")
	}
	seen := map[string]bool{}
	deadline := time.After(10 * time.Minute)
	for len(seen) < 2 {
		select {
		case c := <-finished:
			seen[c] = true
		case <-deadline:
			log.Fatal("leadsync run: the first runs did not finish")
		}
	}
	time.Sleep(3 * time.Second) // the push that follows a run
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		log.Fatal(err)
	}
	field := func(name string) string {
		m := regexp.MustCompile(name + `:\s+(\d+) kB`).FindSubmatch(status)
		if m == nil {
			return "?"
		}
		kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return mb(kb * 1024)
	}
	return fmt.Sprintf("VmRSS %s (VmHWM %s; anon %s, file %s, of which state file %s)", field("VmRSS"), field("VmHWM"),
		field("RssAnon"), field("RssFile"), mb(mappingRSS(strconv.Itoa(cmd.Process.Pid), "state.db")*1024))
}

// pagedFront answers AskHandle list requests (paginated shape) from one
// full listing per endpoint and filter, taken from the fake itself.
type pagedFront struct {
	next  http.Handler
	mu    gosync.Mutex
	lists map[string][]json.RawMessage
}

func (p *pagedFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/api/v1/") || r.Header.Get("Authorization") == "" {
		p.next.ServeHTTP(w, r)
		return
	}
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	offset, _ := strconv.Atoi(q.Get("offset"))
	if limit <= 0 {
		limit = askhandletest.DefaultLimit
	}
	q.Del("limit")
	q.Del("offset")
	key := r.URL.Path + "?" + q.Encode()
	p.mu.Lock()
	items, ok := p.lists[key]
	p.mu.Unlock()
	if !ok {
		all := r.Clone(r.Context())
		aq := url.Values{}
		for k, v := range q {
			aq[k] = v
		}
		aq.Set("limit", "1000000000")
		all.URL.RawQuery = aq.Encode()
		rec := httptest.NewRecorder()
		p.next.ServeHTTP(rec, all)
		if rec.Code != http.StatusOK {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		var env struct {
			Results []json.RawMessage `json:"results"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		items = env.Results
		p.mu.Lock()
		p.lists[key] = items
		p.mu.Unlock()
	}
	lo, hi := min(offset, len(items)), min(offset+limit, len(items))
	link := func(off int) *string {
		lq := url.Values{}
		for k, v := range q {
			lq[k] = v
		}
		lq.Set("limit", strconv.Itoa(limit))
		if off > 0 {
			lq.Set("offset", strconv.Itoa(off))
		}
		s := (&url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: lq.Encode()}).String()
		return &s
	}
	env := struct {
		Count    int               `json:"count"`
		Next     *string           `json:"next"`
		Previous *string           `json:"previous"`
		Results  []json.RawMessage `json:"results"`
	}{Count: len(items), Results: items[lo:hi]}
	if env.Results == nil {
		env.Results = []json.RawMessage{}
	}
	if hi < len(items) {
		env.Next = link(hi)
	}
	if offset > 0 {
		env.Previous = link(max(offset-limit, 0))
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(env)
}

// lookupFront answers the CRM's lead lookups by email or phone from an
// exact index of the leads the fake created or updated.
type lookupFront struct {
	next   http.Handler
	mu     gosync.Mutex
	byKey  map[string][]string // "e:"+email or "p:"+phone -> slugs
	bySlug map[string]json.RawMessage
}

type leadFields struct {
	Slug  string `json:"slug"`
	Email string `json:"email"`
	Phone string `json:"phone"`
}

func (f *lookupFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodGet && r.URL.Path == "/leads/list/" && (q.Get("email") != "" || q.Get("phone") != "") &&
		r.Header.Get("Authorization") != "" && q.Get("offset") == "0" {
		key := "e:" + strings.ToLower(q.Get("email"))
		if q.Get("email") == "" {
			key = "p:" + q.Get("phone")
		}
		f.mu.Lock()
		results := []json.RawMessage{}
		for _, slug := range f.byKey[key] {
			var l leadFields
			json.Unmarshal(f.bySlug[slug], &l)
			if key == "e:"+strings.ToLower(l.Email) || key == "p:"+l.Phone {
				results = append(results, f.bySlug[slug])
			}
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"status_code": 200, "errors": map[string]any{},
			"data": map[string]any{"count": len(results), "next": nil, "previous": nil, "results": results}})
		return
	}
	if r.Method != http.MethodPost || (r.URL.Path != "/leads/create/lead/" && r.URL.Path != "/leads/update/lead/") {
		f.next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	f.next.ServeHTTP(rec, r)
	if rec.Code < 300 {
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		var l leadFields
		if json.Unmarshal(rec.Body.Bytes(), &env) == nil && json.Unmarshal(env.Data, &l) == nil && l.Slug != "" {
			f.mu.Lock()
			for _, k := range []string{"e:" + strings.ToLower(l.Email), "p:" + l.Phone} {
				if !slices.Contains(f.byKey[k], l.Slug) {
					f.byKey[k] = append(f.byKey[k], l.Slug)
				}
			}
			f.bySlug[l.Slug] = env.Data
			f.mu.Unlock()
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}
