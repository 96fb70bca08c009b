package sourcetest

import (
	"context"

	"github.com/leadsync/leadsync/connectors"
)

// Pull runs src from the start and returns every page it emitted.
func Pull(src connectors.Source) ([]connectors.Page, error) {
	var pages []connectors.Page
	err := src.Pull(context.Background(), nil, func(p connectors.Page) error {
		pages = append(pages, p)
		return nil
	})
	return pages, err
}

// SourceIDs lists the SourceID of every record of pages, in order.
func SourceIDs(pages []connectors.Page) []string {
	out := []string{}
	for _, p := range pages {
		for _, r := range p.Records {
			out = append(out, r.SourceID)
		}
	}
	return out
}
