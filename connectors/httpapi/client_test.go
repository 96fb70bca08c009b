package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/connectors/vendortest"
)

func get(path string) *Request { return &Request{Method: http.MethodGet, Path: path} }

func TestRetry429WithRetryAfterSeconds(t *testing.T) {
	srv, rec := serve(t, okHandler)
	rec.Inject(vendortest.Fault{Match: "/leads", Status: 429, RetryAfter: "7", Body: `{"message":"Too Many Attempts."}`})
	clk := newFakeClock()
	c := newClient(t, srv.URL, clk, nil)

	resp, err := c.Do(context.Background(), get("leads"))
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if resp.Status != 200 {
		t.Errorf("status = %d, want 200", resp.Status)
	}
	if n := rec.Count("", "/leads"); n != 2 {
		t.Errorf("server saw %d requests, want 2", n)
	}
	if got := clk.Slept(); got != 7*time.Second {
		t.Errorf("waited %v before the retry, want exactly the 7s Retry-After", got)
	}
}

func TestRetry503WithRetryAfterHTTPDate(t *testing.T) {
	clk := newFakeClock()
	srv, rec := serve(t, okHandler)
	date := clk.Now().Add(90 * time.Second).Format(http.TimeFormat)
	rec.Inject(vendortest.Fault{Match: "/leads", Status: 503, RetryAfter: date})
	c := newClient(t, srv.URL, clk, nil)

	if _, err := c.Do(context.Background(), get("leads")); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if n := rec.Count("", "/leads"); n != 2 {
		t.Errorf("server saw %d requests, want 2", n)
	}
	if got := clk.Slept(); got != 90*time.Second {
		t.Errorf("waited %v, want the 90s up to the Retry-After date", got)
	}
}

// serverClock records the fake time at which each request arrived.
func serverClock(clk *fakeClock, at *[]time.Time, mu *sync.Mutex) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*at = append(*at, clk.Now())
		mu.Unlock()
		okHandler.ServeHTTP(w, r)
	})
}

func TestRetryAfterPausesOtherRequestsOfInstance(t *testing.T) {
	clk := newFakeClock()
	var (
		mu sync.Mutex
		at []time.Time
	)
	srv, rec := serve(t, serverClock(clk, &at, &mu))
	rec.Inject(vendortest.Fault{Match: "/leads", Status: 429, RetryAfter: "30"})
	// One attempt: the 429 call fails at once and leaves the pause behind.
	c := newClient(t, srv.URL, clk, func(cfg *Config) { cfg.MaxAttempts = 1 })
	t0 := clk.Now()

	if _, err := c.Do(context.Background(), get("leads")); !IsStatus(err, 429) {
		t.Fatalf("first call: err = %v, want a 429", err)
	}
	if _, err := c.Do(context.Background(), get("rooms")); err != nil {
		t.Fatalf("other call: %v", err)
	}
	if len(at) != 1 {
		t.Fatalf("handler saw %d requests, want 1 (the rooms call)", len(at))
	}
	if at[0].Before(t0.Add(30 * time.Second)) {
		t.Errorf("other request of the instance sent at +%v, want ≥ +30s (Retry-After pauses the instance)", at[0].Sub(t0))
	}
}

func TestRetryAfterOverMaxFailsAndKeepsPause(t *testing.T) {
	clk := newFakeClock()
	var (
		mu sync.Mutex
		at []time.Time
	)
	srv, rec := serve(t, serverClock(clk, &at, &mu))
	rec.Inject(vendortest.Fault{Match: "/leads", Status: 429, RetryAfter: "3600"})
	c := newClient(t, srv.URL, clk, func(cfg *Config) { cfg.MaxRetryAfter = time.Minute })
	t0 := clk.Now()

	_, err := c.Do(context.Background(), get("leads"))
	if !errors.Is(err, ErrRetryAfterLong) {
		t.Fatalf("err = %v, want ErrRetryAfterLong", err)
	}
	if !IsStatus(err, 429) {
		t.Errorf("err = %v, want the 429 reachable with IsStatus", err)
	}
	if n := rec.Count("", "/leads"); n != 1 {
		t.Errorf("server saw %d requests, want 1: a wait beyond the maximum is not retried", n)
	}
	if got := clk.Slept(); got != 0 {
		t.Errorf("slept %v, want no wait shorter than the vendor asked", got)
	}
	if _, err := c.Do(context.Background(), get("rooms")); err != nil {
		t.Fatalf("later call: %v", err)
	}
	if len(at) != 1 || at[0].Before(t0.Add(time.Hour)) {
		t.Errorf("later request sent at %v, want ≥ +1h (the vendor's pause is kept)", at)
	}
}

func TestRetry502504BackoffThenSuccess(t *testing.T) {
	srv, rec := serve(t, okHandler)
	rec.Inject(vendortest.Fault{Match: "/leads", Status: 502})
	rec.Inject(vendortest.Fault{Match: "/leads", Status: 504})
	clk := newFakeClock()
	obs := &observer{}
	c := newClient(t, srv.URL, clk, func(cfg *Config) { cfg.Observer = obs })

	if _, err := c.Do(context.Background(), get("leads")); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if n := rec.Count("", "/leads"); n != 3 {
		t.Errorf("server saw %d requests, want 3", n)
	}
	if diff := cmp.Diff([]string{"502", "504"}, obs.Retries()); diff != "" {
		t.Errorf("retry reasons (-want +got):\n%s", diff)
	}
	// Full jitter in [d/2, d], d doubling from BaseBackoff (100ms).
	sl := clk.NonZeroSleeps()
	if len(sl) != 2 {
		t.Fatalf("sleeps = %v, want 2 backoffs", sl)
	}
	for i, d := range sl {
		hi := 100 * time.Millisecond << i
		if d < hi/2 || d > hi {
			t.Errorf("backoff %d = %v, want in [%v, %v]", i+1, d, hi/2, hi)
		}
	}
}

func TestGiveUpAfterMaxAttempts(t *testing.T) {
	srv, rec := serve(t, okHandler)
	rec.Inject(vendortest.Fault{Match: "/leads", Status: 500, Times: 100, Body: `{"error":"boom"}`})
	c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.MaxAttempts = 3 })

	_, err := c.Do(context.Background(), get("leads"))
	if !errors.Is(err, ErrAttemptsUsed) {
		t.Fatalf("err = %v, want ErrAttemptsUsed", err)
	}
	if !IsStatus(err, 500) {
		t.Errorf("err = %v, want the last 500 reachable", err)
	}
	if n := rec.Count("", "/leads"); n != 3 {
		t.Errorf("server saw %d requests, want MaxAttempts=3", n)
	}
	if !strings.Contains(err.Error(), "3 attempts") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("err = %q, want the attempt count and the vendor's last answer", err)
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	srv, rec := serve(t, okHandler)
	rec.Inject(vendortest.Fault{Match: "/leads", Delay: 5 * time.Second})
	obs := &observer{}
	c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) {
		cfg.Timeout = 100 * time.Millisecond
		cfg.Observer = obs
	})

	if _, err := c.Do(context.Background(), get("leads")); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if n := rec.Count("", "/leads"); n != 2 {
		t.Errorf("server saw %d requests, want 2", n)
	}
	if diff := cmp.Diff([]string{"timeout"}, obs.Retries()); diff != "" {
		t.Errorf("retry reasons (-want +got):\n%s", diff)
	}
}

// closedAddr is a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	for _, req := range []*Request{
		get("leads"),
		// A refused connection certainly sent nothing: even a create is re-sent.
		{Method: http.MethodPost, Path: "leads", JSON: map[string]string{"name": "x"}, NoRetry: true},
	} {
		t.Run(req.Method, func(t *testing.T) {
			srv, rec := serve(t, okHandler)
			dead := closedAddr(t)
			var dials atomic.Int32
			tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if dials.Add(1) == 1 {
					addr = dead // the first connection is refused
				}
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}}
			t.Cleanup(tr.CloseIdleConnections)
			obs := &observer{}
			c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.Transport, cfg.Observer = tr, obs })

			if _, err := c.Do(context.Background(), req); err != nil {
				t.Fatalf("Do: %v", err)
			}
			if n := rec.Count("", "/leads"); n != 1 {
				t.Errorf("server saw %d requests, want 1", n)
			}
			if diff := cmp.Diff([]string{"connection"}, obs.Retries()); diff != "" {
				t.Errorf("retry reasons (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNoRetryCreateNotResentAfterMaybeDelivered(t *testing.T) {
	cases := []struct {
		name  string
		fault vendortest.Fault
		isErr func(error) bool
	}{
		{"committed then connection dropped", vendortest.Fault{Method: "POST", Match: "/leads", After: true},
			func(err error) bool { return errors.Is(err, ErrMaybeDelivered) }},
		{"timeout after sending", vendortest.Fault{Method: "POST", Match: "/leads", Delay: 5 * time.Second},
			func(err error) bool { return errors.Is(err, ErrMaybeDelivered) }},
		{"500", vendortest.Fault{Method: "POST", Match: "/leads", Status: 500},
			func(err error) bool { return IsStatus(err, 500) }},
		{"503", vendortest.Fault{Method: "POST", Match: "/leads", Status: 503, RetryAfter: "1"},
			func(err error) bool { return IsStatus(err, 503) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, rec := serve(t, okHandler)
			rec.Inject(tc.fault)
			c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.Timeout = 100 * time.Millisecond })

			_, err := c.Do(context.Background(), &Request{Method: "POST", Path: "leads", JSON: map[string]string{"name": "Ann"}, NoRetry: true})
			if err == nil || !tc.isErr(err) {
				t.Fatalf("err = %v, want the failure reported", err)
			}
			if n := rec.Count("POST", "/leads"); n != 1 {
				t.Errorf("server saw %d creates, want exactly 1: the create may have happened", n)
			}
		})
	}
	t.Run("handler ran once", func(t *testing.T) {
		var creates atomic.Int32
		srv, rec := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { creates.Add(1) }))
		rec.Inject(vendortest.Fault{Method: "POST", Match: "/leads", After: true})
		c := newClient(t, srv.URL, newFakeClock(), nil)
		if _, err := c.Do(context.Background(), &Request{Method: "POST", Path: "leads", NoRetry: true}); !errors.Is(err, ErrMaybeDelivered) {
			t.Fatalf("err = %v, want ErrMaybeDelivered", err)
		}
		if n := creates.Load(); n != 1 {
			t.Errorf("the vendor committed %d creates, want 1", n)
		}
	})
}

// A failure before anything reached the network is neither retried nor
// reported as a create that may have happened.
func TestUnsentRequestIsNotRetriedNorMaybeDelivered(t *testing.T) {
	for _, noRetry := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoRetry=%v", noRetry), func(t *testing.T) {
			srv, rec := serve(t, okHandler)
			clk := newFakeClock()
			c := newClient(t, srv.URL, clk, nil)
			_, err := c.Do(context.Background(), &Request{Method: "POST", Path: "leads", JSON: map[string]any{"x": func() {}}, NoRetry: noRetry})
			if err == nil || errors.Is(err, ErrMaybeDelivered) || errors.Is(err, ErrAttemptsUsed) {
				t.Fatalf("err = %v, want the encoding failure, neither retried nor maybe delivered", err)
			}
			if !strings.Contains(err.Error(), "test: POST leads:") {
				t.Errorf("err = %q, want it to name the instance and the call", err)
			}
			if n := len(rec.Requests()); n != 0 || clk.Slept() != 0 {
				t.Errorf("%d requests sent, slept %v; want none", n, clk.Slept())
			}
		})
	}
}

func TestNoRetryResentAfter429(t *testing.T) {
	var creates atomic.Int32
	srv, rec := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		creates.Add(1)
		okHandler.ServeHTTP(w, r)
	}))
	rec.Inject(vendortest.Fault{Method: "POST", Match: "/leads", Status: 429, RetryAfter: "2"})
	clk := newFakeClock()
	c := newClient(t, srv.URL, clk, nil)

	// A 429 is a refusal before processing: re-sending cannot duplicate.
	if _, err := c.Do(context.Background(), &Request{Method: "POST", Path: "leads", JSON: map[string]int{"a": 1}, NoRetry: true}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if n := rec.Count("POST", "/leads"); n != 2 {
		t.Errorf("server saw %d requests, want 2", n)
	}
	if n := creates.Load(); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
	if got := clk.Slept(); got != 2*time.Second {
		t.Errorf("waited %v, want the 2s Retry-After", got)
	}
}

func Test403And404ArePermanentNotRetried(t *testing.T) {
	for _, status := range []int{400, 403, 404, 422} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv, rec := serve(t, okHandler)
			rec.Inject(vendortest.Fault{Match: "/leads", Status: status, Body: `{"detail":"nope"}`})
			c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.Auth = StaticAuth{Headers: map[string]string{"X-Key": "k-1234"}} })

			_, err := c.Do(context.Background(), get("leads"))
			var se *StatusError
			if !errors.As(err, &se) || se.Status != status {
				t.Fatalf("err = %v, want a StatusError %d", err, status)
			}
			if !se.Permanent() {
				t.Errorf("Permanent() = false for %d", status)
			}
			if n := rec.Count("", "/leads"); n != 1 {
				t.Errorf("server saw %d requests, want 1", n)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(status)) || !strings.Contains(err.Error(), "nope") {
				t.Errorf("err = %q, want the status and the vendor's words", err)
			}
			if string(se.Body) != `{"detail":"nope"}` {
				t.Errorf("Body = %q, want the vendor's body for parsing", se.Body)
			}
		})
	}
}

func TestBodyOverLimitIsError(t *testing.T) {
	const limit = 100
	for _, size := range []int{limit, limit + 1, 10 * limit} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			body := strings.Repeat("x", size)
			srv, rec := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
			c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.MaxBody = limit })

			resp, err := c.Do(context.Background(), get("big"))
			if size <= limit {
				if err != nil || len(resp.Body) != size {
					t.Fatalf("Do = %v, %v; want the whole %d bytes", resp, err, size)
				}
				return
			}
			if !errors.Is(err, ErrBodyTooLarge) {
				t.Fatalf("err = %v, want ErrBodyTooLarge, never a truncated body", err)
			}
			if resp != nil {
				t.Errorf("resp = %+v, want none", resp)
			}
			if n := rec.Count("", "/big"); n != 1 {
				t.Errorf("server saw %d requests, want 1 (not retried)", n)
			}
		})
	}
}

func TestForeignNextLinkRefusedBeforeSending(t *testing.T) {
	var foreignHits atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { foreignHits.Add(1) }))
	t.Cleanup(foreign.Close)
	srv, rec := serve(t, okHandler)
	c := newClient(t, srv.URL+"/api/", newFakeClock(), func(cfg *Config) {
		cfg.Auth = StaticAuth{Headers: map[string]string{"Authorization": "Token secret-key"}}
	})
	host := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := net.SplitHostPort(host)

	for _, link := range []string{
		foreign.URL + "/api/leads?page=2",
		"//" + strings.TrimPrefix(foreign.URL, "http://") + "/api/leads",
		"https://" + host + "/api/leads?page=2", // a scheme change is another origin
		"http://localhost:" + port + "/api/leads",
		"mailto:a@b.example",
	} {
		t.Run(link, func(t *testing.T) {
			_, err := c.Do(context.Background(), get(link))
			if !errors.Is(err, ErrForeignHost) {
				t.Errorf("err = %v, want ErrForeignHost", err)
			}
		})
	}
	if n := foreignHits.Load(); n != 0 {
		t.Errorf("foreign host got %d requests, want 0", n)
	}
	if n := len(rec.Requests()); n != 0 {
		t.Errorf("base host got %d requests, want 0", n)
	}

	// A link on the base host is followed as given.
	resp, err := c.Do(context.Background(), get(srv.URL+"/api/leads?page=2"))
	if err != nil {
		t.Fatalf("same-host link: %v", err)
	}
	if resp.URL.RawQuery != "page=2" || rec.Count("", "/api/leads") != 1 {
		t.Errorf("same-host link: got %v, requests %+v", resp.URL, rec.Requests())
	}
}

func TestCrossHostRedirectRefused(t *testing.T) {
	var foreignHits atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		t.Errorf("foreign host got a request with headers %v", r.Header)
	}))
	t.Cleanup(foreign.Close)
	srv, rec := serve(t, http.RedirectHandler(foreign.URL+"/steal", http.StatusFound))
	c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) {
		cfg.Auth = StaticAuth{Headers: map[string]string{"X-Api-Key": "key-secret", "Authorization": "Bearer tok-secret"}}
	})

	_, err := c.Do(context.Background(), get("leads"))
	if !errors.Is(err, ErrForeignHost) {
		t.Fatalf("err = %v, want ErrForeignHost", err)
	}
	if n := rec.Count("", "/leads"); n != 1 {
		t.Errorf("base host saw %d requests, want 1 (a refused redirect is not retried)", n)
	}
	if n := foreignHits.Load(); n != 0 {
		t.Errorf("foreign host got %d requests, want 0", n)
	}
}

func TestSameHostRedirectFollowed(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/old", http.RedirectHandler("/new", http.StatusMovedPermanently))
	mux.Handle("/new", okHandler)
	srv, rec := serve(t, mux)
	c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) {
		cfg.Auth = StaticAuth{Headers: map[string]string{"X-Api-Key": "key-secret"}}
	})

	resp, err := c.Do(context.Background(), get("old"))
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if resp.URL.Path != "/new" || string(resp.Body) != `{"ok":true}` {
		t.Errorf("got %v %q, want the /new answer", resp.URL, resp.Body)
	}
	reqs := rec.Requests()
	if len(reqs) != 2 || reqs[1].Path != "/new" || reqs[1].Header.Get("X-Api-Key") != "key-secret" {
		t.Errorf("requests = %+v, want /old then /new with the credential", reqs)
	}
}

func TestPathPrefixJoin(t *testing.T) {
	cases := []struct {
		base, path, want string
	}{
		{"http://h/bot/v1/", "leads/", "http://h/bot/v1/leads/"},
		{"http://h/bot/v1", "leads/", "http://h/bot/v1/leads/"},
		{"http://h/bot/v1/", "/leads/", "http://h/bot/v1/leads/"},
		{"http://h/", "api/v1/leads?page=2", "http://h/api/v1/leads?page=2"},
		{"http://h", "login", "http://h/login"},
		{"http://h/bot/v1/", "items/a%2Fb", "http://h/bot/v1/items/a%2Fb"},
		{"http://h/bot/v1/", "?page=3", "http://h/bot/v1/?page=3"},
		{"http://h/bot/v1/", "http://h/other/leads?page=2", "http://h/other/leads?page=2"},
	}
	for _, tc := range cases {
		t.Run(tc.base+" + "+tc.path, func(t *testing.T) {
			c := newClient(t, tc.base, nil, nil)
			u, err := c.Resolve(tc.path)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if u.String() != tc.want {
				t.Errorf("Resolve = %s, want %s", u, tc.want)
			}
		})
	}

	t.Run("on the wire", func(t *testing.T) {
		srv, rec := serve(t, okHandler)
		c := newClient(t, srv.URL+"/bot/v1/", newFakeClock(), nil)
		req := &Request{Method: "GET", Path: "leads/?limit=5", Query: url.Values{"offset": {"10"}}}
		if _, err := c.Do(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		r := rec.Requests()[0]
		if r.Path != "/bot/v1/leads/" || r.Query != "limit=5&offset=10" {
			t.Errorf("sent %s?%s, want /bot/v1/leads/?limit=5&offset=10", r.Path, r.Query)
		}
	})
}

func TestSecretsRedactedFromErrors(t *testing.T) {
	const (
		static = "static-s3cret/+key" // has characters a URL escapes
		issued = "issued-token-7f3a9c"
		extra  = "refresh-token-b81d"
	)
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" {
			fmt.Fprintf(w, `{"token":%q,"refresh":%q}`, issued, extra)
			return
		}
		// A careless vendor echoes what it got.
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":"bad request","auth":%q,"query":%q}`, r.Header.Get("Authorization"), r.URL.RawQuery)
	})
	login := func(ctx context.Context, c *Client) (Token, error) {
		var out struct{ Token, Refresh string }
		if _, err := c.JSON(ctx, &Request{Method: "POST", Path: "login", NoAuth: true}, &out); err != nil {
			return Token{}, err
		}
		return Token{Value: out.Token, Extra: map[string]string{"refresh": out.Refresh}}, nil
	}
	dead := "http://" + closedAddr(t)

	cases := []struct {
		name string
		run  func(t *testing.T, base string) error
	}{
		{"static credential echoed in a 400", func(t *testing.T, base string) error {
			c := newClient(t, base, newFakeClock(), func(cfg *Config) {
				cfg.Secrets = []string{static}
				cfg.Auth = StaticAuth{Headers: map[string]string{"Authorization": "Token " + static}}
			})
			_, err := c.Do(context.Background(), &Request{Method: "GET", Path: "leads", Query: url.Values{"key": {static}}})
			return err
		}},
		{"token issued at login echoed in a 400", func(t *testing.T, base string) error {
			c := newClient(t, base, newFakeClock(), func(cfg *Config) {
				cfg.Auth = &TokenAuth{Login: login, Set: func(r *http.Request, tok Token) {
					r.Header.Set("Authorization", "Bearer "+tok.Value+" "+tok.Extra["refresh"])
				}}
			})
			_, err := c.Do(context.Background(), get("leads"))
			return err
		}},
		{"secret in the query of an unreachable URL", func(t *testing.T, _ string) error {
			c := newClient(t, dead, newFakeClock(), func(cfg *Config) { cfg.Secrets = []string{static}; cfg.MaxAttempts = 2 })
			_, err := c.Do(context.Background(), &Request{Method: "GET", Path: "leads", Query: url.Values{"api_key": {static}}})
			return err
		}},
		{"secret in the path of an unreachable URL", func(t *testing.T, _ string) error {
			c := newClient(t, dead, newFakeClock(), func(cfg *Config) { cfg.Secrets = []string{static}; cfg.MaxAttempts = 1 })
			_, err := c.Do(context.Background(), get("keys/"+url.PathEscape(static)))
			return err
		}},
		{"secret in a refused next link", func(t *testing.T, base string) error {
			c := newClient(t, base, newFakeClock(), func(cfg *Config) { cfg.Secrets = []string{static} })
			_, err := c.Do(context.Background(), get("http://h/%zz?key="+url.QueryEscape(static)))
			return err
		}},
		{"secret near a JSON syntax error", func(t *testing.T, _ string) error {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"key":%q,,}`, static)
			}))
			t.Cleanup(srv.Close)
			c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.Secrets = []string{static} })
			var out any
			_, err := c.JSON(context.Background(), get("leads"), &out)
			return err
		}},
		{"secret in a bad base URL", func(t *testing.T, _ string) error {
			_, err := New(Config{Name: "x", BaseURL: "ftp://user:" + static + "@h/", Secrets: []string{static}})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serve(t, echo)
			err := tc.run(t, srv.URL)
			if err == nil {
				t.Fatal("want an error")
			}
			msg := err.Error()
			for _, s := range []string{static, url.QueryEscape(static), url.PathEscape(static), issued, extra} {
				if strings.Contains(msg, s) {
					t.Errorf("error leaks %q: %s", s, msg)
				}
			}
			var se *StatusError
			if errors.As(err, &se) {
				for _, s := range []string{static, url.QueryEscape(static), issued, extra} {
					if strings.Contains(string(se.Body), s) {
						t.Errorf("StatusError.Body leaks %q: %s", s, se.Body)
					}
				}
			}
		})
	}
}

func TestRateLimiterBoundsRequests(t *testing.T) {
	const rps, total = 5, 8
	srv, rec := serve(t, okHandler)
	// Real clock: the limiter is x/time/rate's. Eight requests at 5/s take ~1.4s.
	c := newClient(t, srv.URL, nil, func(cfg *Config) { cfg.RPS, cfg.Burst = rps, 1 })

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range total / 4 {
				if _, err := c.Do(context.Background(), get("leads")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()

	reqs := rec.Requests()
	if len(reqs) != total {
		t.Fatalf("server saw %d requests, want %d", len(reqs), total)
	}
	for i := range reqs {
		n := 0
		for j := i; j < len(reqs) && reqs[j].At.Sub(reqs[i].At) < time.Second; j++ {
			n++
		}
		if n > rps+1 {
			t.Errorf("%d requests in the second from request %d, want ≤ %d", n, i, rps+1)
		}
	}
	// Burst 1: the requests are spaced 1/rps apart, so the span is measured, not assumed.
	if span := reqs[len(reqs)-1].At.Sub(reqs[0].At); span < time.Duration(total-1)*time.Second/rps-50*time.Millisecond {
		t.Errorf("%d requests took %v, want ≥ %v at %d/s", total, span, time.Duration(total-1)*time.Second/rps, rps)
	}
}

func TestAcceptHeaderAlwaysSent(t *testing.T) {
	srv, rec := serve(t, okHandler)
	rec.Inject(vendortest.Fault{Match: "/retried", Status: 503})
	c := newClient(t, srv.URL, newFakeClock(), nil)
	reqs := []*Request{
		get("plain"),
		{Method: "POST", Path: "json", JSON: map[string]int{"a": 1}},
		{Method: "POST", Path: "form", Form: []Field{{"a", "1"}}},
		{Method: "GET", Path: "override", Header: http.Header{"Accept": {"text/html"}}},
		{Method: "POST", Path: "login", NoAuth: true},
		get("retried"),
	}
	for _, r := range reqs {
		if _, err := c.Do(context.Background(), r); err != nil {
			t.Fatalf("%s: %v", r.Path, err)
		}
	}
	got := rec.Requests()
	if len(got) != len(reqs)+1 {
		t.Fatalf("server saw %d requests, want %d", len(got), len(reqs)+1)
	}
	for _, r := range got {
		if a := r.Header.Values("Accept"); len(a) != 1 || a[0] != "application/json" {
			t.Errorf("%s %s: Accept = %q, want application/json", r.Method, r.Path, a)
		}
	}
}

func TestMalformedJSONErrorNamesOffset(t *testing.T) {
	cases := []struct {
		body, want string
	}{
		{`{"oops": [`, "at byte 10"},
		{`{"a": [1, 2,, 3]}`, "at byte 13"},
		{`<html>` + strings.Repeat("x", 10000), "at byte 1"},
		{``, "empty response body"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			srv, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(tc.body)) }))
			c := newClient(t, srv.URL, newFakeClock(), nil)
			var out any
			_, err := c.JSON(context.Background(), &Request{Method: "GET", Path: "leads", Label: "leads page 2"}, &out)
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "leads page 2") {
				t.Errorf("err = %q, want %q and the call's label", err, tc.want)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error is %d bytes, want a short excerpt, not the body", len(err.Error()))
			}
		})
	}
	t.Run("wrong type", func(t *testing.T) {
		var out struct{ Data []int }
		err := DecodeJSON([]byte(`{"Data": {"x": 1}}`), &out)
		if err == nil || !strings.Contains(err.Error(), "unexpected JSON") {
			t.Errorf("err = %v, want an unexpected JSON error", err)
		}
	})
}

func TestObserverSeesEveryAttempt(t *testing.T) {
	srv, rec := serve(t, okHandler)
	rec.Inject(vendortest.Fault{Match: "/leads", Status: 503})
	rec.Inject(vendortest.Fault{Match: "/leads", Status: 500})
	rec.Inject(vendortest.Fault{Match: "/leads", Drop: true})
	obs := &observer{}
	c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.Observer = obs })

	// A POST: Go's transport silently re-sends an idempotent request after a
	// dropped reused connection, which would hide the dropped attempt.
	if _, err := c.Do(context.Background(), &Request{Method: "POST", Path: "leads"}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if diff := cmp.Diff([]int{503, 500, 0, 200}, obs.statuses); diff != "" {
		t.Errorf("observed statuses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"503", "500", "connection"}, obs.retries); diff != "" {
		t.Errorf("observed retries (-want +got):\n%s", diff)
	}
	if obs.waits != 4 {
		t.Errorf("RateWait called %d times, want once per attempt (4)", obs.waits)
	}
	if n := rec.Count("", "/leads"); n != 4 {
		t.Errorf("server saw %d requests, want 4", n)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	year := 365 * 24 * time.Hour
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{" 12 ", 12 * time.Second, true},
		{"99999999999999999999999", year, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Sunday, 01-Mar-26 12:02:00 GMT", 2 * time.Minute, true}, // RFC 850
		{"Sun Mar  1 12:00:30 2026", 30 * time.Second, true},      // asctime
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-5", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range cases {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "Wed, 21 Oct 2015 07:28:00 GMT", "-1", "1e9", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseRetryAfter(v, now)
		if d < 0 || (!ok && d != 0) {
			t.Errorf("ParseRetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{}`, `[1,2]`, `{"oops": [`, ``, `{"a":"é` + "\xff" + `"`, `{"data":{"x":1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var anyOut any
		var typed struct {
			Data []struct {
				ID   int    `json:"id"`
				Name string `json:"name"`
			} `json:"data"`
		}
		for _, out := range []any{&anyOut, &typed} {
			err := DecodeJSON(body, out)
			if err != nil && len(err.Error()) > 400 {
				t.Errorf("error is %d bytes: the body leaked into it", len(err.Error()))
			}
			if err == nil && !json.Valid(body) {
				t.Errorf("invalid JSON %q accepted", body)
			}
		}
	})
}

// A client's workers reuse their connections: rounds of 8 concurrent
// requests open 8 connections in all, not 8 per round (http.DefaultTransport
// keeps 2 idle per host and reopened the other 6 every round).
func TestConcurrentRequestsReuseTheirConnections(t *testing.T) {
	const workers, rounds = 8, 3
	var arrived atomic.Int32
	gate := make(chan struct{})
	var opened atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Answer only once all the round's requests are in, so that they
		// truly run on 8 connections at the same time.
		if arrived.Add(1)%workers == 0 {
			close(gate)
		}
		<-gate
		w.Write([]byte(`{}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, nil, nil)
	for range rounds {
		gate = make(chan struct{})
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				if _, err := c.Do(context.Background(), get("leads")); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if n := opened.Load(); n != workers {
		t.Errorf("%d connections opened for %d rounds of %d concurrent requests, want %d", n, rounds, workers, workers)
	}
}

// A multipart body is written into the buffer sized for it (formSize), for
// forms with no field, short fields and long values; without names to
// escape, the size is the body's.
func TestFormBodyFitsItsBuffer(t *testing.T) {
	long := strings.Repeat("x", 5000)
	forms := [][]Field{
		{},
		{{"a", ""}},
		{{"first_name", "Ali"}, {"last_name", "-"}, {"email", "216123@no-email.invalid"}, {"phone", "+21620123456"}, {"source", "Facebook"}},
		{{"note", long}, {"n", long[:1]}},
	}
	c, err := New(Config{Name: "t", BaseURL: "http://127.0.0.1/"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://127.0.0.1/x")
	for _, form := range forms {
		hreq, err := c.build(context.Background(), &Request{Method: "POST", Form: form}, u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(hreq.Body)
		_, params, _ := mime.ParseMediaType(hreq.Header.Get("Content-Type"))
		size := formSize(len(params["boundary"]), form)
		if len(body) > size {
			t.Errorf("%d fields: body of %d bytes, sized for %d", len(form), len(body), size)
		}
		if len(body) < size/2 {
			t.Errorf("%d fields: body of %d bytes, sized for %d: twice too much", len(form), len(body), size)
		}
		if len(body) != size { // no name here needs escaping: the size is exact
			t.Errorf("%d fields: body of %d bytes, sized for %d", len(form), len(body), size)
		}
	}
}

// A value of the wrong type is named by its kind, offset and field, not
// quoted whole: a 600-digit number stays out of the error, and the
// encoding/json error is still reachable.
func TestWrongTypeErrorNamesTheFieldNotTheValue(t *testing.T) {
	var out struct {
		Data struct {
			ID int `json:"id"`
		} `json:"data"`
	}
	long := strings.Repeat("4", 600)
	err := DecodeJSON([]byte(`{"data":{"id":`+long+`}}`), &out)
	if err == nil {
		t.Fatal("a 600-digit id decoded into an int")
	}
	msg := err.Error()
	for _, want := range []string{"at byte", "int was expected", "data.id"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, long[:100]) || len(msg) > 200 {
		t.Errorf("error (%d bytes) quotes the value: %q", len(msg), msg)
	}
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		t.Errorf("error %v does not wrap encoding/json's", err)
	}
}

// A record's decoding error names the field and the JSON kind wanted, not
// an anonymous struct's Go type spelled out, and never the value whole.
func TestDecodeRecordNamesFieldAndKind(t *testing.T) {
	type rec struct {
		ID      Text `json:"id"`
		Count   int  `json:"count"`
		Profile *struct {
			Contact struct {
				Phone Text `json:"phone"`
			} `json:"contact"`
		} `json:"profile"`
		Tags []json.RawMessage `json:"tags"`
	}
	long := strings.Repeat("7", 5000)
	tests := []struct {
		name, raw string
		want      []string
	}{
		{"number for an object", `{"id":"a","profile":5}`, []string{"unexpected JSON at byte", "number where object was expected", "in field profile"}},
		{"object for a list", `{"tags":{"a":1}}`, []string{"object where list was expected", "in field tags"}},
		{"overflowing number", `{"count":` + long + `}`, []string{"number 777", "…", "int was expected", "in field count"}},
		{"string for a nested object", `{"profile":{"contact":"x"}}`, []string{"string where object was expected", "profile.contact"}},
		{"malformed", `{"id":`, []string{"malformed JSON at byte"}},
		{"empty", ` `, []string{"empty record"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r rec
			err := DecodeRecord([]byte(tt.raw), &r)
			if err == nil {
				t.Fatalf("%s decoded without an error", tt.raw)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, "struct {") || len(msg) > 200 {
				t.Errorf("error (%d bytes) spells a Go type or quotes the value: %q", len(msg), msg)
			}
		})
	}
	var r rec
	if err := DecodeRecord([]byte(`{"id":12,"count":3,"profile":{"contact":{"phone":"+1"}},"tags":["x"]}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.ID != "12" || r.Count != 3 || r.Profile == nil || r.Profile.Contact.Phone != "+1" || len(r.Tags) != 1 {
		t.Errorf("decoded %+v", r)
	}
}
