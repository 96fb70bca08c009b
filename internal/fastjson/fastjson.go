// Package fastjson decodes with github.com/goccy/go-json where leadsync
// wants its speed (the state file's values, the CRM's answers) and
// encoding/json's messages when it refuses: callers decode again with
// encoding/json after a refusal, so the error a user sees is always
// encoding/json's.
package fastjson

import (
	"reflect"

	gojson "github.com/goccy/go-json"
)

// Decode decodes data into v (a pointer) with go-json and reports whether
// it did. A panic inside go-json counts as a refusal. After a refusal *v is
// zeroed, for the caller to decode again with encoding/json, which names
// the problem.
func Decode(data []byte, v any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
		if !ok {
			reflect.ValueOf(v).Elem().SetZero()
		}
	}()
	return gojson.Unmarshal(data, v) == nil
}
