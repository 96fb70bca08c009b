package sourcetest

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/lead"
)

// BadInputHarness is what RunBadInput needs to serve hostile answers through
// a source connector's fake: each must end as an error naming its page or a
// problem on its record, never a panic, an unbounded read or a credential
// sent to another host.
type BadInputHarness struct {
	// NewFake returns a fresh fake holding at least one person, and its
	// recorder (for fault injection).
	NewFake   func(t *testing.T) (http.Handler, *vendortest.Server)
	Instance  func(baseURL string) *connectors.Instance
	NewSource func(in *connectors.Instance) (connectors.Source, error)
	// ListPath is a path substring matching the first listing request.
	ListPath string
	// FirstPage is how run errors name the first listing page ("leads offset 0").
	FirstPage string
	// Malformed are vendor-shaped broken pages, run after the suite's own
	// (deep nesting, an HTML error page).
	Malformed []Malformed
	// Odd are items with odd fields; each is served alone as the first
	// listing page, wrapped by OddPage.
	Odd     []OddRecord
	OddPage func(item string) string
	// Subject is how a problem names its record ("lead " + id); nil: the id.
	Subject func(sourceID string) string
	// Leaks are the ways this vendor can point the client at another host.
	Leaks []Leak
	// Auths, when set, runs every Leak once per credential form, named by key
	// (nil: the Instance's own Auth).
	Auths map[string]map[string]string
}

// Malformed is a broken answer to a request whose path contains Match
// (ListPath when empty); the run error must contain Want and the page.
type Malformed struct{ Name, Match, Body, Want string }

// OddRecord is one listing item whose SourceID starts with "odd-". Problem
// is what the record's problem must say after its subject ("" when it must
// have none); Created is the CreatedAt the record must carry.
type OddRecord struct {
	Name, Item, Problem string
	Created             time.Time
}

// Leak points the client at a foreign host: a 302 answering requests whose
// path contains Redirect, or, when NextLink is set, a first listing page
// whose next link (built from the foreign base URL) leaves the host.
type Leak struct {
	Name     string
	Redirect string
	NextLink func(foreign string) string
}

// badEnvTimeout bounds each request, so a fake that hangs fails the subtest.
const badEnvTimeout = 10 * time.Second

// RunBadInput runs the hostile-input subtests against h.
func RunBadInput(t *testing.T, h BadInputHarness) {
	t.Helper()
	if h.NewFake == nil || h.Instance == nil || h.NewSource == nil || h.ListPath == "" || h.FirstPage == "" ||
		h.OddPage == nil || len(h.Odd) == 0 || len(h.Leaks) == 0 {
		t.Fatal("sourcetest: BadInputHarness needs NewFake, Instance, NewSource, ListPath, FirstPage, OddPage, Odd and Leaks")
	}
	t.Run("FiftyMegabyteBodyIsRefusedAtTheLimit", h.fiftyMegabyteBody)
	t.Run("MalformedPageIsAnErrorNamingThePage", h.malformedPage)
	t.Run("OddFieldsAreProblemsOnTheirRecord", h.oddFields)
	t.Run("CredentialsNeverLeaveTheirHost", h.credentialsStayHome)
}

// BadEnv is one running fake behind a Hostile wrapper, and the instance
// that reaches it.
type BadEnv struct {
	Fake    *vendortest.Server
	Hostile *Hostile
	In      *connectors.Instance
	h       BadInputHarness
}

// Start serves a fresh fake behind a Hostile wrapper on 127.0.0.1, for the
// vendor's own hostile-input tests.
func (h BadInputHarness) Start(t *testing.T) *BadEnv {
	t.Helper()
	handler, rec := h.NewFake(t)
	if rec == nil {
		t.Fatal("sourcetest: NewFake returned no *vendortest.Server")
	}
	hostile := NewHostile(handler)
	srv := httptest.NewServer(hostile)
	t.Cleanup(srv.Close)
	in := h.Instance(srv.URL + "/")
	if in.Timeout == 0 {
		in.Timeout = badEnvTimeout
	}
	return &BadEnv{Fake: rec, Hostile: hostile, In: in, h: h}
}

// Pull runs one backfill from a new source and returns what it emitted.
func (e *BadEnv) Pull(t *testing.T) ([]connectors.Page, error) {
	t.Helper()
	src, err := e.h.NewSource(e.In)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pullTimeout)
	defer cancel()
	var pages []connectors.Page
	err = src.Pull(ctx, nil, func(p connectors.Page) error {
		pages = append(pages, p)
		return nil
	})
	return pages, err
}

func (h BadInputHarness) fiftyMegabyteBody(t *testing.T) {
	e := h.Start(t)
	e.Hostile.Stream(h.ListPath, 50<<20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := e.Pull(t)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, httpapi.ErrBodyTooLarge) {
		t.Fatalf("Pull error = %v, want the body limit", err)
	}
	for _, want := range []string{"size limit", h.FirstPage} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	allocated := float64(after.TotalAlloc-before.TotalAlloc) / (1 << 20)
	t.Logf("50 MiB body: allocated %.1f MiB during the pull; heap sys %.1f MiB; peak RSS (VmHWM) %.1f MiB",
		allocated, float64(after.HeapSys)/(1<<20), PeakRSS())
	// Reading up to the 8 MiB default limit costs a few buffers of that
	// size (more under -race, where sync.Pool keeps less); holding the
	// 50 MiB body would cost at least 50 MiB plus the buffers it grew from.
	if allocated > 64 {
		t.Errorf("allocated %.1f MiB reading a 50 MiB body: the limit is not applied while reading", allocated)
	}
}

func (h BadInputHarness) malformedPage(t *testing.T) {
	cases := append([]Malformed{
		{Name: "100000 nested arrays", Body: strings.Repeat("[", 100000), Want: "malformed JSON"},
		{Name: "html error page", Body: "<html><body>502 Bad Gateway</body></html>", Want: "malformed JSON"},
	}, h.Malformed...)
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			match := tt.Match
			if match == "" {
				match = h.ListPath
			}
			e := h.Start(t)
			e.Fake.Inject(vendortest.Fault{Match: match, Status: 200, Body: tt.Body})
			pages, err := e.Pull(t)
			if err == nil {
				t.Fatalf("Pull accepted %.40q (%d pages)", tt.Body, len(pages))
			}
			for _, want := range []string{tt.Want, h.FirstPage} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if len(err.Error()) > 600 {
				t.Errorf("error is %d bytes long: it quotes the body", len(err.Error()))
			}
		})
	}
}

func (h BadInputHarness) oddFields(t *testing.T) {
	for _, tt := range h.Odd {
		t.Run(tt.Name, func(t *testing.T) {
			e := h.Start(t)
			e.Fake.Inject(vendortest.Fault{Match: h.ListPath, Status: 200, Body: h.OddPage(tt.Item)})
			pages, err := e.Pull(t)
			if err != nil {
				t.Fatalf("Pull: %v", err)
			}
			var rec *lead.Record
			var problems []string
			for _, p := range pages {
				for i := range p.Records {
					if strings.HasPrefix(p.Records[i].SourceID, "odd-") {
						rec = &p.Records[i]
					}
				}
				for _, pr := range p.Problems {
					problems = append(problems, pr.Error())
				}
			}
			if rec == nil {
				t.Fatalf("the record was dropped; problems: %q", problems)
			}
			CheckRecord(t, *rec)
			if !rec.CreatedAt.Equal(tt.Created) {
				t.Errorf("CreatedAt = %v, want %v", rec.CreatedAt, tt.Created)
			}
			if tt.Problem == "" {
				if len(problems) > 0 {
					t.Errorf("unexpected problems: %q", problems)
				}
				return
			}
			subject := rec.SourceID
			if h.Subject != nil {
				subject = h.Subject(rec.SourceID)
			}
			if want := subject + ": " + tt.Problem; !strings.Contains(strings.Join(problems, "\n"), want) {
				t.Errorf("problems %q lack %q", problems, want)
			}
		})
	}
}

func (h BadInputHarness) credentialsStayHome(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(foreign.Close)
	auths := h.Auths
	if len(auths) == 0 {
		auths = map[string]map[string]string{"": nil}
	}
	for _, authName := range slices.Sorted(maps.Keys(auths)) {
		auth := auths[authName]
		for _, leak := range h.Leaks {
			t.Run(strings.TrimSpace(authName+" "+leak.Name), func(t *testing.T) {
				mu.Lock()
				seen = nil
				mu.Unlock()
				e := h.Start(t)
				if auth != nil {
					e.In.Auth = auth
				}
				if leak.NextLink != nil {
					e.Fake.Inject(vendortest.Fault{Match: h.ListPath, Status: 200, Body: leak.NextLink(foreign.URL)})
				} else {
					e.Hostile.Redirect(leak.Redirect, foreign.URL+"/"+strings.TrimPrefix(leak.Redirect, "/"))
				}
				_, err := e.Pull(t)
				if !errors.Is(err, httpapi.ErrForeignHost) {
					t.Errorf("Pull error = %v, want the foreign host refused", err)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, hdr := range seen {
					for _, k := range CredentialHeaders {
						if v := hdr.Get(k); v != "" {
							t.Errorf("the other host got %s: %s", k, v)
						}
					}
				}
				if len(seen) > 0 {
					t.Errorf("the other host got %d requests, want none", len(seen))
				}
			})
		}
	}
}
