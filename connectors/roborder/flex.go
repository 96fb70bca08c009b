package roborder

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// flexString reads a JSON string, number or boolean as its text, and null as
// "". Roborder's ids are integers and its phones may come as numbers when the
// column is numeric; both are keys and digits to us, never quantities.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*f = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9') || string(b) == "true" || string(b) == "false":
		*f = flexString(b) // the literal, so a large id keeps every digit
	default:
		return fmt.Errorf("expected a string or a number, got %.20s", b)
	}
	return nil
}
