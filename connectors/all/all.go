// Package all registers every connector type. Adding a vendor is one new
// folder under connectors/ and one import line here.
package all

import (
	_ "github.com/leadsync/leadsync/connectors/askhandle"
	_ "github.com/leadsync/leadsync/connectors/botpenguin"
	_ "github.com/leadsync/leadsync/connectors/epixel"
	_ "github.com/leadsync/leadsync/connectors/netcore"
	_ "github.com/leadsync/leadsync/connectors/roborder"
)
