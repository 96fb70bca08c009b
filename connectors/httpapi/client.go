// Package httpapi is the HTTP client every vendor connector shares. A
// connector describes its endpoints; this package owns everything that is the
// same for all vendors.
//
// One call to Client.Do runs this chain, outermost first:
//
//  1. URL resolution: a relative path joins the base URL's prefix; an absolute
//     link (a "next" page) must have the base URL's scheme and host, or the
//     call fails before anything is sent.
//  2. Attempt loop (retry): up to MaxAttempts tries. 429 and 503 wait for
//     Retry-After (delta-seconds or HTTP-date, refused beyond MaxRetryAfter)
//     and pause every request of this instance until then; 500, 502, 504,
//     timeouts and connection errors back off exponentially with full jitter.
//     A NoRetry request (a non-idempotent create) is re-sent only when it
//     certainly did not reach the server (a refused connection, a 429); when
//     it may have arrived unanswered, the error wraps ErrMaybeDelivered.
//  3. Rate limit: the instance's own x/time/rate limiter, waited on by every
//     attempt, retries included, so retries never exceed the configured rate.
//  4. Auth: the Authenticator sets credentials (a login runs as its own calls,
//     under the caller's context, not this attempt's timeout); a 401 makes it
//     renew once and the request is retried once; a second 401, or a 401 to
//     the login itself, is returned to the caller.
//  5. Transport: one context.WithTimeout per attempt; redirects to another
//     host are refused (credentials never leave their host); the body is read
//     through a limit, and a body over it is an error, never a truncation.
//
// Errors never contain a registered secret: every message passes Redact.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Defaults for Config's zero values.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultMaxBody       = 8 << 20
	DefaultMaxAttempts   = 5
	DefaultBaseBackoff   = 500 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	DefaultMaxRetryAfter = 5 * time.Minute
)

// Observer receives the client's events, for metrics. Implementations must be
// safe for concurrent use.
type Observer interface {
	// Request is called once per attempt; status is 0 when no response came.
	Request(instance, method string, status int, d time.Duration)
	// Retry is called before each retry with a short reason ("429", "503", "timeout", ...).
	Retry(instance, reason string)
	// RateWait is called with the time an attempt waited on the limiter or a Retry-After pause.
	RateWait(instance string, d time.Duration)
}

// Authenticator sets a vendor's credentials on a request.
type Authenticator interface {
	// Apply sets credentials on req, logging in first if it has no token yet.
	Apply(ctx context.Context, c *Client, req *http.Request) error
	// Renew discards the current token and gets a new one; called after a 401.
	Renew(ctx context.Context, c *Client) error
}

// Config configures one instance's client.
type Config struct {
	Name    string // the connector instance, for logs, metrics and errors
	BaseURL string // may carry a path prefix
	RPS     float64
	Burst   int

	Timeout       time.Duration // one attempt
	MaxBody       int64         // bytes of one response body
	MaxAttempts   int
	BaseBackoff   time.Duration
	MaxBackoff    time.Duration
	MaxRetryAfter time.Duration

	Auth     Authenticator // nil: no credentials
	Secrets  []string      // values redacted from every error and log line
	Logger   *slog.Logger
	Observer Observer

	// Transport replaces http.DefaultTransport (tests).
	Transport http.RoundTripper
	// Sleep waits d or until ctx is done (tests pass a fake clock's).
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock used for Retry-After dates and pauses.
	Now func() time.Time
}

// MaxIdleConnsPerHost is how many idle connections a client keeps open to
// its host: at least as many as the concurrent requests one instance makes.
const MaxIdleConnsPerHost = 64

// Client is one connector instance's HTTP client. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    *url.URL
	http    *http.Client
	limiter *rate.Limiter
	log     *slog.Logger

	mu      sync.Mutex
	paused  time.Time // no request before this time (Retry-After)
	secrets []string
}

// New checks cfg and builds a client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The client (and its redaction) does not exist yet: redact with the
		// configured secrets directly, a base URL may carry one.
		msg := fmt.Sprintf("%s: base_url %q must be an http(s) URL", cfg.Name, cfg.BaseURL)
		return nil, errors.New(redact(msg, cfg.Secrets))
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = DefaultBaseBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	lim := rate.NewLimiter(rate.Inf, 1)
	if cfg.RPS > 0 {
		b := cfg.Burst
		if b < 1 {
			b = 1
		}
		lim = rate.NewLimiter(rate.Limit(cfg.RPS), b)
	}
	tr := cfg.Transport
	if tr == nil {
		// http.DefaultTransport keeps only 2 idle connections per host, so
		// a pusher with more workers than that closed and reopened a
		// connection (a TLS handshake, against a real CRM) for most of its
		// requests. Each instance talks to one host: give it a pool of its own.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = MaxIdleConnsPerHost
		tr = t
	}
	c := &Client{cfg: cfg, base: u, limiter: lim, log: cfg.Logger.With("connector", cfg.Name)}
	for _, s := range cfg.Secrets {
		c.AddSecret(s)
	}
	c.http = &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			if !sameHost(req.URL, u) {
				return fmt.Errorf("%w: redirect to %s", ErrForeignHost, req.URL.Host)
			}
			return nil
		},
	}
	return c, nil
}

// Name is the instance name.
func (c *Client) Name() string { return c.cfg.Name }

// Base is the base URL, with a trailing slash.
func (c *Client) Base() *url.URL { u := *c.base; return &u }

// AddSecret registers a value (a token a vendor issued, say) for redaction.
func (c *Client) AddSecret(s string) {
	if len(s) < 4 {
		return // too short to redact without mangling ordinary text
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range c.secrets {
		if x == s {
			return
		}
	}
	c.secrets = append(c.secrets, s)
	// Longest first: a secret that contains another (a refresh token built
	// on the access token) must go whole, not leave its remainder behind.
	sort.SliceStable(c.secrets, func(i, j int) bool { return len(c.secrets[i]) > len(c.secrets[j]) })
}

// Redact replaces every registered secret in s, also in the escaped forms it
// takes inside a URL's query or path.
func (c *Client) Redact(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return redact(s, c.secrets)
}

func redact(s string, secrets []string) string {
	for _, x := range secrets {
		if len(x) < 4 {
			continue
		}
		s = strings.ReplaceAll(s, x, "[REDACTED]")
		if q := url.QueryEscape(x); q != x {
			s = strings.ReplaceAll(s, q, "[REDACTED]")
		}
		if p := url.PathEscape(x); p != x {
			s = strings.ReplaceAll(s, p, "[REDACTED]")
		}
	}
	return s
}

// Field is one multipart form field.
type Field struct{ Name, Value string }

// Request describes one API call.
type Request struct {
	Method string
	// Path is relative to the base URL ("leads/list/"), or an absolute link
	// the vendor gave (a next page), which must be on the base URL's host.
	Path   string
	Query  url.Values
	JSON   any     // sent as application/json when non-nil
	Form   []Field // sent as multipart/form-data when non-nil
	Header http.Header
	// NoAuth skips the Authenticator (login calls).
	NoAuth bool
	// NoRetry marks a non-idempotent call: it is re-sent only when it
	// certainly did not reach the server.
	NoRetry bool
	// Label names the call in errors ("leads page 3"); defaults to method and path.
	Label string
}

// Response is a complete, size-checked response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	URL    *url.URL
}

// Errors callers may test with errors.Is.
var (
	ErrForeignHost    = errors.New("link to another host refused")
	ErrBodyTooLarge   = errors.New("response body over the size limit")
	ErrRetryAfterLong = errors.New("vendor asks to wait longer than max_retry_after")
	ErrMaybeDelivered = errors.New("request may have reached the server; not re-sent")
	ErrAttemptsUsed   = errors.New("gave up after retries")
)

// StatusError is a non-2xx answer, after retries.
type StatusError struct {
	Instance string
	Label    string
	Status   int
	Body     []byte // the (redacted, bounded) body, for vendor-specific error parsing
	msg      string
}

func (e *StatusError) Error() string { return e.msg }

// Permanent reports whether retrying cannot help: 403 and 404 are
// configuration errors, 400 and 422 are refusals of this request.
func (e *StatusError) Permanent() bool {
	switch e.Status {
	case 400, 403, 404, 405, 409, 410, 422:
		return true
	}
	return false
}

// IsStatus reports whether err is a *StatusError with one of the codes.
func IsStatus(err error, codes ...int) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.Status == c {
			return true
		}
	}
	return false
}

// JSON runs req and decodes a 2xx body into out (if non-nil).
func (c *Client) JSON(ctx context.Context, req *Request, out any) (*Response, error) {
	resp, err := c.Do(ctx, req)
	if err != nil {
		return resp, err
	}
	if out != nil {
		if err := DecodeJSON(resp.Body, out); err != nil {
			// The excerpt in the message is the vendor's body: it may carry a secret.
			return resp, c.wrap(req, err)
		}
	}
	return resp, nil
}

// DecodeJSON decodes body into out with a clear message on failure: the
// offset and a short excerpt, never the whole body.
func DecodeJSON(body []byte, out any) error {
	return decodeJSON(body, out, "empty response body, expected JSON")
}

// DecodeRecord decodes one record (an element of a page already read by
// DecodeJSON) into out. Its errors are DecodeJSON's: a value of the wrong
// type is named by its kind, its field and the kind wanted, never quoted
// whole and never spelled as a Go type.
func DecodeRecord(raw []byte, out any) error {
	return decodeJSON(raw, out, "empty record, expected JSON")
}

func decodeJSON(body []byte, out any, empty string) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New(empty)
	}
	if err := json.Unmarshal(body, out); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("malformed JSON at byte %d: %v (near %q)", se.Offset, err, excerpt(body, se.Offset))
		}
		return describeDecodeError(err)
	}
	return nil
}

// describeDecodeError words a decoding error that is not a syntax error.
// encoding/json's message quotes a number of the wrong size whole ("number
// -4444…" with every digit) and spells an anonymous struct's type in full;
// named by its kind, offset and field, the body stays out of the error.
func describeDecodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		where := ""
		if te.Field != "" {
			where = " in field " + clip(te.Field, 60)
		}
		return &redactedError{msg: fmt.Sprintf("unexpected JSON at byte %d: %s where %s was expected%s",
			te.Offset, clip(te.Value, 40), jsonKind(te.Type), where), err: err}
	}
	return &redactedError{msg: "unexpected JSON: " + clip(err.Error(), 300), err: err}
}

// jsonKind names what a Go type reads from JSON: a basic type by its name
// (int, string), a struct or a map as "object", a slice or an array as
// "list" ([]byte as "base64 string").
func jsonKind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == nil || t.Kind() == reflect.Interface:
		return "value"
	case t.Kind() == reflect.Struct || t.Kind() == reflect.Map:
		return "object"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return "base64 string"
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return "list"
	}
	return clip(t.String(), 40)
}

// clip cuts s to at most n bytes, marking the cut, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func excerpt(b []byte, off int64) string {
	lo, hi := off-20, off+20
	if lo < 0 {
		lo = 0
	}
	if hi > int64(len(b)) {
		hi = int64(len(b))
	}
	return string(b[lo:hi])
}

// Resolve turns a path or a vendor-given link into a URL, refusing links to
// another host.
func (c *Client) Resolve(path string) (*url.URL, error) {
	ref, err := url.Parse(path)
	if err != nil {
		// url.Parse's own message repeats the link: redact the whole line.
		return nil, &redactedError{msg: c.Redact(fmt.Sprintf("%s: bad link: %v", c.cfg.Name, err)), err: err}
	}
	if ref.IsAbs() || ref.Host != "" {
		u := c.base.ResolveReference(ref)
		if !sameHost(u, c.base) {
			return nil, fmt.Errorf("%s: %w: %s (base is %s)", c.cfg.Name, ErrForeignHost, u.Host, c.base.Host)
		}
		return u, nil
	}
	u := *c.base
	u.Path = c.base.Path + strings.TrimPrefix(ref.Path, "/")
	// Keep escapes such as %2F inside a segment: the joined escaped path
	// decodes to u.Path, so URL.String sends it as the caller wrote it.
	u.RawPath = c.base.EscapedPath() + strings.TrimPrefix(ref.EscapedPath(), "/")
	if u.RawPath == u.Path {
		u.RawPath = ""
	}
	u.RawQuery = ref.RawQuery
	return &u, nil
}

func sameHost(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

func (c *Client) label(r *Request) string {
	if r.Label != "" {
		return r.Label
	}
	return r.Method + " " + r.Path
}

// Do runs req through the chain described in the package comment.
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	u, err := c.Resolve(req.Path)
	if err != nil {
		return nil, err
	}
	if len(req.Query) > 0 {
		q := u.Query()
		for k, vs := range req.Query {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	renewed := false
	for attempt := 1; ; attempt++ {
		resp, err := c.attempt(ctx, req, u)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, c.wrap(req, ctx.Err())
		}
		var se *StatusError
		// A 401 met while logging in (errAuth) is a refused login: logging in
		// again with the same credentials cannot help.
		if errors.As(err, &se) && se.Status == http.StatusUnauthorized && !errors.Is(err, errAuth) &&
			!req.NoAuth && c.cfg.Auth != nil && !renewed {
			renewed = true
			c.log.Debug("401, renewing credentials", "call", c.label(req))
			if rerr := c.cfg.Auth.Renew(ctx, c); rerr != nil {
				// Keep the 401 reachable (IsStatus) next to the renewal's reason.
				return resp, &redactedError{
					msg: c.Redact(fmt.Sprintf("%v; renewing credentials: %v", err, rerr)),
					err: fmt.Errorf("%w; renewing credentials: %w", err, rerr),
				}
			}
			attempt-- // the renewal retry is not a backoff attempt
			continue
		}
		wait, reason, retry := c.retryable(req, resp, err)
		if !retry {
			if req.NoRetry && maybeDelivered(err) {
				return resp, &redactedError{msg: err.Error() + " (" + ErrMaybeDelivered.Error() + ")", err: fmt.Errorf("%w: %w", ErrMaybeDelivered, err)}
			}
			return resp, err
		}
		if attempt >= c.cfg.MaxAttempts {
			return resp, &redactedError{
				msg: fmt.Sprintf("%s (%d attempts): %v", ErrAttemptsUsed, attempt, err),
				err: fmt.Errorf("%w (%d attempts): %w", ErrAttemptsUsed, attempt, err),
			}
		}
		if wait < 0 {
			wait = c.backoff(attempt)
		}
		c.log.Debug("retrying", "call", c.label(req), "reason", reason, "attempt", attempt, "wait", wait.String())
		if c.cfg.Observer != nil {
			c.cfg.Observer.Retry(c.cfg.Name, reason)
		}
		if err := c.cfg.Sleep(ctx, wait); err != nil {
			return nil, c.wrap(req, err)
		}
	}
}

// retryable decides whether an attempt's failure is worth another attempt.
// wait < 0 means "use the exponential backoff".
func (c *Client) retryable(req *Request, resp *Response, err error) (wait time.Duration, reason string, ok bool) {
	// These may carry a status too (a 429 asking too long a wait; a login
	// that failed with a 5xx after its own retries): decide on them first,
	// or a failed login would be retried again by every request that needed it.
	var ue *unsentError
	if errors.Is(err, ErrBodyTooLarge) || errors.Is(err, ErrForeignHost) || errors.Is(err, ErrRetryAfterLong) ||
		errors.Is(err, errAuth) || errors.As(err, &ue) {
		return 0, "", false
	}
	var se *StatusError
	if errors.As(err, &se) {
		switch se.Status {
		case 429, 503:
			if se.Status == 503 && req.NoRetry {
				return 0, "", false
			}
			_, has := c.retryAfter(resp)
			if !has {
				return -1, strconv.Itoa(se.Status), true
			}
			return 0, strconv.Itoa(se.Status), true // the pause set in attempt() does the waiting
		case 500, 502, 504:
			if req.NoRetry {
				return 0, "", false
			}
			return -1, strconv.Itoa(se.Status), true
		}
		return 0, "", false
	}
	var ne net.Error
	isTimeout := errors.As(err, &ne) && ne.Timeout()
	if req.NoRetry && !notSent(err) {
		return 0, "", false
	}
	if isTimeout {
		return -1, "timeout", true
	}
	return -1, "connection", true
}

var errAuth = errors.New("auth")

// unsentError is a failure before anything was written to the network: a
// body that does not encode, a limiter wait the deadline cannot cover. The
// server never saw the request, and another attempt would fail the same way.
type unsentError struct{ err error }

func (e *unsentError) Error() string { return e.err.Error() }
func (e *unsentError) Unwrap() error { return e.err }

// maybeDelivered reports whether a failed attempt got no answer after the
// request may have been written: the server may have acted on it.
func maybeDelivered(err error) bool {
	var se *StatusError
	var ue *unsentError
	if errors.As(err, &se) || errors.As(err, &ue) || errors.Is(err, errAuth) || errors.Is(err, ErrBodyTooLarge) || errors.Is(err, ErrForeignHost) {
		return false
	}
	return !notSent(err)
}

// notSent reports whether a transport error certainly happened before the
// request reached the server (the connection was never made).
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.BaseBackoff << (attempt - 1)
	if d > c.cfg.MaxBackoff || d <= 0 {
		d = c.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1) // jitter in [d/2, d]
}

// retryAfter parses a Retry-After header: delta-seconds or an HTTP-date.
func (c *Client) retryAfter(resp *Response) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	return ParseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
}

// ParseRetryAfter reads a Retry-After value, delta-seconds or HTTP-date, as a
// duration from now. A date in the past is zero.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		// delta-seconds (RFC 9110: 1*DIGIT). A value too large for int64 is
		// still a request to wait very long, not a value to ignore.
		const maxSecs = int64(365 * 24 * time.Hour / time.Second)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > maxSecs {
			n = maxSecs
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// waitTurn waits for any Retry-After pause and for the rate limiter.
func (c *Client) waitTurn(ctx context.Context) error {
	start := time.Now()
	for {
		c.mu.Lock()
		until := c.paused
		c.mu.Unlock()
		d := until.Sub(c.cfg.Now())
		if d <= 0 {
			break
		}
		if err := c.cfg.Sleep(ctx, d); err != nil {
			return err
		}
	}
	if err := c.limiter.Wait(ctx); err != nil {
		return err
	}
	if c.cfg.Observer != nil {
		c.cfg.Observer.RateWait(c.cfg.Name, time.Since(start))
	}
	return nil
}

func (c *Client) pauseFor(d time.Duration) {
	until := c.cfg.Now().Add(d)
	c.mu.Lock()
	if until.After(c.paused) {
		c.paused = until
	}
	c.mu.Unlock()
}

func (c *Client) attempt(ctx context.Context, req *Request, u *url.URL) (*Response, error) {
	if err := c.waitTurn(ctx); err != nil {
		return nil, &unsentError{c.wrap(req, err)}
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	hreq, err := c.build(actx, req, u)
	if err != nil {
		return nil, &unsentError{err}
	}
	if !req.NoAuth && c.cfg.Auth != nil {
		// The call's ctx, not the attempt's: a login runs its own attempts,
		// each with its own timeout, and must not share this one's.
		if err := c.cfg.Auth.Apply(ctx, c, hreq); err != nil {
			return nil, c.wrap(req, fmt.Errorf("%w: %w", errAuth, err))
		}
	}
	start := time.Now()
	hresp, err := c.http.Do(hreq)
	if err != nil {
		c.observe(req.Method, 0, start)
		return nil, c.wrap(req, err)
	}
	defer hresp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(hresp.Body, c.cfg.MaxBody+1))
	c.observe(req.Method, hresp.StatusCode, start)
	if err != nil {
		return nil, c.wrap(req, fmt.Errorf("reading body: %w", err))
	}
	if int64(len(body)) > c.cfg.MaxBody {
		return nil, c.wrap(req, fmt.Errorf("%w (%d bytes)", ErrBodyTooLarge, c.cfg.MaxBody))
	}
	resp := &Response{Status: hresp.StatusCode, Header: hresp.Header, Body: body, URL: hresp.Request.URL}
	if hresp.StatusCode >= 200 && hresp.StatusCode < 300 {
		return resp, nil
	}
	if hresp.StatusCode == 429 || hresp.StatusCode == 503 {
		if d, ok := c.retryAfter(resp); ok {
			// Held even when the wait is too long to retry: waiting less than
			// asked would only earn another refusal, so no other request of
			// this instance goes early.
			c.pauseFor(d)
			if d > c.cfg.MaxRetryAfter {
				return resp, &redactedError{
					msg: c.Redact(fmt.Sprintf("%s: %s: HTTP %d: %v: %s > %s", c.cfg.Name, c.label(req), resp.Status, ErrRetryAfterLong, d, c.cfg.MaxRetryAfter)),
					err: fmt.Errorf("%w: %w", ErrRetryAfterLong, c.statusError(req, resp)),
				}
			}
		}
	}
	return resp, c.statusError(req, resp)
}

func (c *Client) observe(method string, status int, start time.Time) {
	if c.cfg.Observer != nil {
		c.cfg.Observer.Request(c.cfg.Name, method, status, time.Since(start))
	}
}

func (c *Client) statusError(req *Request, resp *Response) *StatusError {
	// Redact before cutting, or a secret straddling the cut would survive in part.
	red := []byte(c.Redact(string(resp.Body)))
	if len(red) > 2048 {
		red = red[:2048]
	}
	snippet := strings.Join(strings.Fields(string(red)), " ")
	if len(snippet) > 300 {
		snippet = snippet[:300] + "..."
	}
	return &StatusError{
		Instance: c.cfg.Name,
		Label:    c.label(req),
		Status:   resp.Status,
		Body:     red,
		msg:      c.Redact(fmt.Sprintf("%s: %s: HTTP %d: %s", c.cfg.Name, c.label(req), resp.Status, snippet)),
	}
}

// formSize is what writeForm writes for form with a boundary of
// boundaryLen bytes (a name with characters to escape grows it a little),
// so that the body is written into one allocation.
func formSize(boundaryLen int, form []Field) int {
	const partHead = len("--") + len("\r\nContent-Disposition: form-data; name=\"") + len("\"\r\n\r\n")
	n := len("\r\n--") + boundaryLen + len("--\r\n")
	for i, f := range form {
		if i > 0 {
			n += len("\r\n")
		}
		n += partHead + boundaryLen + len(f.Name) + len(f.Value)
	}
	return n
}

// writeForm writes form as multipart/form-data parts between boundary
// lines, byte for byte what mime/multipart's WriteField for each field and
// Close write (FuzzWriteFormMatchesMimeMultipart), without the header map,
// its sorted keys and the formatting its CreatePart makes for every part:
// a 13-field create took 13.5 µs and 200 allocations, and takes 1.2 µs and
// 2 (BenchmarkWriteForm).
func writeForm(buf *bytes.Buffer, boundary string, form []Field) {
	for i, f := range form {
		if i > 0 {
			buf.WriteString("\r\n")
		}
		buf.WriteString("--")
		buf.WriteString(boundary)
		buf.WriteString("\r\nContent-Disposition: form-data; name=\"")
		formNameEscaper.WriteString(buf, f.Name)
		buf.WriteString("\"\r\n\r\n")
		buf.WriteString(f.Value)
	}
	buf.WriteString("\r\n--")
	buf.WriteString(boundary)
	buf.WriteString("--\r\n")
}

// formNameEscaper escapes a field name as mime/multipart does.
var formNameEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "%0D", "\n", "%0A")

func (c *Client) build(ctx context.Context, req *Request, u *url.URL) (*http.Request, error) {
	var body io.Reader
	ctype := ""
	switch {
	case req.JSON != nil:
		b, err := json.Marshal(req.JSON)
		if err != nil {
			return nil, c.wrap(req, err)
		}
		body, ctype = bytes.NewReader(b), "application/json"
	case req.Form != nil:
		// Sized ahead: grown as the parts were written, the buffer was a
		// fifth of the bytes the pusher allocated per lead (bench/push
		// -memprofile).
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf) // its random boundary and content type
		buf.Grow(formSize(len(mw.Boundary()), req.Form))
		writeForm(&buf, mw.Boundary(), req.Form)
		body, ctype = &buf, mw.FormDataContentType()
	}
	hreq, err := http.NewRequestWithContext(ctx, req.Method, u.String(), body)
	if err != nil {
		return nil, c.wrap(req, err)
	}
	for k, vs := range req.Header {
		hreq.Header[k] = vs
	}
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "leadsync")
	if ctype != "" {
		hreq.Header.Set("Content-Type", ctype)
	}
	return hreq, nil
}

// wrap prefixes err with the instance and call and redacts secrets from the
// message. The original error stays reachable through errors.Is/As.
func (c *Client) wrap(req *Request, err error) error {
	return &redactedError{msg: c.Redact(fmt.Sprintf("%s: %s: %v", c.cfg.Name, c.label(req), err)), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
