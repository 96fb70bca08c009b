package lead

// Person is the merged view of every record that identity resolution joined:
// what the engine hands the target. Fields hold the surviving value of each
// field (see the engine's survivorship rules); Emails and Phones are the union
// over all records, the primary value first.
type Person struct {
	ID string `json:"id"` // leadsync's own person id, stable across runs

	FirstName string   `json:"first_name,omitempty"`
	LastName  string   `json:"last_name,omitempty"`
	Emails    []string `json:"emails,omitempty"`
	Phones    []string `json:"phones,omitempty"`

	Status   string   `json:"status,omitempty"`
	Channels []string `json:"channels,omitempty"`
	// Sources lists "instance:source_id" for every record merged in.
	Sources []string `json:"sources,omitempty"`
	// SourceInstances lists the connector instances the person came through,
	// sorted, without repetition.
	SourceInstances []string `json:"source_instances,omitempty"`
	// Contexts are the records' provenance lines, sorted, deduplicated.
	Contexts []string `json:"contexts,omitempty"`
	Tags     []string `json:"tags,omitempty"`

	// Won names, per field, the record ("instance:source_id") its value came from.
	Won map[string]string `json:"won,omitempty"`
}

// Email is the primary email, or "".
func (p *Person) Email() string {
	if len(p.Emails) == 0 {
		return ""
	}
	return p.Emails[0]
}

// Phone is the primary phone in E.164, or "".
func (p *Person) Phone() string {
	if len(p.Phones) == 0 {
		return ""
	}
	return p.Phones[0]
}
