package state

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/google/go-cmp/cmp"

	"github.com/leadsync/leadsync/internal/fastjson"
	"github.com/leadsync/leadsync/lead"
)

// codecSamples are values of every stored type, with what could make two
// JSON encoders disagree: escapes (HTML, control, U+2028), invalid UTF-8,
// zero and non-UTC times, nanoseconds, nil and empty slices and maps, map
// key order, raw bytes.
func codecSamples() []any {
	zone := time.FixedZone("", 5*3600+1800)
	at := time.Date(2026, 11, 1, 10, 0, 0, 123456789, zone)
	rec := lead.Record{
		Source: "roborder", SourceID: "ord-1\x00x", FirstName: "José <b>&</b>", LastName: "a\xffb\u2028c\t\"\\/",
		Emails: []string{"jose@example.com"}, Phones: []string{"+14155550123"}, OtherPhones: []string{},
		Channel: "webchat", Status: "new", Context: "Facebook page «Acme»", Tags: []string{"b", "a"},
		Attributes: map[string]string{"z": "1", "ä": "2", "A": "3", "<": ">"}, TargetID: "slug-1",
		CreatedAt: at, UpdatedAt: at.UTC(),
		Conversations: []lead.Conversation{{ID: "c1", Title: "t", Messages: []lead.Message{
			{ID: "m1", Sender: lead.SenderUser, Text: "hello\r\nthere \x01", At: at},
			{ID: "m2", Sender: lead.SenderBot, Name: "Bot", At: time.Time{}},
		}}, {}},
		Raw: []byte{0, 1, 2, 255, '{'},
	}
	return []any{
		&rec,
		&lead.Record{},
		&lead.Record{Raw: []byte{}, Emails: []string{}, Attributes: map[string]string{}},
		&StoredRecord{Person: "p1", Hash: "h", Record: rec},
		&StoredRecord{},
		&Person{ID: "p1", Records: []string{"a\x00b", "c\x00d"}, Hash: "h", PushedHash: "x", PushedFields: "f", UpdatedAt: at},
		&Person{},
		&OutboxItem{Attempts: 3, NextAt: at, LastError: "CRM said <no> & \"why\"", EnqueuedAt: at.UTC()},
		&OutboxItem{},
		&DLQEntry{ID: "d", Person: "p", Emails: []string{"e"}, Sources: []string{}, Reason: "r",
			Fields: map[string][]string{"email": {"bad", "worse"}, "a": nil}, At: at},
		&DLQEntry{},
		&Intent{At: at}, &Intent{},
		&Conflict{Record: "r", Persons: []string{"p1", "p2"}, Key: "e:x", At: at}, &Conflict{},
		&Cursor{Cursor: []byte(`{"page":2}`), SavedAt: at}, &Cursor{},
	}
}

// The store writes and hashes with go-json: its bytes must be exactly
// encoding/json's, or stored hashes and values would change from one
// leadsync to the next and every record would look changed.
func TestCodecMatchesEncodingJSON(t *testing.T) {
	for _, v := range codecSamples() {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := gojson.Marshal(v)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%T: go-json wrote\n%s\nencoding/json writes\n%s", v, got, want)
		}
		enc, err := encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, append(append(append([]byte{}, envelope...), want...), '}')) {
			t.Errorf("%T: encode wrote %s", v, enc)
		}
	}
}

// decode's go-json path reads back what encoding/json reads.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, v := range codecSamples() {
		enc, err := encode(v)
		if err != nil {
			t.Fatal(err)
		}
		want := newLike(v)
		if err := json.Unmarshal(enc[len(envelope):len(enc)-1], want); err != nil {
			t.Fatal(err)
		}
		got := newLike(v)
		if !fastjson.Decode(enc[len(envelope):len(enc)-1], got) {
			t.Fatalf("%T: go-json refused %s", v, enc)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%T: decoded differently (-encoding/json +go-json):\n%s", v, diff)
		}
	}
}

// newLike returns a new zero value of the type v points to.
func newLike(v any) any { return reflect.New(reflect.TypeOf(v).Elem()).Interface() }

// A value go-json refuses leaves nothing behind for the encoding/json
// retry, and decode reports encoding/json's error for a corrupt value.
func TestDecodeCorruptValue(t *testing.T) {
	p := Person{ID: "kept?", Records: []string{"x"}}
	if fastjson.Decode([]byte(`{"id":"p2","records":["a"],"updated_at":"not a time"}`), &p) {
		t.Fatal("go-json accepted a bad time")
	}
	if diff := cmp.Diff(Person{}, p); diff != "" {
		t.Errorf("a refused decode left (-want +got):\n%s", diff)
	}
	raw := append(append([]byte{}, envelope...), `{"id":"p2","updated_at":7}}`...)
	err := decode(raw, &p)
	var std Person
	want := json.Unmarshal([]byte(`{"id":"p2","updated_at":7}`), &std)
	if err == nil || want == nil || err.Error() != want.Error() {
		t.Errorf("decode error %v, want encoding/json's %v", err, want)
	}
}

// FuzzDecodeMatchesEncodingJSON: whatever a stored record's bytes are,
// decode (go-json first) never panics, and when encoding/json reads them,
// decode reads the same record and go-json re-encodes it to the same bytes.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, v := range codecSamples() {
		if r, ok := v.(*StoredRecord); ok {
			b, _ := json.Marshal(r)
			f.Add(b)
		}
	}
	f.Add([]byte(`{"person":"p","record":{"raw":"AAE=","attributes":{"a":"b"},"created_at":"2026-01-02T03:04:05+05:30"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var want, got StoredRecord
		stdErr := json.Unmarshal(data, &want)
		raw := append(append(append([]byte{}, envelope...), data...), '}')
		err := decode(raw, &got)
		if stdErr != nil {
			return // corrupt: decode must only not panic (it may read a prefix differently)
		}
		if err != nil {
			t.Fatalf("encoding/json reads %q, decode: %v", data, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%q decoded differently (-encoding/json +decode):\n%s", data, diff)
		}
		a, _ := json.Marshal(&got)
		b, _ := gojson.Marshal(&got)
		if !bytes.Equal(a, b) {
			t.Fatalf("re-encoded differently:\n%s\n%s", a, b)
		}
	})
}

// withRaw(EncodeRecordWithoutRaw(r), r.Raw) is r's whole encoding (go-json's), byte for
// byte, for records of every kind and raw payloads nil, empty, of every
// byte value and of lengths that pad base64 differently.
func TestWithRawGivesEncodeRecordsBytes(t *testing.T) {
	var recs []lead.Record
	for _, v := range codecSamples() {
		switch r := v.(type) {
		case *lead.Record:
			recs = append(recs, *r)
		case *StoredRecord:
			recs = append(recs, r.Record)
		}
	}
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	raws := [][]byte{nil, {}, {'x'}, {'x', 'y'}, {'x', 'y', 'z'}, []byte(`{"a":"<b>&</b>"}`), every}
	for i, r := range recs {
		for _, raw := range raws {
			r.Raw = raw
			want, err := gojson.Marshal(&r)
			if err != nil {
				t.Fatal(err)
			}
			noRaw, err := EncodeRecordWithoutRaw(&r)
			if err != nil {
				t.Fatal(err)
			}
			kept := bytes.Clone(noRaw)
			if got := withRaw(noRaw, r.Raw); !bytes.Equal(got, want) {
				t.Errorf("record %d, raw %q: withRaw gave\n%s\nthe whole encoding is\n%s", i, raw, got, want)
			}
			if !bytes.Equal(noRaw, kept) {
				t.Errorf("record %d, raw %q: withRaw changed its argument", i, raw)
			}
			if len(r.Raw) > 0 && bytes.Equal(noRaw, want) {
				t.Errorf("record %d: the encoding without raw holds the raw payload", i)
			}
		}
	}
}

// FuzzWithRawGivesEncodeRecordsBytes: for any names, contact and raw
// payload, the spliced encoding is the record's whole encoding (go-json's).
func FuzzWithRawGivesEncodeRecordsBytes(f *testing.F) {
	f.Add("roborder", "1", "Ali <&>", "a\xffb", []byte(`{"a":1}`))
	f.Add("", "", "", "", []byte{})
	f.Fuzz(func(t *testing.T, source, id, first, email string, raw []byte) {
		r := lead.Record{Source: source, SourceID: id, FirstName: first, Emails: []string{email}, Raw: raw}
		want, err := gojson.Marshal(&r)
		if err != nil {
			t.Skip(err)
		}
		noRaw, err := EncodeRecordWithoutRaw(&r)
		if err != nil {
			t.Fatalf("the whole encoding succeeds, EncodeRecordWithoutRaw: %v", err)
		}
		if got := withRaw(noRaw, raw); !bytes.Equal(got, want) {
			t.Fatalf("withRaw gave\n%s\nthe whole encoding is\n%s", got, want)
		}
	})
}

// withRaw is what PutRecordWithoutRaw stores as the record (appendWithRaw),
// on its own.
func withRaw(noRaw, raw []byte) []byte {
	return appendWithRaw(make([]byte, 0, withRawLen(noRaw, raw)), noRaw, raw)
}
