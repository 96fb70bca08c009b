package epixel

import "github.com/leadsync/leadsync/connectors"

func init() {
	connectors.Register(connectors.Type{
		Name:  "epixel",
		Check: check,
		NewSource: func(in *connectors.Instance) (connectors.Source, error) {
			return NewSource(in)
		},
		NewTarget: func(in *connectors.Instance) (connectors.Target, error) {
			return NewTarget(in)
		},
	})
}

// check validates an instance's credentials and options without touching the
// network.
func check(in *connectors.Instance) error {
	if err := in.RequireAuth("api_key", "username", "password"); err != nil {
		return err
	}
	_, err := parseOptions(in)
	return err
}
