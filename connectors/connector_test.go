package connectors

import (
	"errors"
	"fmt"
	"testing"

	"github.com/leadsync/leadsync/connectors/httpapi"
)

func TestConfigErrorMarksOnlyWhatRetryingCannotFix(t *testing.T) {
	status := func(code int) error { return fmt.Errorf("call: %w", &httpapi.StatusError{Status: code}) }
	tests := []struct {
		name   string
		err    error
		config bool
	}{
		{"401 after renewal", status(401), true},
		{"403 wrong key", status(403), true},
		{"404 wrong prefix", status(404), true},
		{"static token refused", fmt.Errorf("x: %w", httpapi.ErrCredentialRefused), true},
		{"500 is transient", status(500), false},
		{"429 is transient", status(429), false},
		{"plain error", errors.New("connection reset"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ConfigError(tc.err)
			if errors.Is(got, ErrConfig) != tc.config {
				t.Fatalf("ConfigError(%v) is config = %v, want %v", tc.err, !tc.config, tc.config)
			}
			if !errors.Is(got, tc.err) {
				t.Fatalf("the original error is lost: %v", got)
			}
		})
	}
	if ConfigError(nil) != nil {
		t.Fatal("nil must stay nil")
	}
	once := ConfigError(status(403))
	if twice := ConfigError(once); twice != once {
		t.Fatalf("an ErrConfig error was wrapped again: %v", twice)
	}
}
