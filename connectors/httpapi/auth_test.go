package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors/vendortest"
)

// tokenVendor issues "tok-1", "tok-2", ... at POST /login and accepts only
// the latest token on every other path.
type tokenVendor struct {
	mu      sync.Mutex
	issued  int
	refuse  bool // refuse every token (a revoked account)
	badPass bool // refuse the login itself
	expiry  time.Time
}

func (v *tokenVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if r.URL.Path == "/login" {
		if v.badPass {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"message":"Invalid credentials."}`)
			return
		}
		v.issued++
		fmt.Fprintf(w, `{"token":"tok-%d","expiry":%q}`, v.issued, v.expiry.Format(time.RFC3339))
		return
	}
	if v.refuse || r.Header.Get("Authorization") != fmt.Sprintf("Bearer tok-%d", v.issued) {
		w.WriteHeader(401)
		fmt.Fprint(w, `{"message":"Unauthenticated."}`)
		return
	}
	okHandler.ServeHTTP(w, r)
}

func (v *tokenVendor) set(f func(v *tokenVendor)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f(v)
}

// loginAuth is the usual TokenAuth: POST login, Bearer header.
func loginAuth(now func() time.Time) *TokenAuth {
	return &TokenAuth{
		Now: now,
		Login: func(ctx context.Context, c *Client) (Token, error) {
			var out struct {
				Token  string
				Expiry time.Time
			}
			if _, err := c.JSON(ctx, &Request{Method: "POST", Path: "login", NoAuth: true, Label: "login"}, &out); err != nil {
				return Token{}, err
			}
			return Token{Value: out.Token, Expiry: out.Expiry, Extra: map[string]string{"refresh": "refresh-" + out.Token}}, nil
		},
		Set: func(r *http.Request, tok Token) { r.Header.Set("Authorization", "Bearer "+tok.Value) },
	}
}

func TestStaticAuthSetsHeaders(t *testing.T) {
	srv, rec := serve(t, okHandler)
	c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) {
		cfg.Auth = StaticAuth{Headers: map[string]string{"x-bot-token": "bp-1234", "Authorization": "Bearer bp-1234"}}
	})
	if _, err := c.Do(context.Background(), get("chats")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(context.Background(), &Request{Method: "POST", Path: "login", NoAuth: true}); err != nil {
		t.Fatal(err)
	}
	reqs := rec.Requests()
	if h := reqs[0].Header; h.Get("X-Bot-Token") != "bp-1234" || h.Get("Authorization") != "Bearer bp-1234" {
		t.Errorf("credential headers = %v", h)
	}
	if h := reqs[1].Header; h.Get("X-Bot-Token") != "" || h.Get("Authorization") != "" {
		t.Errorf("NoAuth request carries credentials: %v", h)
	}
}

func Test401RenewsOnceAndRetriesOnce(t *testing.T) {
	v := &tokenVendor{}
	srv, rec := serve(t, v)
	// The vendor revokes the first token after it was handed out.
	rec.Inject(vendortest.Fault{Match: "/leads", Status: 401, Body: `{"message":"Unauthenticated."}`})
	c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.Auth = loginAuth(nil) })

	if _, err := c.Do(context.Background(), get("leads")); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if n := rec.Count("POST", "/login"); n != 2 {
		t.Errorf("%d logins, want 2 (first use, then one renewal)", n)
	}
	var leads []vendortest.Request
	for _, r := range rec.Requests() {
		if r.Path == "/leads" {
			leads = append(leads, r)
		}
	}
	if len(leads) != 2 || leads[1].Header.Get("Authorization") != "Bearer tok-2" {
		t.Errorf("leads requests = %d, want 2 with the renewed token on the second", len(leads))
	}
}

func TestSecond401Fails(t *testing.T) {
	v := &tokenVendor{refuse: true}
	srv, rec := serve(t, v)
	c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.Auth = loginAuth(nil) })

	_, err := c.Do(context.Background(), get("leads"))
	if !IsStatus(err, 401) {
		t.Fatalf("err = %v, want the 401", err)
	}
	if n := rec.Count("", "/leads"); n != 2 {
		t.Errorf("%d leads requests, want 2 (one retry after renewing)", n)
	}
	if n := rec.Count("", "/login"); n != 2 {
		t.Errorf("%d logins, want 2", n)
	}
}

func TestStatic401Fails(t *testing.T) {
	srv, rec := serve(t, okHandler)
	rec.Inject(vendortest.Fault{Match: "/leads", Status: 401, Body: `{"detail":"Invalid token."}`})
	c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) {
		cfg.Auth = StaticAuth{Headers: map[string]string{"Authorization": "Token revoked-key"}}
	})

	_, err := c.Do(context.Background(), get("leads"))
	if !IsStatus(err, 401) || !errors.Is(err, ErrCredentialRefused) {
		t.Fatalf("err = %v, want the 401 and ErrCredentialRefused", err)
	}
	if n := rec.Count("", "/leads"); n != 1 {
		t.Errorf("%d requests, want 1: a static credential cannot be renewed", n)
	}
	if !strings.Contains(err.Error(), "Invalid token.") {
		t.Errorf("err = %q, want the vendor's words", err)
	}
}

func TestRefusedLoginIsNotRepeated(t *testing.T) {
	v := &tokenVendor{badPass: true}
	srv, rec := serve(t, v)
	c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.Auth = loginAuth(nil) })

	_, err := c.Do(context.Background(), get("leads"))
	if !IsStatus(err, 401) || !strings.Contains(err.Error(), "Invalid credentials.") {
		t.Fatalf("err = %v, want the login's 401", err)
	}
	if n := rec.Count("", "/login"); n != 1 {
		t.Errorf("%d logins, want 1: the same password is refused again", n)
	}
	if n := rec.Count("", "/leads"); n != 0 {
		t.Errorf("%d leads requests, want 0", n)
	}
}

func TestLoginRetriesOutliveTheAttemptTimeout(t *testing.T) {
	v := &tokenVendor{}
	srv, rec := serve(t, v)
	// The first login hangs past the attempt timeout; the login's own retry
	// must still get a token rather than inherit the outer attempt's deadline.
	rec.Inject(vendortest.Fault{Match: "/login", Delay: 5 * time.Second})
	c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) {
		cfg.Auth = loginAuth(nil)
		cfg.Timeout = 150 * time.Millisecond
	})

	if _, err := c.Do(context.Background(), get("leads")); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if n := rec.Count("", "/login"); n != 2 {
		t.Errorf("%d logins, want 2", n)
	}
}

func TestTokenAuthRenewsBeforeExpiry(t *testing.T) {
	clk := newFakeClock()
	v := &tokenVendor{expiry: clk.Now().Add(10 * time.Minute)}
	srv, rec := serve(t, v)
	auth := loginAuth(clk.Now)
	c := newClient(t, srv.URL, clk, func(cfg *Config) { cfg.Auth = auth })

	steps := []struct {
		at     time.Duration // since the first login
		logins int
	}{
		{0, 1},
		{8 * time.Minute, 1},             // still valid beyond the one-minute margin
		{9*time.Minute + time.Second, 2}, // inside the margin: renewed before it expires
		{9*time.Minute + 2*time.Second, 2},
	}
	start := clk.Now()
	for _, s := range steps {
		clk.Advance(start.Add(s.at).Sub(clk.Now()))
		if s.logins == 2 {
			v.set(func(v *tokenVendor) { v.expiry = clk.Now().Add(10 * time.Minute) })
		}
		if _, err := c.Do(context.Background(), get("leads")); err != nil {
			t.Fatalf("at +%v: %v", s.at, err)
		}
		if n := rec.Count("", "/login"); n != s.logins {
			t.Errorf("at +%v: %d logins, want %d", s.at, n, s.logins)
		}
	}
	if n := rec.Count("", "/leads"); n != len(steps) {
		t.Errorf("%d leads requests, want %d: no request was refused for an expired token", n, len(steps))
	}
	// Tokens and extras a vendor issued are secrets from then on.
	if got := c.Redact("tok-1 refresh-tok-2"); got != "[REDACTED] [REDACTED]" {
		t.Errorf("Redact = %q, want the issued values redacted", got)
	}
}

func TestLoginWithoutTokenIsError(t *testing.T) {
	srv, _ := serve(t, okHandler)
	auth := &TokenAuth{
		Login: func(context.Context, *Client) (Token, error) { return Token{}, nil },
		Set:   func(*http.Request, Token) {},
	}
	c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.Auth = auth })
	if _, err := c.Do(context.Background(), get("leads")); err == nil || !strings.Contains(err.Error(), "without a token") {
		t.Errorf("err = %v, want a login-without-token error", err)
	}
}

func TestConcurrentRequestsLogInOnce(t *testing.T) {
	v := &tokenVendor{}
	srv, rec := serve(t, v)
	c := newClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.Auth = loginAuth(nil) })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := c.Do(context.Background(), get("leads")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := rec.Count("", "/login"); n != 1 {
		t.Errorf("%d logins, want 1 shared by every request", n)
	}
}

// TestFailedLoginIsRetriedOnlyByItsOwnCall: a login failing with 502 is
// retried by the login request itself; the request that needed the token
// then fails at once instead of running the whole login again per attempt.
func TestFailedLoginIsRetriedOnlyByItsOwnCall(t *testing.T) {
	var logins atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" {
			logins.Add(1)
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	auth := &TokenAuth{
		Login: func(ctx context.Context, c *Client) (Token, error) {
			_, err := c.Do(ctx, &Request{Method: "POST", Path: "login", NoAuth: true})
			return Token{}, err
		},
		Set: func(*http.Request, Token) {},
	}
	c, err := New(Config{Name: "v", BaseURL: srv.URL, Auth: auth, MaxAttempts: 3,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(context.Background(), &Request{Method: "GET", Path: "leads"}); err == nil {
		t.Fatal("want the failed login's error")
	}
	if n := logins.Load(); n != 3 {
		t.Fatalf("%d login requests, want 3 (the login's own attempts, not 3 per attempt of the call)", n)
	}
}
