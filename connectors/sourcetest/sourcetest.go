// Package sourcetest is the conformance suite every source connector's tests
// run against the connector's own fake vendor: reading everything, resuming
// from a cursor, ending pagination, honouring Retry-After, surviving a 401,
// failing cleanly on a malformed page and producing the same records twice.
//
// A vendor test calls Run with a Harness:
//
//	func TestConformance(t *testing.T) {
//		sourcetest.Run(t, sourcetest.Harness{NewFake: ..., Instance: ..., ...})
//	}
//
// Each subtest starts its own fake on 127.0.0.1, so subtests share nothing.
//
// RunBadInput (badinput.go) is the same for hostile answers: a 50 MiB body,
// deep nesting, invalid UTF-8, odd dates, next links and redirects to another
// host. fuzz.go holds what every vendor's fuzz targets share: the generic
// hostile seeds, the testdata seeding, CheckRecord and an in-memory client.
package sourcetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/lead"
)

// Persons is how many persons the fake of each subtest holds.
const Persons = 10

// Harness is what the suite needs from a source connector and its fake.
type Harness struct {
	// NewFake returns a fresh fake's handler (a *vendortest.Server wraps it;
	// returned separately) holding `persons` persons spread over at least 3
	// pages/windows.
	NewFake func(t *testing.T, persons int) (http.Handler, *vendortest.Server)
	// Instance returns the instance to use against baseURL (credentials the
	// fake accepts; RPS 0 = unlimited). When Renewable is true the instance
	// uses a login-based credential that can be renewed after a 401.
	Instance  func(baseURL string) *connectors.Instance
	NewSource func(in *connectors.Instance) (connectors.Source, error)
	// ListPath is a path substring that matches the paginated listing requests.
	ListPath string
	// Renewable: a 401 mid-pagination is expected to renew and continue
	// (false: expected to fail the run with a clear error).
	Renewable bool
	// LoginPath is a path substring matching every request that gets a
	// credential (login, token refresh); required when Renewable.
	LoginPath string
	// AddPerson adds person number i to the running fake (created "now", so a
	// resumed run must see it). The suite calls it with i > persons, so it
	// never collides with the fake's own persons whether they count from 0 or 1.
	AddPerson func(i int)
	// PersonKey returns a stable key for the person a record belongs to (e.g.
	// its SourceID), "" to ignore the record (e.g. conversation-only records).
	PersonKey func(r lead.Record) string
}

// pullTimeout bounds one Pull: a pagination that never ends fails the test
// instead of hanging it.
const pullTimeout = 30 * time.Second

// maxPages stops a runaway Pull (a "next" link pointing back at itself).
const maxPages = 1000

var errRunaway = errors.New("sourcetest: more than 1000 pages emitted; pagination does not end")

// Run runs the conformance subtests against h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.NewFake == nil || h.Instance == nil || h.NewSource == nil || h.AddPerson == nil || h.PersonKey == nil || h.ListPath == "" {
		t.Fatal("sourcetest: Harness needs NewFake, Instance, NewSource, ListPath, AddPerson and PersonKey")
	}
	if h.Renewable && h.LoginPath == "" {
		t.Fatal("sourcetest: a Renewable harness needs LoginPath to count logins")
	}
	t.Run("AllPersonsRead", h.allPersonsRead)
	t.Run("AllPersonsReadUnderPathPrefix", h.allPersonsReadUnderPathPrefix)
	t.Run("ResumeFromSavedCursorLosesNothing", h.resumeFromSavedCursor)
	t.Run("PaginationEnds", h.paginationEnds)
	t.Run("RetryAfterHonoured", h.retryAfterHonoured)
	t.Run("Unauthorized401MidPagination", h.unauthorizedMidPagination)
	t.Run("MalformedPageIsRunErrorNamingPage", h.malformedPage)
	t.Run("RerunUnchangedIsIdentical", h.rerunUnchanged)
	t.Run("EmitErrorStopsPull", h.emitErrorStopsPull)
	t.Run("CancelledContextEndsPull", h.cancelledContextEndsPull)
}

// env is one subtest's running fake and the source built against it.
type env struct {
	h   Harness
	rec *vendortest.Server
	in  *connectors.Instance
	src connectors.Source
}

// start serves a fresh fake, mounted under prefix ("/" for the root, as
// vendorsim mounts fakes under a path with http.StripPrefix otherwise).
func (h Harness) start(t *testing.T, prefix string) *env {
	t.Helper()
	handler, rec := h.NewFake(t, Persons)
	if rec == nil {
		t.Fatal("sourcetest: NewFake returned no *vendortest.Server")
	}
	mux := http.NewServeMux()
	if prefix == "/" {
		mux.Handle("/", handler)
	} else {
		mux.Handle(prefix, http.StripPrefix(strings.TrimSuffix(prefix, "/"), handler))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{h: h, rec: rec, in: h.Instance(srv.URL + prefix)}
	src, err := h.NewSource(e.in)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	e.src = src
	return e
}

// result is what one Pull emitted.
type result struct {
	pages   []connectors.Page
	records []lead.Record
	// cursor is the last non-nil cursor emitted (nil: the source never set one).
	cursor connectors.Cursor
	err    error
}

// pull runs one Pull, turning a panic into a test failure so one bad
// connector does not take the whole test binary down.
func (e *env) pull(t *testing.T, cursor connectors.Cursor) (res result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pullTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Pull panicked: %v\n%s", r, debug.Stack())
			res.err = fmt.Errorf("panic: %v", r)
		}
	}()
	res.err = e.src.Pull(ctx, cursor, func(p connectors.Page) error {
		if len(res.pages) >= maxPages {
			return errRunaway
		}
		res.pages = append(res.pages, p)
		res.records = append(res.records, p.Records...)
		if p.Cursor != nil {
			res.cursor = slices.Clone(p.Cursor)
		}
		return nil
	})
	if ctx.Err() != nil {
		t.Errorf("Pull did not finish within %v", pullTimeout)
	}
	return res
}

// mustPull is pull for runs that must succeed.
func (e *env) mustPull(t *testing.T, cursor connectors.Cursor) result {
	t.Helper()
	res := e.pull(t, cursor)
	if res.err != nil {
		t.Fatalf("Pull: %v", res.err)
	}
	return res
}

// persons returns the distinct person keys of records.
func (e *env) persons(records []lead.Record) map[string]bool {
	keys := map[string]bool{}
	for _, r := range records {
		if k := e.h.PersonKey(r); k != "" {
			keys[k] = true
		}
	}
	return keys
}

func (e *env) wantAllPersons(t *testing.T, res result, want int) {
	t.Helper()
	if got := e.persons(res.records); len(got) != want {
		t.Errorf("read %d distinct persons, want %d: %v", len(got), want, sortedKeys(got))
	}
}

// listing returns the listing requests the fake received, in order.
func (e *env) listing() []vendortest.Request {
	var out []vendortest.Request
	for _, r := range e.rec.Requests() {
		if strings.Contains(r.Path, e.h.ListPath) {
			out = append(out, r)
		}
	}
	return out
}

// requestID identifies a request for "was this page asked for twice":
// method, path, query and body (windows may travel in the body).
func requestID(r vendortest.Request) string {
	return r.Method + " " + r.Path + "?" + r.Query + " " + string(r.Body)
}

func (h Harness) allPersonsRead(t *testing.T) {
	e := h.start(t, "/")
	res := e.mustPull(t, nil)
	e.wantAllPersons(t, res, Persons)
	for i, p := range res.pages {
		if p.Label == "" {
			t.Errorf("page %d has no Label: a page must be named in logs and errors", i)
		}
	}
	for _, r := range res.records {
		if r.Source != e.in.Name || r.SourceID == "" {
			t.Errorf("record (Source %q, SourceID %q): want Source = instance %q and a vendor key", r.Source, r.SourceID, e.in.Name)
		}
	}
	if n := len(e.listing()); n < 3 {
		t.Errorf("%d listing requests matched %q, want ≥ 3: the fake must spread its persons over 3 pages", n, h.ListPath)
	}
}

func (h Harness) allPersonsReadUnderPathPrefix(t *testing.T) {
	// The base URL carries a path prefix (vendors.md: "https://host/bot/v1/"):
	// every request, pagination links included, must stay under it, or the
	// mount answers 404.
	e := h.start(t, "/prefix/v1/")
	res := e.mustPull(t, nil)
	e.wantAllPersons(t, res, Persons)
}

func (h Harness) resumeFromSavedCursor(t *testing.T) {
	e := h.start(t, "/")
	first := e.mustPull(t, nil)
	before := e.persons(first.records)

	h.AddPerson(Persons + 1)
	resumed := e.mustPull(t, first.cursor)
	var added []string
	for k := range e.persons(resumed.records) {
		if !before[k] {
			added = append(added, k)
		}
	}
	if len(added) != 1 {
		t.Errorf("pull from the saved cursor %q found new persons %v, want exactly the one added", first.cursor, added)
	}

	all := e.mustPull(t, nil)
	e.wantAllPersons(t, all, Persons+1)
}

func (h Harness) paginationEnds(t *testing.T) {
	e := h.start(t, "/")
	e.mustPull(t, nil)
	first := e.listing()
	seen := map[string]int{}
	for _, r := range first {
		seen[requestID(r)]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("listing page requested %d times in one run: %s", n, id)
		}
	}
	if len(first) < 3 {
		t.Errorf("%d listing requests, want ≥ 3", len(first))
	}
	// The same data paginates the same way: a second run reads as many pages.
	e.mustPull(t, nil)
	if n := len(e.listing()) - len(first); n != len(first) {
		t.Errorf("second run made %d listing requests, first made %d", n, len(first))
	}
}

func (h Harness) retryAfterHonoured(t *testing.T) {
	e := h.start(t, "/")
	e.rec.Inject(vendortest.Fault{Match: h.ListPath, Skip: 1, Status: http.StatusTooManyRequests, RetryAfter: "1",
		Body: `{"message":"Too Many Attempts.","detail":"Request was throttled. Expected available in 1 second."}`})
	res := e.mustPull(t, nil)
	e.wantAllPersons(t, res, Persons)

	list := e.listing()
	if len(list) < 3 {
		t.Fatalf("%d listing requests, want the throttled one and its retry among ≥ 3", len(list))
	}
	throttled := list[1]
	for _, r := range list[2:] {
		if requestID(r) != requestID(throttled) {
			continue
		}
		if gap := r.At.Sub(throttled.At); gap < time.Second {
			t.Errorf("retry came %v after the 429, want ≥ 1s (Retry-After: 1)", gap)
		}
		return
	}
	t.Errorf("the throttled request %s was never sent again", requestID(throttled))
}

func (h Harness) unauthorizedMidPagination(t *testing.T) {
	fault := vendortest.Fault{Match: h.ListPath, Skip: 1, Status: http.StatusUnauthorized,
		Body: `{"message":"Unauthenticated.","detail":"Invalid token.","status_code":401,"errors":{"detail":["Token expired"]},"data":{}}`}
	if !h.Renewable {
		e := h.start(t, "/")
		e.rec.Inject(fault)
		res := e.pull(t, nil)
		if res.err == nil {
			t.Fatal("Pull succeeded after a 401 on a credential that cannot be renewed; want a run error")
		}
		if msg := strings.ToLower(res.err.Error()); !strings.Contains(msg, "401") && !strings.Contains(msg, "credential") {
			t.Errorf("error %q does not say 401 or credential", res.err)
		}
		return
	}

	clean := h.start(t, "/")
	clean.mustPull(t, nil)
	baseline := clean.rec.Count("", h.LoginPath)
	if baseline < 1 {
		t.Fatalf("a clean run made no request matching LoginPath %q", h.LoginPath)
	}

	e := h.start(t, "/")
	e.rec.Inject(fault)
	res := e.mustPull(t, nil)
	e.wantAllPersons(t, res, Persons)
	if n := e.rec.Count("", h.LoginPath); n != baseline+1 {
		t.Errorf("%d credential requests, want %d: a clean run's %d plus exactly one renewal", n, baseline+1, baseline)
	}
}

func (h Harness) malformedPage(t *testing.T) {
	e := h.start(t, "/")
	e.rec.Inject(vendortest.Fault{Match: h.ListPath, Skip: 1, Status: http.StatusOK, Body: `{"oops": [`})
	res := e.pull(t, nil)
	if res.err == nil {
		t.Fatal("Pull succeeded over a malformed page; want a run error")
	}
	if errors.Is(res.err, errRunaway) || errors.Is(res.err, context.DeadlineExceeded) {
		t.Fatalf("Pull did not stop at the malformed page: %v", res.err)
	}
	if msg := strings.ToLower(res.err.Error()); !strings.Contains(msg, "page") && !strings.Contains(msg, "offset") {
		t.Errorf("error %q does not name the page (no \"page\" or \"offset\" in it)", res.err)
	}
}

func (h Harness) rerunUnchanged(t *testing.T) {
	e := h.start(t, "/")
	first := e.mustPull(t, nil).records
	second := e.mustPull(t, nil).records
	if len(first) == 0 {
		t.Fatal("no records read")
	}
	// Record order across pages carries no meaning to the engine (it stores by
	// key); everything inside a record does: it feeds the content hash.
	byKey := func(rs []lead.Record) []lead.Record {
		rs = slices.Clone(rs)
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Key() < rs[j].Key() })
		return rs
	}
	if diff := cmp.Diff(byKey(first), byKey(second), rawAsJSON); diff != "" {
		t.Errorf("second run over unchanged data differs (-first +second):\n%s", diff)
	}
}

// rawAsJSON compares Record.Raw as JSON values, so the order of keys inside
// the raw document does not count as a change.
var rawAsJSON = cmp.FilterPath(func(p cmp.Path) bool {
	sf, ok := p.Last().(cmp.StructField)
	return ok && sf.Name() == "Raw"
}, cmp.Comparer(func(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}))

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// errStopped is what the emit of EmitErrorStopsPull answers.
var errStopped = errors.New("sourcetest: the engine refused the page")

// emitErrorStopsPull: the Source contract says Pull stops at once and
// returns emit's error when emit fails (the engine could not stage a page):
// no further page is emitted or requested.
func (h Harness) emitErrorStopsPull(t *testing.T) {
	e := h.start(t, "/")
	calls, asked := 0, 0
	err := e.src.Pull(context.Background(), nil, func(connectors.Page) error {
		calls++
		asked = len(e.listing()) // a source may read ahead before emitting
		return errStopped
	})
	if !errors.Is(err, errStopped) {
		t.Fatalf("Pull returned %v, want the emit error", err)
	}
	if calls != 1 {
		t.Fatalf("emit called %d times after it failed, want exactly 1", calls)
	}
	if n := len(e.listing()); n != asked {
		t.Errorf("%d listing requests after the failed emit, %d before: Pull went on reading", n, asked)
	}
}

// cancelledContextEndsPull: after its context is cancelled, Pull returns
// promptly with an error wrapping ctx.Err(), and emits nothing more.
func (h Harness) cancelledContextEndsPull(t *testing.T) {
	e := h.start(t, "/")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	err := e.src.Pull(ctx, nil, func(connectors.Page) error {
		calls++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Pull after cancel returned %v, want an error wrapping context.Canceled", err)
	}
	if calls != 1 {
		t.Errorf("emit called %d times, want 1: pages kept coming after the cancel", calls)
	}
}
