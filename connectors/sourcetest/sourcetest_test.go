package sourcetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/lead"
)

// The toy vendor: POST login {"user","pass"} -> {"token"}; GET v1/people?page=N&since=RFC3339
// -> {"people":[...],"next":"<absolute URL>"|null}, three persons a page.

const (
	toyUser, toyPass = "toy-user", "toy-pass"
	toyKey           = "toy-static-key"
	toyPerPage       = 3
)

type toyPerson struct {
	ID      int       `json:"id"`
	Name    string    `json:"name"`
	Email   string    `json:"email"`
	Created time.Time `json:"created"`
}

type toyFake struct {
	mu     sync.Mutex
	people []toyPerson
	tokens map[string]bool
	issued int
}

func newToyFake(persons int) *toyFake {
	f := &toyFake{tokens: map[string]bool{}}
	base := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	for i := 1; i <= persons; i++ {
		f.add(i, base.Add(time.Duration(i)*time.Minute))
	}
	return f
}

func (f *toyFake) add(i int, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.people = append(f.people, toyPerson{ID: i, Name: fmt.Sprintf("Person %d", i), Email: fmt.Sprintf("p%d@example.com", i), Created: at.UTC()})
}

func (f *toyFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == "POST" && r.URL.Path == "/login":
		var in struct{ User, Pass string }
		if json.NewDecoder(r.Body).Decode(&in) != nil || in.User != toyUser || in.Pass != toyPass {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"message":"Invalid credentials."}`)
			return
		}
		f.issued++
		tok := fmt.Sprintf("toy-token-%d", f.issued)
		f.tokens[tok] = true
		json.NewEncoder(w).Encode(map[string]string{"token": tok})
	case r.Method == "GET" && r.URL.Path == "/v1/people":
		auth := r.Header.Get("Authorization")
		if auth != "Token "+toyKey && !f.tokens[strings.TrimPrefix(auth, "Bearer ")] {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"message":"Unauthenticated."}`)
			return
		}
		f.list(w, r)
	default:
		w.WriteHeader(404)
		fmt.Fprint(w, `{"message":"Not found."}`)
	}
}

func (f *toyFake) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	since, _ := time.Parse(time.RFC3339, q.Get("since"))
	var match []toyPerson
	for _, p := range f.people {
		if !p.Created.Before(since) {
			match = append(match, p)
		}
	}
	lo := min((page-1)*toyPerPage, len(match))
	hi := min(lo+toyPerPage, len(match))
	out := map[string]any{"people": match[lo:hi], "next": nil}
	if hi < len(match) {
		// An absolute link built from the URL as the client sent it, so it
		// stays under whatever prefix the fake is mounted at.
		next, _ := url.Parse(r.RequestURI)
		next.Scheme, next.Host = "http", r.Host
		nq := next.Query()
		nq.Set("page", strconv.Itoa(page+1))
		next.RawQuery = nq.Encode()
		out["next"] = next.String()
	}
	json.NewEncoder(w).Encode(out)
}

// toyBug breaks the toy source on purpose, to prove each subtest catches
// what it claims to (see TestSuiteCatchesBrokenSources).
type toyBug string

const (
	bugNone            toyBug = ""
	bugSkipNewOnResume toyBug = "skip-new-on-resume" // resumes after its cursor, missing the overlap
	bugRefetchPage1    toyBug = "refetch-page-1"     // asks for page 1 twice
	bugVagueError      toyBug = "vague-error"        // run error that names no page
	bugPanicOnBadPage  toyBug = "panic-on-bad-page"
	bugUnstableTags    toyBug = "unstable-tags" // record content changes between runs
	bugLoseLastPage    toyBug = "lose-last-page"
	bugRootPaths       toyBug = "root-paths"     // ignores the base URL's path prefix
	bugSwallowErrors   toyBug = "swallow-errors" // ends the run quietly on any error
)

type toySource struct {
	in   *connectors.Instance
	c    *httpapi.Client
	bug  toyBug
	runs int
}

type toyCursor struct {
	Since time.Time `json:"since"`
}

func (s *toySource) Pull(ctx context.Context, cursor connectors.Cursor, emit func(connectors.Page) error) error {
	s.runs++
	since := s.in.Now().Add(-s.in.Backfill)
	if cursor != nil {
		var c toyCursor
		if err := json.Unmarshal(cursor, &c); err != nil {
			return fmt.Errorf("%s: bad cursor: %w", s.in.Name, err)
		}
		since = c.Since.Add(-s.in.Overlap)
		if s.bug == bugSkipNewOnResume {
			since = s.in.Now().Add(time.Hour)
		}
	}
	link := "v1/people?" + url.Values{"since": {since.UTC().Format(time.RFC3339)}, "page": {"1"}}.Encode()
	if s.bug == bugRootPaths {
		link = "/" + link
		u := s.c.Base()
		u.Path = ""
		link = u.String() + link
	}
	latest := since
	for page := 1; link != ""; page++ {
		label := fmt.Sprintf("people page %d", page)
		var body struct {
			People []json.RawMessage `json:"people"`
			Next   *string           `json:"next"`
		}
		_, err := s.c.JSON(ctx, &httpapi.Request{Method: "GET", Path: link, Label: label}, &body)
		if err != nil {
			switch s.bug {
			case bugSwallowErrors:
				return nil
			case bugVagueError:
				return errors.New("toy: something went wrong")
			case bugPanicOnBadPage:
				panic("toy: cannot decode")
			}
			return err
		}
		if s.bug == bugRefetchPage1 && page == 1 {
			if _, err := s.c.Do(ctx, &httpapi.Request{Method: "GET", Path: link, Label: label}); err != nil {
				return err
			}
		}
		if s.bug == bugLoseLastPage && body.Next == nil {
			return nil
		}
		p := connectors.Page{Label: label}
		for _, raw := range body.People {
			rec, problems, at := s.record(raw)
			p.Records = append(p.Records, rec)
			p.Problems = append(p.Problems, problems...)
			if at.After(latest) {
				latest = at
			}
		}
		c, _ := json.Marshal(toyCursor{Since: latest})
		p.Cursor = c
		if err := emit(p); err != nil {
			return err
		}
		link = ""
		if body.Next != nil {
			link = *body.Next
		}
	}
	return nil
}

func (s *toySource) record(raw json.RawMessage) (lead.Record, []error, time.Time) {
	var p toyPerson
	if err := json.Unmarshal(raw, &p); err != nil {
		return lead.Record{Source: s.in.Name, Raw: raw}, []error{err}, time.Time{}
	}
	rec := lead.Record{Source: s.in.Name, SourceID: strconv.Itoa(p.ID), CreatedAt: p.Created, Raw: raw, Context: "toy list"}
	rec.FirstName, rec.LastName = lead.SplitName(lead.CleanName(p.Name))
	problems := rec.AddContacts(s.in.Region, []string{p.Email}, nil)
	if s.bug == bugUnstableTags {
		rec.Tags = []string{fmt.Sprintf("run-%d", s.runs)}
	}
	return rec, problems, p.Created
}

func toyHarness(login bool, bug toyBug) sourcetest.Harness {
	var fake *toyFake
	h := sourcetest.Harness{
		NewFake: func(t *testing.T, persons int) (http.Handler, *vendortest.Server) {
			fake = newToyFake(persons)
			rec := vendortest.New(fake)
			return rec, rec
		},
		Instance: func(baseURL string) *connectors.Instance {
			in := &connectors.Instance{Name: "toy", Type: "toy", BaseURL: baseURL, Region: "TN",
				Backfill: 90 * 24 * time.Hour, Overlap: time.Hour, Timeout: 5 * time.Second}
			if login {
				in.Auth = map[string]string{"username": toyUser, "password": toyPass}
			} else {
				in.Auth = map[string]string{"api_key": toyKey}
			}
			return in
		},
		NewSource: func(in *connectors.Instance) (connectors.Source, error) {
			var auth httpapi.Authenticator = httpapi.StaticAuth{Headers: map[string]string{"Authorization": "Token " + in.Auth["api_key"]}}
			if login {
				auth = &httpapi.TokenAuth{
					Login: func(ctx context.Context, c *httpapi.Client) (httpapi.Token, error) {
						var out struct{ Token string }
						req := &httpapi.Request{Method: "POST", Path: "login", NoAuth: true, Label: "login",
							JSON: map[string]string{"user": in.Auth["username"], "pass": in.Auth["password"]}}
						if _, err := c.JSON(ctx, req, &out); err != nil {
							return httpapi.Token{}, err
						}
						return httpapi.Token{Value: out.Token}, nil
					},
					Set: func(r *http.Request, tok httpapi.Token) { r.Header.Set("Authorization", "Bearer "+tok.Value) },
				}
			}
			c, err := in.HTTP(auth)
			if err != nil {
				return nil, err
			}
			return &toySource{in: in, c: c, bug: bug}, nil
		},
		ListPath:  "/v1/people",
		Renewable: login,
		AddPerson: func(i int) { fake.add(i, time.Now()) },
		PersonKey: func(r lead.Record) string { return r.SourceID },
	}
	if login {
		h.LoginPath = "/login"
	}
	return h
}

func TestToySourceWithLoginConforms(t *testing.T) {
	t.Parallel()
	sourcetest.Run(t, toyHarness(true, bugNone))
}

func TestToySourceWithStaticKeyConforms(t *testing.T) {
	t.Parallel()
	sourcetest.Run(t, toyHarness(false, bugNone))
}

// TestToyUnderBug runs the suite against a deliberately broken toy; it does
// nothing unless TestSuiteCatchesBrokenSources starts it in a child process.
func TestToyUnderBug(t *testing.T) {
	bug := os.Getenv("SOURCETEST_TOY_BUG")
	if bug == "" {
		t.Skip("run by TestSuiteCatchesBrokenSources")
	}
	sourcetest.Run(t, toyHarness(os.Getenv("SOURCETEST_TOY_LOGIN") == "1", toyBug(bug)))
}

// TestSuiteCatchesBrokenSources proves each subtest fails when the behaviour
// it guards breaks. Each broken toy runs in a child process because the
// suite reports through *testing.T, and a failing child must not fail us.
func TestSuiteCatchesBrokenSources(t *testing.T) {
	cases := []struct {
		bug     toyBug
		login   bool
		subtest string
	}{
		{bugSkipNewOnResume, true, "ResumeFromSavedCursorLosesNothing"},
		{bugRefetchPage1, true, "PaginationEnds"},
		{bugVagueError, true, "MalformedPageIsRunErrorNamingPage"},
		{bugPanicOnBadPage, true, "MalformedPageIsRunErrorNamingPage"},
		{bugUnstableTags, true, "RerunUnchangedIsIdentical"},
		{bugLoseLastPage, true, "AllPersonsRead"},
		{bugRootPaths, true, "AllPersonsReadUnderPathPrefix"},
		{bugSwallowErrors, false, "Unauthorized401MidPagination"},
	}
	for _, tc := range cases {
		t.Run(string(tc.bug), func(t *testing.T) {
			t.Parallel()
			out, err := runChild(t, tc.bug, tc.login, tc.subtest)
			if err == nil {
				t.Fatalf("suite passed a toy with bug %q; output:\n%s", tc.bug, out)
			}
			if !strings.Contains(out, "--- FAIL: TestToyUnderBug/"+tc.subtest) {
				t.Errorf("want subtest %s to fail; output:\n%s", tc.subtest, out)
			}
		})
	}
}

func runChild(t *testing.T, bug toyBug, login bool, subtest string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestToyUnderBug$/^"+subtest+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "SOURCETEST_TOY_BUG="+string(bug), "SOURCETEST_TOY_LOGIN="+map[bool]string{true: "1", false: "0"}[login])
	out, err := cmd.CombinedOutput()
	return string(out), err
}
