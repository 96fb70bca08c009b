package botpenguin

import "github.com/leadsync/leadsync/connectors/httpapi"

// flexString is a vendor value that is text to us in any JSON scalar type.
type flexString = httpapi.Text
