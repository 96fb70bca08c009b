package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Text decodes a vendor value that is text to us whatever JSON type it came
// in: a string (trimmed), a number (its literal, so a long id or a phone
// keeps every digit and never becomes a float), true or false (the literal),
// or null (""). Vendors send ids and phones both ways depending on a
// column's type; an object or an array is an error.
type Text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*t = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(strings.TrimSpace(s))
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("want a string or a number, got %s", clip(string(b), 40))
		}
		*t = Text(n.String())
	case string(b) == "true" || string(b) == "false":
		*t = Text(b)
	default:
		return fmt.Errorf("want a string or a number, got %s", clip(string(b), 40))
	}
	return nil
}
