package sourcetest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/lead"
)

// HostileSeeds are bodies no vendor sends but a proxy, a bug or an attacker
// might; every vendor's fuzz targets start from them.
var HostileSeeds = []string{
	"",
	"null",
	"[]",
	"{}",
	"[null]",
	"[1,\"x\",true,[]]",
	strings.Repeat("[", 100000),
	strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000),
	"<html><body>502 Bad Gateway</body></html>",
}

// AddFuzzSeeds calls add with every testdata/*.json of the package under
// test, then HostileSeeds, then the vendor's own seeds.
func AddFuzzSeeds(f *testing.F, vendorSeeds []string, add func(b []byte)) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
	for _, s := range HostileSeeds {
		add([]byte(s))
	}
	for _, s := range vendorSeeds {
		add([]byte(s))
	}
}

// CheckRecord fails when a record carries a match key that is not canonical
// (the engine joins persons on them: emails normalised, phones E.164) or a
// text field that is not valid UTF-8 (it would reach the CRM mangled).
func CheckRecord(t testing.TB, r lead.Record) {
	t.Helper()
	for _, e := range r.Emails {
		if n, err := lead.NormalizeEmail(e); err != nil || n != e {
			t.Errorf("record %q: email %q is not normalised (%q, %v)", r.SourceID, e, n, err)
		}
	}
	for _, p := range r.Phones {
		if len(p) < 3 || p[0] != '+' || strings.Trim(p[1:], "0123456789") != "" {
			t.Errorf("record %q: phone %q is not E.164", r.SourceID, p)
		}
	}
	for _, s := range []string{r.FirstName, r.LastName, r.Context} {
		if !utf8.ValidString(s) {
			t.Errorf("record %q: field %q is not valid UTF-8", r.SourceID, s)
		}
	}
}

// OfflineClient is an httpapi client for baseURL whose every request is
// answered in memory by answer: one attempt, no waiting, no network.
func OfflineClient(t testing.TB, baseURL string, answer func(r *http.Request) (status int, body []byte)) *httpapi.Client {
	t.Helper()
	c, err := httpapi.New(httpapi.Config{
		Name: "offline", BaseURL: baseURL, MaxAttempts: 1,
		Sleep: func(context.Context, time.Duration) error { return nil },
		Transport: roundTripFunc(func(r *http.Request) *http.Response {
			status, body := answer(r)
			return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), Request: r}
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type roundTripFunc func(*http.Request) *http.Response

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r), nil }

// LoginFuzz describes a vendor's login for FuzzLogin.
type LoginFuzz struct {
	// Statuses seed the answer's status, each with every AddFuzzSeeds body.
	Statuses []int
	Seeds    []string
	Login    func(ctx context.Context, c *httpapi.Client) (httpapi.Token, error)
	// RequireToken: a login that succeeds must carry a token. Without it an
	// empty token is left for httpapi.TokenAuth to refuse.
	RequireToken bool
}

// FuzzLogin runs l.Login against one answer of any status and body: it never
// accepts a non-2xx answer and never returns a token with an error.
func FuzzLogin(f *testing.F, l LoginFuzz) {
	f.Helper()
	for _, st := range l.Statuses {
		AddFuzzSeeds(f, l.Seeds, func(b []byte) { f.Add(st, b) })
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 200 || status > 599 {
			status = 200
		}
		c := OfflineClient(t, "http://vendor.invalid/", func(*http.Request) (int, []byte) { return status, body })
		tok, err := l.Login(context.Background(), c)
		switch {
		case err == nil && status >= 300:
			t.Errorf("HTTP %d accepted as a login", status)
		case err == nil && tok.Value == "" && l.RequireToken:
			t.Errorf("login %q accepted without a token", body)
		case err != nil && tok.Value != "":
			t.Errorf("login failed (%v) but returned a token", err)
		}
	})
}
