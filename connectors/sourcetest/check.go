package sourcetest

import (
	"strings"
	"testing"

	"github.com/leadsync/leadsync/connectors"
)

// CheckCase is one configuration given to a connector type's Check.
type CheckCase struct {
	Name    string
	Auth    map[string]string
	Options map[string]any
	Want    string // a part of the error; "" when the configuration is valid
}

// RunCheck checks that typeName is registered as a source-only type and
// that its Check accepts or refuses each case, for an instance called name
// at baseURL.
func RunCheck(t *testing.T, typeName, name, baseURL string, cases []CheckCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			typ, ok := connectors.Lookup(typeName)
			if !ok || typ.NewSource == nil || typ.NewTarget != nil {
				t.Fatalf("%s registered as %+v, want a source-only type", typeName, typ)
			}
			err := typ.Check(&connectors.Instance{Name: name, BaseURL: baseURL, Auth: tt.Auth, Options: tt.Options})
			switch {
			case tt.Want == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case tt.Want != "" && (err == nil || !strings.Contains(err.Error(), tt.Want)):
				t.Fatalf("Check = %v, want an error containing %q", err, tt.Want)
			}
		})
	}
}
