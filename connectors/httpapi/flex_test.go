package httpapi

import (
	"encoding/json"
	"testing"
)

func TestTextDecodesEveryScalarAsText(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`" +216 20 123 456 "`, "+216 20 123 456", true},
		{`21620123456`, "21620123456", true},
		{`123456789012345678901234567890`, "123456789012345678901234567890", true},
		{`-7`, "-7", true},
		{`true`, "true", true},
		{`null`, "", true},
		{`{"a":1}`, "", false},
		{`[1]`, "", false},
		{`12abc`, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var v struct {
				X Text `json:"x"`
			}
			err := json.Unmarshal([]byte(`{"x":`+tc.in+`}`), &v)
			if (err == nil) != tc.ok || string(v.X) != tc.want {
				t.Fatalf("decode %s = %q, %v; want %q ok=%v", tc.in, v.X, err, tc.want, tc.ok)
			}
		})
	}
}
