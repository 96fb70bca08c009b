package askhandle

import (
	"fmt"

	"github.com/leadsync/leadsync/connectors"
)

func init() {
	connectors.Register(connectors.Type{Name: "askhandle", Check: Check, NewSource: NewSource})
}

// Page size bounds. The bare-array shape only tells "last page" by a page
// shorter than the limit, so the limit must be one the server honours.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// options are the instance keys besides the common ones.
type options struct {
	// PageSize is the limit sent with every list request.
	PageSize int `yaml:"page_size"`
}

// Check validates the instance's auth and options without touching the
// network.
func Check(in *connectors.Instance) error {
	if err := checkAuth(in); err != nil {
		return err
	}
	_, err := decodeOptions(in)
	return err
}

func decodeOptions(in *connectors.Instance) (options, error) {
	var o options
	if err := in.DecodeOptions(&o); err != nil {
		return o, err
	}
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	if o.PageSize < 1 || o.PageSize > MaxPageSize {
		return o, fmt.Errorf("connectors.%s.page_size: %d is outside 1..%d", in.Name, o.PageSize, MaxPageSize)
	}
	return o, nil
}
