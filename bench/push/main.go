// Command push measures the pusher: leadsync's engine creating N leads in
// the fake Epixel CRM (no rate limit, push.concurrency C), against a plain
// net/http client replaying the very same multipart create requests (bytes
// captured from the engine's run) at the same concurrency, and against the
// same client replaying the engine's lookups and creates together (the HTTP
// work the engine cannot skip: it looks each person up before creating, so
// a lead typed into the CRM by a salesperson is adopted, not duplicated).
//
// A fourth run has the plain client do what any client of the CRM must: it
// builds each lookup's query (url.Values) and each create's multipart body
// (mime/multipart, the engine's fields in the engine's order) as it sends
// them, and decodes every JSON answer (encoding/json), instead of replaying
// bytes and discarding the answers.
//
// The runs are interleaved round by round, each against a fresh fake, so
// they share the machine's noise. Staging the persons is not timed.
//
//	go run ./bench/push -n 2000 -concurrency 4 -rounds 3
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	gosync "sync"
	"syscall"
	"time"

	"github.com/leadsync/leadsync/config"
	_ "github.com/leadsync/leadsync/connectors/all"
	"github.com/leadsync/leadsync/connectors/askhandle/askhandletest"
	"github.com/leadsync/leadsync/connectors/epixel/epixeltest"
	"github.com/leadsync/leadsync/connectors/roborder/robordertest"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/internal/demo"
	lsync "github.com/leadsync/leadsync/sync"
)

func main() {
	n := flag.Int("n", 2000, "leads to create per run")
	conc := flag.Int("concurrency", 4, "push.concurrency, and the plain client's workers")
	rounds := flag.Int("rounds", 3, "rounds of (engine, plain creates, plain lookups+creates)")
	flag.DurationVar(&latency, "latency", 0, "delay the fake CRM adds to every request (a real CRM's answer time)")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file; the engine's drains are labelled side=engine (go tool pprof -tagfocus side=engine)")
	flag.StringVar(&memProfile, "memprofile", "", "write the allocations of the first engine drain: FILE.base before it, FILE after it (go tool pprof -sample_index=alloc_space -base FILE.base push FILE)")
	flag.StringVar(&traceFile, "trace", "", "write an execution trace of the first engine drain to this file (go tool trace -pprof=sync|net|syscall FILE shows where workers wait)")
	flag.Parse()
	lsync.TuneGC() // the garbage collector runs as in the daemon
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("push: %d leads, concurrency %d, %d rounds, fake CRM without rate limit, latency %s\n", *n, *conc, *rounds, latency)
	fmt.Printf("%-6s %14s %16s %22s %22s %8s %8s %8s\n", "round", "engine lead/s", "plain create/s", "plain lookup+create/s", "built lookup+create/s", "ratio", "ratio2", "ratio3")
	var ratios, ratios2, ratios3 []float64
	var costs []string
	for r := 1; r <= *rounds; r++ {
		eng, creates, lists, ec := engineRun(*n, *conc)
		plain, _ := replay(*conc, creates, nil, false)
		plain2, pc := replay(*conc, creates, lists, false)
		plain3, bc := replay(*conc, creates, lists, true)
		ratios = append(ratios, eng/plain)
		ratios2 = append(ratios2, eng/plain2)
		ratios3 = append(ratios3, eng/plain3)
		fmt.Printf("%-6d %14.0f %16.0f %22.0f %22.0f %8.2f %8.2f %8.2f\n", r, eng, plain, plain2, plain3, eng/plain, eng/plain2, eng/plain3)
		costs = append(costs, fmt.Sprintf("%-6d %-22s %-22s %-22s", r, ec.per(*n), pc.per(len(creates)), bc.per(len(creates))))
	}
	fmt.Printf("median ratio engine/plain creates: %.2f; engine/plain lookups+creates: %.2f; engine/plain client building and decoding lookups+creates: %.2f\n",
		median(ratios), median(ratios2), median(ratios3))
	fmt.Println("per lead, the whole process (CPU µs, of which GC / allocations / KB allocated / GC cycles per 1,000 leads), fake CRM included:")
	fmt.Printf("%-6s %-22s %-22s %-22s\n", "round", "engine", "plain lookup+create", "built lookup+create")
	for _, c := range costs {
		fmt.Println(c)
	}
}

// cost is what the whole process spent during a timed run: CPU time (the
// fake's handlers included, which both sides pay alike), heap allocations
// and garbage collections.
type cost struct {
	cpu, gcCPU   time.Duration
	mallocs, kib uint64
	gcs          uint32
}

// measure returns a function that, called after the run, returns its cost.
func measure() func() cost {
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	c0, g0 := cpuTime(), gcTime()
	return func() cost {
		c1, g1 := cpuTime(), gcTime()
		var m1 runtime.MemStats
		runtime.ReadMemStats(&m1)
		return cost{cpu: c1 - c0, gcCPU: g1 - g0, mallocs: m1.Mallocs - m0.Mallocs, kib: (m1.TotalAlloc - m0.TotalAlloc) / 1024, gcs: m1.NumGC - m0.NumGC}
	}
}

func (c cost) per(n int) string {
	return fmt.Sprintf("%.0f/%.0f/%.0f/%.1f/%.1f", float64(c.cpu.Microseconds())/float64(n), float64(c.gcCPU.Microseconds())/float64(n),
		float64(c.mallocs)/float64(n), float64(c.kib)/float64(n), float64(c.gcs)*1000/float64(n))
}

// gcTime is the CPU time the garbage collector has used so far, as the
// runtime estimates it (runtime/metrics).
func gcTime() time.Duration {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	return time.Duration(s[0].Value.Float64() * float64(time.Second))
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var (
	latency    time.Duration
	cpuProfile string
	traceFile  string
	memProfile string
)

// writeAllocs writes the heap profile (allocations since the start) to path.
func writeAllocs(path string) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		log.Fatal(err)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// engineRun stages n Roborder persons and times one drain of the outbox
// into a fresh fake CRM. It returns leads created per second, the create
// and lookup requests the engine sent, and what the drain cost.
func engineRun(n, conc int) (float64, []vendortest.Request, []vendortest.Request, cost) {
	robo := robordertest.New()
	robo.SetShape(robordertest.Paginator)
	robo.SetPerPage(100)
	(&demo.Env{Roborder: robo, Ask: askhandletest.New()}).SeedMany(n, time.Now())
	roboSrv := httptest.NewServer(robo.Handler())
	defer roboSrv.Close()
	crm := newCRM()
	crmSrv := serveCRM(crm, "engine")
	defer crmSrv.Close()

	dir, err := os.MkdirTemp("", "leadsync-bench-push-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`state: {path: %q}
listen: ""
default_region: TN
target: crm
push: {concurrency: %d}
connectors:
  facebook:
    type: roborder
    base_url: %s/
    schedule: "@every 1h"
    auth: {token: %q}
  crm:
    type: epixel
    base_url: %s/
    auth: {api_key: %q, username: %q, password: %q}
    placeholder_last_name: "-"
    placeholder_email: "{phone}@no-email.invalid"
    source_map: {facebook: Facebook}
`, filepath.Join(dir, "state.db"), conc, roboSrv.URL, robordertest.Token, crmSrv.URL,
		epixeltest.APIKey, epixeltest.Username, epixeltest.Password)), func(string) (string, bool) { return "", false })
	if err != nil {
		log.Fatal(err)
	}
	eng, st, err := lsync.Open(cfg, lsync.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if res := eng.RunSource(ctx, "facebook", nil); res.Err != nil || res.Stats.Enqueued != n {
		log.Fatalf("staging: %v (%d enqueued, want %d)", res.Err, res.Stats.Enqueued, n)
	}
	if traceFile != "" {
		f, err := os.Create(traceFile)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		trace.Start(f)
	}
	if memProfile != "" {
		writeAllocs(memProfile + ".base")
	}
	runtime.GC() // staging's garbage is not the drain's to collect (see replay)
	spent := measure()
	start := time.Now()
	var ps lsync.PushStats
	// The engine's goroutines carry the label side=engine (the fake CRM's
	// carry side=crm): go tool pprof -tagfocus side=engine.
	pprof.Do(ctx, pprof.Labels("side", "engine"), func(ctx context.Context) { ps, _, err = eng.Drain(ctx) })
	d := time.Since(start)
	c := spent()
	if memProfile != "" {
		writeAllocs(memProfile)
		memProfile = "" // the first drain only
	}
	if traceFile != "" {
		trace.Stop()
		traceFile = "" // the first drain only
	}
	if err != nil || ps.Created != n {
		log.Fatalf("drain: %v (%d created, want %d)", err, ps.Created, n)
	}
	var creates, lists []vendortest.Request
	for _, r := range crm.Recorder().Requests() {
		switch {
		case strings.HasSuffix(r.Path, "leads/create/lead/"):
			r.Path = strings.TrimPrefix(r.Path, "/")
			creates = append(creates, r)
		case strings.HasSuffix(r.Path, "leads/list/"):
			r.Path = strings.TrimPrefix(r.Path, "/")
			lists = append(lists, r)
		}
	}
	return float64(n) / d.Seconds(), creates, lists, c
}

// replay sends the captured requests with a plain http.Client at conc
// workers against a fresh fake; job i is lists[i] (when given) then
// creates[i]. With build, each request is built from its parts as it is
// sent (query and multipart form, parsed from the captured bytes before
// the clock starts) and each answer is decoded as JSON. It returns jobs
// per second and what the run cost.
func replay(conc int, creates, lists []vendortest.Request, build bool) (float64, cost) {
	crm := newCRM()
	run := "plain" // lookups and creates
	switch {
	case build:
		run = "built"
	case lists == nil:
		run = "creates"
	}
	srv := serveCRM(crm, run)
	defer srv.Close()
	token := login(srv.URL)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	var parts map[*vendortest.Request]requestParts
	if build {
		parts = map[*vendortest.Request]requestParts{}
		for _, rs := range [][]vendortest.Request{creates, lists} {
			for i := range rs {
				parts[&rs[i]] = parseParts(&rs[i])
			}
		}
	}
	send := func(r *vendortest.Request) {
		u := srv.URL + "/" + r.Path
		body, ctype := io.Reader(bytes.NewReader(r.Body)), r.Header.Get("Content-Type")
		if build {
			u, body, ctype = parts[r].build(srv.URL + "/" + r.Path)
		} else if r.Query != "" {
			u += "?" + r.Query
		}
		req, err := http.NewRequest(r.Method, u, body)
		if err != nil {
			log.Fatal(err)
		}
		req.Header.Set("apikey", epixeltest.APIKey)
		req.Header.Set("Authorization", "Bearer "+token)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		if build {
			var answer any
			if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
				log.Fatalf("plain %s %s: %v", r.Method, r.Path, err)
			}
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			log.Fatalf("plain %s %s: HTTP %d", r.Method, r.Path, resp.StatusCode)
		}
	}
	jobs := make(chan int)
	var wg gosync.WaitGroup
	// Every timed run starts from a collected heap: the garbage of what
	// ran before it (staging, the previous run) is not charged to it.
	runtime.GC()
	spent := measure()
	start := time.Now()
	// The workers carry side=creates, plain or built (pprof -tagfocus), as
	// the engine's drain carries side=engine.
	pprof.Do(context.Background(), pprof.Labels("side", run), func(context.Context) {
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					if lists != nil {
						send(&lists[i%len(lists)])
					}
					send(&creates[i])
				}
			}()
		}
	})
	for i := range creates {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	d := time.Since(start)
	c := spent()
	if got := len(crm.Leads()); got != len(creates) {
		log.Fatalf("plain client: %d leads in the CRM, want %d", got, len(creates))
	}
	return float64(len(creates)) / d.Seconds(), c
}

// requestParts is a captured request taken apart: its query, or its
// multipart form fields in order.
type requestParts struct {
	query  url.Values
	fields [][2]string
}

func parseParts(r *vendortest.Request) requestParts {
	var p requestParts
	if r.Query != "" {
		q, err := url.ParseQuery(r.Query)
		if err != nil {
			log.Fatal(err)
		}
		p.query = q
	}
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return p
	}
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return p
		}
		if err != nil {
			log.Fatal(err)
		}
		v, _ := io.ReadAll(part)
		p.fields = append(p.fields, [2]string{part.FormName(), string(v)})
	}
}

// build makes the request's URL and body as a client builds them.
func (p requestParts) build(base string) (u string, body io.Reader, ctype string) {
	u = base
	if p.query != nil {
		u += "?" + p.query.Encode()
	}
	if p.fields == nil {
		return u, nil, ""
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range p.fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			log.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		log.Fatal(err)
	}
	return u, &buf, mw.FormDataContentType()
}

// serveCRM starts the fake CRM with its goroutines labelled side=crm and
// run=engine, creates, plain or built, so that a profile tells the
// server's cost from each client's, and what each run's requests cost it
// (go tool pprof -tagfocus side=crm -tagfocus run=engine).
func serveCRM(crm *epixeltest.Fake, run string) (srv *httptest.Server) {
	pprof.Do(context.Background(), pprof.Labels("side", "crm", "run", run), func(context.Context) {
		srv = httptest.NewServer(crm.Handler())
	})
	return srv
}

// newCRM is a fake CRM whose tokens never expire, answering every lead
// call after the configured latency.
func newCRM() *epixeltest.Fake {
	crm := epixeltest.New()
	crm.SetAccessTTL(0)
	if latency > 0 {
		crm.Recorder().Inject(vendortest.Fault{Match: "leads/", Delay: latency, Times: 1 << 30})
	}
	return crm
}

func login(base string) string {
	body, _ := json.Marshal(map[string]string{"username": epixeltest.Username, "password": epixeltest.Password})
	req, _ := http.NewRequest(http.MethodPost, base+"/user/login/", bytes.NewReader(body))
	req.Header.Set("apikey", epixeltest.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		Access string `json:"access"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.Access == "" {
		log.Fatalf("login: %v", err)
	}
	return tok.Access
}
