package roborder

import "github.com/leadsync/leadsync/connectors"

func init() {
	connectors.Register(connectors.Type{
		Name:  "roborder",
		Check: Check,
		NewSource: func(in *connectors.Instance) (connectors.Source, error) {
			return NewSource(in)
		},
	})
}

// options: Roborder takes no type-specific keys; decoding into an empty
// struct makes any key an error that names it.
type options struct{}

// Check validates in's auth ("token", or "email" and "password") and refuses
// any option, without touching the network.
func Check(in *connectors.Instance) error {
	if err := checkAuth(in); err != nil {
		return err
	}
	var o options
	return in.DecodeOptions(&o)
}
