package connectors

import (
	"encoding/json"
	"fmt"

	"github.com/leadsync/leadsync/lead"
)

// DecodePage maps the raw items of one list answer to a Page labelled label,
// for sources whose items map one to one to records. An item toRecord cannot
// map is a problem "label: item i: err" and is left out; each of a record's
// problems is "label: noun <SourceID>: problem", and the record is kept.
func DecodePage(label, noun string, raws []json.RawMessage, toRecord func(json.RawMessage) (lead.Record, []error, error)) Page {
	p := Page{Label: label, Records: make([]lead.Record, 0, len(raws))}
	for i, raw := range raws {
		rec, problems, err := toRecord(raw)
		if err != nil {
			p.Problems = append(p.Problems, fmt.Errorf("%s: item %d: %w", label, i, err))
			continue
		}
		for _, pr := range problems {
			p.Problems = append(p.Problems, fmt.Errorf("%s: %s %s: %w", label, noun, rec.SourceID, pr))
		}
		p.Records = append(p.Records, rec)
	}
	return p
}
