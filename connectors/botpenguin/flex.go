package botpenguin

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// flexString reads a JSON string, number or boolean as its text, and null as
// "". BotPenguin stores contact fields as the visitor typed them: a phone or a
// dial code may arrive as a number, and it is digits to us, never a quantity.
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
