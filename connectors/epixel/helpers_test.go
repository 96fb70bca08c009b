package epixel

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/epixel/epixeltest"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/vendortest"
	"github.com/leadsync/leadsync/lead"
)

// prefix is where tests mount the fake, so that every test also proves the
// base URL's path prefix is kept (paths and next links).
const prefix = "/crm/api/v1"

// exampleOptions is what config.example.yaml sets.
func exampleOptions() map[string]any {
	return map[string]any{
		"source_map":            map[string]any{"askhandle-site": "Website", "roborder-fb": "Facebook", "netcore-wa": "WhatsApp"},
		"placeholder_email":     "{phone}@no-email.invalid",
		"placeholder_last_name": "-",
	}
}

func startFake(t *testing.T) (*epixeltest.Fake, string) {
	t.Helper()
	f := epixeltest.New()
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, f.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv.URL + prefix + "/"
}

func instance(base string, opts map[string]any) *connectors.Instance {
	return &connectors.Instance{
		Name: "crm", Type: "epixel", BaseURL: base, Region: "TN",
		Auth:      map[string]string{"api_key": epixeltest.APIKey, "username": epixeltest.Username, "password": epixeltest.Password},
		Options:   opts,
		Timeout:   5 * time.Second,
		IsTarget:  true,
		Instances: []string{"crm", "askhandle-site", "roborder-fb", "netcore-wa", "botpenguin-tg"},
	}
}

func newTarget(t *testing.T, in *connectors.Instance) *Target {
	t.Helper()
	tg, err := NewTarget(in)
	if err != nil {
		t.Fatalf("NewTarget: %v", err)
	}
	return tg
}

// person is a complete person the CRM accepts.
func person() *lead.Person {
	return &lead.Person{
		ID: "p1", FirstName: "Amira", LastName: "Ben Salah",
		Emails: []string{"amira@example.com"}, Phones: []string{"+21620123456"},
		Channels: []string{"webchat"}, SourceInstances: []string{"askhandle-site"},
		Contexts: []string{"askhandle widget: Pricing page"},
	}
}

// formOf decodes a recorded multipart body into its fields, in order.
func formOf(t *testing.T, r vendortest.Request) []httpapi.Field {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("%s %s: content type %q, want multipart/form-data", r.Method, r.Path, r.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(strings.NewReader(string(r.Body)), params["boundary"])
	var out []httpapi.Field
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading multipart: %v", err)
		}
		v, _ := io.ReadAll(p)
		out = append(out, httpapi.Field{Name: p.FormName(), Value: string(v)})
	}
}

// requestsTo returns the recorded requests whose path ends with suffix.
func requestsTo(f *epixeltest.Fake, method, suffix string) []vendortest.Request {
	var out []vendortest.Request
	for _, r := range f.Recorder().Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

func asRejected(t *testing.T, err error) *connectors.RejectedError {
	t.Helper()
	var rej *connectors.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("error %v (%T), want *connectors.RejectedError", err, err)
	}
	return rej
}
