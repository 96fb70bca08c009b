package httpapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
)

// answerAtOnce is a transport that answers every request from memory,
// after reading its body, as a server would: what remains of a call's cost
// is the client's own.
type answerAtOnce struct{ body []byte }

func (a answerAtOnce) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return nil, err
		}
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(a.body)), ContentLength: int64(len(a.body)), Request: r}, nil
}

// BenchmarkDo is what one call through the client's chain (resolution,
// rate limiter, per-attempt timeout, request building, body limit) costs
// on top of net/http's own Client.Do with the same transport, for a push's
// two calls: a lookup (GET with a query) and a create (a 13-field form).
// The transport answers from memory, so neither a socket nor a server is
// measured:
//
//	go test ./connectors/httpapi -run '^$' -bench 'Do$' -benchmem
func BenchmarkDo(b *testing.B) {
	tr := answerAtOnce{body: []byte(`{"status_code":200,"errors":[],"data":{"slug":"lead-1"}}`)}
	c, err := New(Config{Name: "crm", BaseURL: "http://127.0.0.1:1/api/", Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	lookup := &Request{Method: http.MethodGet, Path: "leads/list/", Query: map[string][]string{"email": {"person12@example.tn"}}}
	create := &Request{Method: http.MethodPost, Path: "leads/create/", NoRetry: true, Form: []Field{
		{"first_name", "Person12"}, {"last_name", "Gen"}, {"email", "person12@example.tn"},
		{"phone", "+21623000012"}, {"source", "Facebook"}, {"status", "new"}, {"location", ""},
		{"message", "roborder Facebook page Souk Shoes (ORD-01012)"}, {"assignee", ""}, {"tags", "leadsync"},
		{"channel", "facebook"}, {"external_id", "roborder:1012"}, {"created_at", "2026-11-01T10:00:00Z"}}}
	ctx := context.Background()
	for _, r := range []*Request{lookup, create} {
		b.Run("client/"+r.Method, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Do(ctx, r)
				if err != nil {
					b.Fatal(err)
				}
				if !bytes.Equal(resp.Body, tr.body) {
					b.Fatalf("body %q", resp.Body)
				}
			}
		})
	}
	// The same two calls with net/http alone: the request is built once,
	// its form body already written, as a replay of recorded calls would.
	plain := &http.Client{Transport: tr}
	form := new(bytes.Buffer)
	writeForm(form, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab", create.Form)
	for _, r := range []struct {
		method, url string
		body        []byte
	}{
		{http.MethodGet, "http://127.0.0.1:1/api/leads/list/?email=person12%40example.tn", nil},
		{http.MethodPost, "http://127.0.0.1:1/api/leads/create/", form.Bytes()},
	} {
		b.Run("net-http/"+r.method, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req, err := http.NewRequestWithContext(ctx, r.method, r.url, bytes.NewReader(r.body))
				if err != nil {
					b.Fatal(err)
				}
				resp, err := plain.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || !bytes.Equal(body, tr.body) {
					b.Fatalf("body %q, %v", body, err)
				}
			}
		})
	}
}
