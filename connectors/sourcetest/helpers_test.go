package sourcetest_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
	"github.com/leadsync/leadsync/lead"
)

// recorder is a testing.TB that keeps the failures it is told about.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestCheckRecordFlagsWhatTheEngineCannotJoinOn(t *testing.T) {
	tests := []struct {
		name string
		rec  lead.Record
		want string // "" when the record is fine
	}{
		{"canonical", lead.Record{SourceID: "a", FirstName: "Ali", Emails: []string{"ali@example.tn"}, Phones: []string{"+21620123456"}}, ""},
		{"email not normalised", lead.Record{SourceID: "a", Emails: []string{"Ali@Example.TN"}}, "not normalised"},
		{"phone without +", lead.Record{SourceID: "a", Phones: []string{"21620123456"}}, "not E.164"},
		{"phone with spaces", lead.Record{SourceID: "a", Phones: []string{"+216 20 123 456"}}, "not E.164"},
		{"invalid UTF-8 name", lead.Record{SourceID: "a", LastName: "Ben\xff"}, "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			sourcetest.CheckRecord(r, tt.rec)
			got := strings.Join(r.errs, "\n")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("CheckRecord reported %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHostileStreamsAndRedirectsOnlyItsMatch(t *testing.T) {
	fake := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fake") })
	h := sourcetest.NewHostile(fake)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, b := fixture.Send(t, noRedirect, req)
		return resp, string(b)
	}

	h.Stream("/big", 1<<20)
	if _, body := get("/big/list"); len(body) < 1<<20 || !strings.HasPrefix(body, "[") || !strings.HasSuffix(body, `"end"]`) {
		t.Errorf("streamed %d bytes (%.20q…), want a JSON array of ≥ 1 MiB", len(body), body)
	}
	if _, body := get("/other"); body != "fake" {
		t.Errorf("unmatched path answered %q, want the fake's answer", body)
	}
	h.Redirect("/login", "http://elsewhere.invalid/login")
	if resp, _ := get("/api/login"); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "http://elsewhere.invalid/login" {
		t.Errorf("got %d to %q, want a 302 to the foreign host", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestOfflineClientAnswersInMemory(t *testing.T) {
	c := sourcetest.OfflineClient(t, "http://vendor.invalid/", func(r *http.Request) (int, []byte) {
		return 418, []byte(r.URL.Path)
	})
	_, err := c.Do(t.Context(), &httpapi.Request{Method: "GET", Path: "v1/x", Label: "x"})
	var se *httpapi.StatusError
	if !errors.As(err, &se) || se.Status != 418 || string(se.Body) != "/v1/x" {
		t.Errorf("Do error = %v, want the in-memory 418 echoing the path", err)
	}
}
