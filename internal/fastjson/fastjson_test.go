package fastjson

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDecodeDecodesWhatEncodingJSONDecodes(t *testing.T) {
	type rec struct {
		ID   string          `json:"id"`
		Raw  json.RawMessage `json:"raw"`
		At   time.Time       `json:"at"`
		Tags []string        `json:"tags"`
	}
	data := []byte(`{"id":"a\u00e9","raw":{"x":[1,2]},"at":"2026-11-01T10:00:00Z","tags":["t"]}`)
	var got, want rec
	if !Decode(data, &got) {
		t.Fatal("Decode refused a valid value")
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || string(got.Raw) != string(want.Raw) || !got.At.Equal(want.At) || len(got.Tags) != 1 {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// A refusal leaves the value zeroed: a partly decoded value must not leak
// into the caller's second, encoding/json, attempt.
func TestDecodeZeroesTheValueOnARefusal(t *testing.T) {
	type rec struct {
		ID string    `json:"id"`
		At time.Time `json:"at"`
	}
	v := rec{ID: "before"}
	if Decode([]byte(`{"id":"partly","at":"not a time"}`), &v) {
		t.Fatal("Decode accepted a bad time")
	}
	if v != (rec{}) {
		t.Errorf("after a refusal: %+v, want the zero value", v)
	}
	m := map[string]int{"x": 1}
	if Decode([]byte(`{"a":1,"b":`), &m) || m != nil {
		t.Errorf("after a refusal: %v, want nil", m)
	}
}
