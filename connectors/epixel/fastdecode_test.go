package epixel

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/connectors/sourcetest"
	"github.com/leadsync/leadsync/connectors/vendortest/fixture"
)

// Answers as the fake CRM sends them to a push: a create, and a lookup
// that finds nothing.
var (
	createAnswer = []byte(`{"data":{"assignee":null,"created_at":"2026-11-01T10:00:00Z","email":"person12@example.tn","first_name":"Person12","last_name":"Gen","location":"","message":"roborder Facebook page Souk Shoes (ORD-01012)\nfacebook · 2026-11-01","phone":"+21623000012","slug":"lead-000013","source":"facebook","status":"new","updated_at":"2026-11-01T10:00:00Z"},"errors":{},"status_code":201}` + "\n")
	listAnswer   = []byte(`{"data":{"count":0,"next":null,"previous":null,"results":[]},"errors":{},"status_code":200}` + "\n")
)

// BenchmarkAnswers reads a push's two answers as the target does: go test
// ./connectors/epixel -run '^$' -bench Answers -benchmem.
func BenchmarkAnswers(b *testing.B) {
	for _, d := range []struct {
		name      string
		dec, part decoder
	}{{"go-json", decode, decodePart}, {"encoding-json", httpapi.DecodeJSON, httpapi.DecodeJSON}} {
		b.Run("create/"+d.name, func(b *testing.B) {
			for b.Loop() {
				data, err := unwrapWith(createAnswer, d.dec)
				if err != nil {
					b.Fatal(err)
				}
				if slug, err := idFieldWith(data, "slug", d.part); err != nil || slug != "lead-000013" {
					b.Fatal(slug, err)
				}
			}
		})
		b.Run("list-bare/"+d.name, func(b *testing.B) {
			body := fixture.ReadTestdata(b, "list_bare.json")
			for b.Loop() {
				if l, err := decodeListWith(body, d.dec, d.part); err != nil || len(l.Items) == 0 || l.Paginated {
					b.Fatal(l, err)
				}
			}
		})
		b.Run("list/"+d.name, func(b *testing.B) {
			for b.Loop() {
				if l, err := decodeListWith(listAnswer, d.dec, d.part); err != nil || len(l.Items) != 0 || !l.Paginated {
					b.Fatal(l, err)
				}
			}
		})
	}
}

// decodeOutcome is everything the answer decoders make of a body: dec
// decodes whole bodies, part what unwrap returned of one it accepted.
func decodeOutcome(body []byte, dec, part decoder) string {
	var out bytes.Buffer
	data, err := unwrapWith(body, dec)
	fmt.Fprintf(&out, "unwrap %q %v\n", data, err)
	for _, in := range []struct {
		data []byte
		dec  decoder
	}{{body, dec}, {data, part}} {
		for _, key := range []string{"slug", "note_id"} {
			id, err := idFieldWith(in.data, key, in.dec)
			fmt.Fprintf(&out, "%s %q %v\n", key, id, err)
		}
	}
	l, err := decodeListWith(body, dec, part)
	fmt.Fprintf(&out, "list %q %v %q %v\n", l.Items, l.Paginated, l.Next, err)
	return out.String()
}

// The go-json path decodes every body as encoding/json does: the same
// values, the same errors with the same messages.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	sourcetest.AddFuzzSeeds(f, hostileSeeds, func(b []byte) { f.Add(b) })
	for _, name := range []string{"create_lead.json", "create_note.json", "view_lead.json", "list_bare.json", "list_paginated.json", "error_400_create.json"} {
		f.Add(fixture.ReadTestdata(f, name))
	}
	for _, s := range []string{
		string(createAnswer), string(listAnswer),
		`{"data":{"slug":"a","slug":"b"},"status_code":201}`,
		`{"DATA":{"slug":"a"},"Status_Code":201}`,
		`{"data":{"Slug":"a","note_ID":3},"errors":null}`,
		"{\"data\":{\"slug\":\"\\ud800x\"},\"errors\":{}}",
		"{\"data\":{\"sl\xffug\":\"a\"},\"errors\":{}}",
		`{"data":{"slug":"a"} , "errors":{} }  `,
		`{"data":[ {"slug" : 1 } , {} ],"status_code":200}`,
		`{"data":{"results":[1,"x",null],"next":7},"errors":{}}`,
		`{"data":{"slug":"a"},"errors":{}} {"x":1}`,
		`{"data":{"slug":"a",},"errors":{}}`,
		`{"data":{"slug":'a'},"errors":{}}`,
		`{"data":{"slug":"a"},"errors":{}`,
		`{"data":{"slug":01},"errors":{}}`,
		`{"data":{"slug":"\x"},"errors":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want := decodeOutcome(body, httpapi.DecodeJSON, httpapi.DecodeJSON)
		if got := decodeOutcome(body, decode, decodePart); got != want {
			t.Errorf("body %q:\ngo-json:       %s\nencoding/json: %s", body, got, want)
		}
	})
}
