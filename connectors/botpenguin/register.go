package botpenguin

import "github.com/leadsync/leadsync/connectors"

func init() {
	connectors.Register(connectors.Type{
		Name:  "botpenguin",
		Check: Check,
		NewSource: func(in *connectors.Instance) (connectors.Source, error) {
			return NewSource(in)
		},
	})
}

// Check validates in's auth ("token") and options (bot_id and customer_id
// required, nothing else), without touching the network.
func Check(in *connectors.Instance) error {
	if err := in.RequireAuth("token"); err != nil {
		return err
	}
	_, err := decodeOptions(in)
	return err
}
