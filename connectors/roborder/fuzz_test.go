package roborder

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

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/lead"
)

// The fuzz targets feed Roborder's decoders whatever a broken or hostile
// server could answer. The properties: no panic, and a decoder either
// errors or yields records whose match keys are canonical (emails
// normalised, phones E.164), since the engine joins persons on them.

var hostileSeeds = []string{
	"",
	"null",
	"[]",
	"{}",
	`{"success":true}`,
	`{"success":true,"data":"x"}`,
	`{"success":false,"message":{"nested":1}}`,
	`{"success":"yes","data":[]}`,
	`{"success":true,"data":{"data":null,"next_page_url":7}}`,
	`{"success":true,"data":{"data":[{}],"current_page":1,"next_page_url":"http://evil.example/steal"}}`,
	`{"success":true,"data":[null,1,"x",[],{"id":null},{"id":{"a":1}}]}`,
	`{"success":true,"data":{"id":1e999,"phone":21620123456,"email":false,"created_at":1700000000}}`,
	`{"success":true,"data":[{"id":1,"phone":"0021620123456","email":"A@B.C","created_at":"01/02/2026","updated_at":"yesterday"}]}`,
	`{"success":true,"data":[{"id":2,"phone":"20 123 456 ext 9","email":"x@example.com <y@example.com>"}]}`,
	"{\"success\":true,\"data\":[{\"id\":\"\xff\",\"customer_name\":\"\xc3\x28\",\"email\":\"\xed\xa0\x80@example.com\"}]}",
	strings.Repeat("[", 100000),
	strings.Repeat(`{"data":`, 5000) + "1" + strings.Repeat("}", 5000),
	`{"success":true,"data":{"access_token":""}}`,
	`{"success":true,"data":{"access_token":12}}`,
	`{"success":true,"data":"token"}`,
	`{"success":false,"message":"These credentials do not match our records."}`,
	`{"message":"Unauthenticated."}`,
}

func addSeeds(f *testing.F, add func(b []byte)) {
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
	for _, s := range hostileSeeds {
		add([]byte(s))
	}
}

// checkKeys fails when a record carries a match key that is not canonical.
func checkKeys(t *testing.T, r lead.Record) {
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
}

var fuzzInstance = &connectors.Instance{Name: "fb", Type: "roborder", Region: "TN"}

// FuzzDecodeLeads decodes a leads answer in any shape and maps every lead.
func FuzzDecodeLeads(f *testing.F) {
	addSeeds(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		l, err := DecodeLeads(body)
		if err != nil {
			return
		}
		if !l.Paginated && l.Next != "" {
			t.Errorf("a next link outside a paginator: %q", l.Next)
		}
		for _, raw := range l.Leads {
			rec, _, err := ToRecord(fuzzInstance, raw)
			if err != nil {
				continue
			}
			if rec.SourceID == "" {
				t.Errorf("record without a key from %q", raw)
			}
			checkKeys(t, rec)
		}
	})
}

type roundTrip func(*http.Request) *http.Response

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r), nil }

// FuzzLogin runs the email/password login against an answer of any status
// and body: a token or an error, never both.
func FuzzLogin(f *testing.F) {
	for _, st := range []int{200, 401, 422} {
		addSeeds(f, func(b []byte) { f.Add(st, b) })
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 200 || status > 599 {
			status = 200
		}
		c, err := httpapi.New(httpapi.Config{
			Name: "fb", BaseURL: "http://roborder.invalid/", MaxAttempts: 1,
			Sleep: func(context.Context, time.Duration) error { return nil },
			Transport: roundTrip(func(r *http.Request) *http.Response {
				return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), Request: r}
			}),
		})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := login(context.Background(), c, "a@example.com", "pw")
		switch {
		case err == nil && status >= 300:
			t.Errorf("HTTP %d accepted as a login", status)
		case err == nil && tok.Value == "":
			t.Errorf("login %q accepted without a token", body)
		case err != nil && tok.Value != "":
			t.Errorf("login failed (%v) but returned a token", err)
		}
	})
}
