package epixel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/internal/fastjson"
)

// This file decodes Epixel's answers. Every answer is (or may be) wrapped in
// the envelope {"status_code","errors","data"}; the decoders unwrap it when it
// is there and read the bare value when it is not, so one decoder serves both.

// text reads a JSON string, number, boolean or null as trimmed text: slugs,
// note ids and phones come as strings from one deployment and numbers from
// another.
type text = httpapi.Text

// exactText is text that keeps its spaces: the engine recognises a note it
// wrote by its exact text, so a note read back must not lose a trailing
// newline.
type exactText string

func (t *exactText) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*t = exactText(s)
		return nil
	}
	var v text
	err := v.UnmarshalJSON(b)
	*t = exactText(v)
	return err
}

func snippet(b []byte) string {
	if len(b) > 30 {
		return string(b[:30]) + "..."
	}
	return string(b)
}

// apiLead is a lead as Epixel sends it.
type apiLead struct {
	Slug, FirstName, LastName, Email, Phone string
	Status, Source, Location, Message       string
	CreatedAt, UpdatedAt                    string
	Notes                                   []apiNote
}

type apiNote struct {
	ID        text      `json:"note_id"`
	Note      exactText `json:"note"`
	CreatedAt text      `json:"created_at"`
}

// unwrap returns the envelope's data, or body itself when body is not an
// envelope. An envelope is an object with "data" and "status_code" or "errors".
func unwrap(body []byte) (json.RawMessage, error) { return unwrapWith(body, decode) }

// unwrapWith is unwrap with dec for its decoding (tests: httpapi.DecodeJSON).
func unwrapWith(body []byte, dec decoder) (json.RawMessage, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return nil, errors.New("empty response body, expected JSON")
	}
	if b[0] != '{' {
		return b, validJSON(b)
	}
	// The three keys the envelope is told by, not a map of every key: a
	// present key holds at least "null", an absent one stays nil.
	var env struct {
		Data       json.RawMessage `json:"data"`
		StatusCode json.RawMessage `json:"status_code"`
		Errors     json.RawMessage `json:"errors"`
	}
	if err := dec(b, &env); err != nil {
		return nil, err
	}
	if env.Data != nil && (env.StatusCode != nil || env.Errors != nil) {
		return env.Data, nil
	}
	return b, nil
}

// decoder decodes JSON into a pointer, as httpapi.DecodeJSON does.
type decoder func(data []byte, v any) error

// decode is httpapi.DecodeJSON, faster: a body encoding/json accepts
// (json.Valid, so go-json's leniencies never matter) is decoded with
// go-json into the maps and raw values the answers are split into. A push's
// create answer takes 6.4 µs and 44 allocations instead of 9.8 µs and 66,
// its lookup answer 1.6 µs instead of 3.1 (BenchmarkAnswers). A body either
// refuses, or a panic inside go-json, goes to httpapi.DecodeJSON, whose
// error names the problem. The fast path decodes what encoding/json
// decodes, errors included: FuzzDecodeMatchesEncodingJSON.
func decode(data []byte, v any) error {
	if !json.Valid(data) {
		return httpapi.DecodeJSON(data, v)
	}
	return decodePart(data, v)
}

// decodePart is decode for a part of a body decode (or validJSON)
// accepted, such as the envelope's data that unwrap returns: the part is
// valid JSON already, so it is not validated again. Validating it twice
// cost a create answer 4.4 µs instead of 3.1, a lookup answer 1.13 instead
// of 0.98 (BenchmarkAnswers).
func decodePart(data []byte, v any) error {
	if fastjson.Decode(data, v) {
		return nil
	}
	return httpapi.DecodeJSON(data, v)
}

func validJSON(b []byte) error {
	var v any
	return httpapi.DecodeJSON(b, &v)
}

// tokens reads login and refresh answers: {"refresh","access"} at the top
// level or inside the envelope's data. refresh is "" when the answer has none
// (the refresh call usually returns only a new access token).
func decodeTokens(body []byte) (access, refresh string, err error) {
	type pair struct {
		Access  text            `json:"access"`
		Refresh text            `json:"refresh"`
		Data    json.RawMessage `json:"data"`
	}
	var top pair
	if err := httpapi.DecodeJSON(body, &top); err != nil {
		return "", "", err
	}
	if top.Access != "" {
		return string(top.Access), string(top.Refresh), nil
	}
	if d := bytes.TrimSpace(top.Data); len(d) > 0 && d[0] == '{' {
		var in pair
		if err := httpapi.DecodeJSON(d, &in); err != nil {
			return "", "", fmt.Errorf("data: %w", err)
		}
		if in.Access != "" {
			return string(in.Access), string(in.Refresh), nil
		}
	}
	return "", "", errors.New(`no "access" token at the top level or in "data"`)
}

// leadList is one leads/list/ answer.
type leadList struct {
	Items     []json.RawMessage
	Paginated bool   // the {"count","next","previous","results"} shape
	Next      string // the next page's link; "" on the last page
}

// decodeList reads data as {"count","next","previous","results"} or as a bare array.
func decodeList(body []byte) (leadList, error) { return decodeListWith(body, decode, decodePart) }

// decodeListWith is decodeList with dec for the body and part for the
// body's data (tests: httpapi.DecodeJSON for both).
func decodeListWith(body []byte, dec, part decoder) (leadList, error) {
	data, err := unwrapWith(body, dec)
	if err != nil {
		return leadList{}, err
	}
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0 || bytes.Equal(data, []byte("null")):
		return leadList{}, nil
	case data[0] == '[':
		var items []json.RawMessage
		if err := part(data, &items); err != nil {
			return leadList{}, err
		}
		return leadList{Items: items}, nil
	case data[0] == '{':
		var p struct {
			Results *[]json.RawMessage `json:"results"`
			Next    text               `json:"next"`
		}
		if err := part(data, &p); err != nil {
			return leadList{}, err
		}
		if p.Results == nil {
			return leadList{}, errors.New(`data is neither a list of leads nor {"count","next","previous","results"}`)
		}
		return leadList{Items: *p.Results, Paginated: true, Next: string(p.Next)}, nil
	}
	return leadList{}, fmt.Errorf("data is neither a list of leads nor a page object: %s", snippet(data))
}

// decodeLead reads one lead object. A field of an unexpected type is a
// problem for that field only: the lead is still usable, and one odd field
// must not hide a lead from Find (that would create a duplicate).
func decodeLead(raw []byte) (apiLead, []error, error) {
	var m map[string]json.RawMessage
	if err := httpapi.DecodeJSON(raw, &m); err != nil {
		return apiLead{}, nil, fmt.Errorf("lead: %w", err)
	}
	if m == nil {
		return apiLead{}, nil, errors.New("lead is null")
	}
	var probs []error
	field := func(key string) string {
		v, ok := m[key]
		if !ok {
			return ""
		}
		var t text
		if err := httpapi.DecodeRecord(v, &t); err != nil {
			probs = append(probs, fmt.Errorf("field %s: %w", key, err))
			return ""
		}
		return string(t)
	}
	l := apiLead{
		Slug: field("slug"), FirstName: field("first_name"), LastName: field("last_name"),
		Email: field("email"), Phone: field("phone"), Status: field("status"), Source: field("source"),
		Location: field("location"), Message: field("message"),
		CreatedAt: field("created_at"), UpdatedAt: field("updated_at"),
	}
	if n, ok := m["notes"]; ok {
		if err := httpapi.DecodeRecord(n, &l.Notes); err != nil {
			probs = append(probs, fmt.Errorf("field notes: %w", err))
		}
	}
	return l, probs, nil
}

// crmErrors reads the errors of a refusal: the envelope's "errors" (or a bare
// DRF error body) as field messages, with the messages that belong to no
// field ("detail", "non_field_errors", "message") apart, in a stable order.
func crmErrors(body []byte) (fields map[string][]string, general []string) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return nil, nil
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil, nil
	}
	if obj, ok := v.(map[string]any); ok {
		if e, ok := obj["errors"]; ok {
			v = e
		} else {
			delete(obj, "status_code")
			delete(obj, "data")
		}
	}
	fields = map[string][]string{}
	switch e := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(e))
		for k := range e {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			msgs := messages(e[k])
			switch k {
			case "detail", "non_field_errors", "message", "error", "errors":
				general = append(general, msgs...)
			case "code", "status_code", "success":
				// machine codes, not words for an operator
			default:
				if len(msgs) > 0 {
					fields[k] = msgs
				}
			}
		}
	default:
		general = messages(e)
	}
	if len(fields) == 0 {
		fields = nil
	}
	return fields, general
}

// messages flattens an error value (a string, a list of strings, nested
// objects) into its words.
func messages(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if s := strings.TrimSpace(x); s != "" {
			return []string{s}
		}
		return nil
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, messages(e)...)
		}
		return out
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			for _, m := range messages(x[k]) {
				out = append(out, k+": "+m)
			}
		}
		return out
	default:
		return []string{fmt.Sprint(x)}
	}
}
