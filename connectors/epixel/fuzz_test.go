package epixel

import (
	"errors"
	"strings"
	"testing"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/sourcetest"
)

// The fuzz targets feed Epixel's decoders whatever a broken or hostile
// server could answer: no panic, and every record passes
// sourcetest.CheckRecord (the engine joins persons on its match keys).

// hostileSeeds add Epixel's own shapes to sourcetest.HostileSeeds.
var hostileSeeds = []string{
	`{"status_code":200,"errors":{},"data":null}`,
	`{"status_code":200,"data":{"results":null}}`,
	`{"status_code":200,"data":{"next":{"a":1},"results":[{}]}}`,
	`{"status_code":200,"data":{"next":"http://evil.example/steal","results":[{"slug":"a"}]}}`,
	`{"data":[{"slug":1e999,"phone":1e20,"email":true,"notes":"x"}],"errors":[]}`,
	`[{"slug":"s1","email":"A@B.C","phone":"0021620123456","created_at":"01/02/2026","updated_at":"yesterday"}]`,
	`[{"slug":"s2","email":"x@example.com <y@example.com>","phone":"216201234567890123","created_at":1700000000}]`,
	`[{"slug":"s3","email":"216201@no-email.invalid","last_name":"-","notes":[{"note_id":{},"note":[]}]}]`,
	"[{\"slug\":\"s\xff\",\"first_name\":\"\xc3\x28\",\"email\":\"\xed\xa0\x80@example.com\"}]",
	strings.Repeat(`{"data":`, 5000) + "1" + strings.Repeat("}", 5000),
	`{"access":"","refresh":""}`,
	`{"access":123,"refresh":null}`,
	`{"data":{"access":{"x":1}}}`,
	`{"data":"access"}`,
	`{"status_code":400,"errors":{"email":[["nested",{"deep":["x"]}]],"non_field_errors":"no","code":1},"data":{}}`,
	`{"errors":"just a string"}`,
	`{"errors":[1,null,true,{"a":"b"}]}`,
	`{"detail":{"detail":{"detail":"Given token not valid for any token type"}}}`,
}

// fuzzSource is a source and a target (sharing one offline client) whose
// mapping functions run without a server.
func fuzzSource(t testing.TB) (*Source, *Target) {
	t.Helper()
	in := &connectors.Instance{
		Name: "crm", Type: "epixel", BaseURL: "http://127.0.0.1:1/", Region: "TN",
		Auth:      map[string]string{"api_key": "k", "username": "u", "password": "p"},
		Options:   map[string]any{"placeholder_email": "{phone}@no-email.invalid", "placeholder_last_name": "-", "source_map": map[string]any{"a": "Website"}},
		IsTarget:  true,
		Instances: []string{"crm", "a"},
	}
	s, err := NewSource(in)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := NewTarget(in)
	if err != nil {
		t.Fatal(err)
	}
	return s, tg
}

// FuzzDecodeList decodes a leads/list/ answer in any shape and maps every
// lead as the source does, and as Find reads it.
func FuzzDecodeList(f *testing.F) {
	sourcetest.AddFuzzSeeds(f, hostileSeeds, func(b []byte) { f.Add(b) })
	s, tg := fuzzSource(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		l, err := decodeList(body)
		if err != nil {
			return
		}
		for _, raw := range l.Items {
			slug := slugOf(raw)
			rec, probs, ok := s.record(raw)
			if !ok {
				if len(probs) == 0 {
					t.Errorf("lead %q dropped without a problem", raw)
				}
				continue
			}
			if rec.SourceID == "" || rec.SourceID != strings.TrimSpace(slug) {
				t.Errorf("record key %q, slug %q", rec.SourceID, slug)
			}
			sourcetest.CheckRecord(t, rec)
			if al, _, err := decodeLead(raw); err == nil {
				tl := tg.targetLead(al)
				if tl.ID != al.Slug {
					t.Errorf("target lead id %q, slug %q", tl.ID, al.Slug)
				}
			}
		}
		linkLabel(l.Next)
	})
}

// FuzzViewLead reads a leads/view/lead/ answer (the envelope around one
// lead with its notes) and the id of a create answer.
func FuzzViewLead(f *testing.F) {
	sourcetest.AddFuzzSeeds(f, hostileSeeds, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		data, err := unwrap(body)
		if err != nil {
			return
		}
		if l, _, err := decodeLead(data); err == nil {
			for _, n := range l.Notes {
				_ = string(n.ID) + string(n.Note)
			}
		}
		if id, err := idField(data, "slug"); err == nil && id == "" {
			t.Errorf("idField accepted an empty slug from %q", data)
		}
	})
}

// FuzzDecodeTokens reads login and refresh answers: a token, or an error.
func FuzzDecodeTokens(f *testing.F) {
	sourcetest.AddFuzzSeeds(f, hostileSeeds, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		access, refresh, err := decodeTokens(body)
		if err != nil {
			if access != "" || refresh != "" {
				t.Errorf("error %v with tokens", err)
			}
			return
		}
		if access == "" {
			t.Errorf("answer %q accepted without an access token", body)
		}
	})
}

// FuzzRefusal reads an error body of any status as the engine's verdict: a
// rejection with words, a configuration error, or the error as it was.
func FuzzRefusal(f *testing.F) {
	for _, st := range []int{400, 401, 403, 404, 422, 500} {
		sourcetest.AddFuzzSeeds(f, hostileSeeds, func(b []byte) { f.Add(st, b) })
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		crmErrors(body)
		se := &httpapi.StatusError{Instance: "crm", Label: "create lead", Status: status, Body: body}
		err := refusal(se)
		if err == nil {
			t.Fatal("refusal returned nil")
		}
		var rej *connectors.RejectedError
		if errors.As(err, &rej) {
			if status != 400 && status != 422 && status != 401 {
				t.Errorf("HTTP %d read as a rejection: %v", status, rej)
			}
			if rej.Error() == "rejected: " {
				t.Errorf("rejection without words from %q", body)
			}
		}
	})
}
