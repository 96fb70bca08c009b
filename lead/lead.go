// Package lead is leadsync's canonical model: what every source connector
// turns its vendor's records into, and what the engine merges and pushes.
//
// Normalisation lives here too, so that "the same email" and "the same phone"
// mean one thing across every vendor.
package lead

import "time"

// Sender roles of a conversation message.
const (
	SenderUser  = "user"
	SenderBot   = "bot"
	SenderAgent = "agent"
)

// Record is one vendor's view of one person (or of one conversation that
// carries a person's contact details), keyed by (Source, SourceID).
//
// Emails hold normalised addresses (see NormalizeEmail) and Phones hold E.164
// numbers (see NormalizePhone): both are match keys. A phone that does not
// parse or is not valid is kept in OtherPhones, shown to operators, never
// used to join two records.
type Record struct {
	Source   string `json:"source"`    // connector instance name
	SourceID string `json:"source_id"` // the vendor's stable key

	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`

	Emails      []string `json:"emails,omitempty"`
	Phones      []string `json:"phones,omitempty"`
	OtherPhones []string `json:"other_phones,omitempty"`

	Channel string `json:"channel,omitempty"` // "facebook", "whatsapp", "webchat", ...
	Status  string `json:"status,omitempty"`  // the vendor's own status word, if any
	// Context is a short provenance line: the page, widget or channel the
	// person came through ("Facebook page Acme Shoes").
	Context    string            `json:"context,omitempty"`
	Tags       []string          `json:"tags,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	// TargetID is set only by a source that reads the target CRM itself:
	// the CRM's own key (an Epixel slug) for this person.
	TargetID string `json:"target_id,omitempty"`

	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`

	Conversations []Conversation `json:"conversations,omitempty"`

	// Raw is the vendor's record as it came, for operators and audits.
	Raw []byte `json:"raw,omitempty"`
}

// Key is the record's identity within the store: instance and vendor key.
func (r *Record) Key() string { return r.Source + "\x00" + r.SourceID }

// Conversation is a chat thread: an AskHandle room, a Netcore transcript.
type Conversation struct {
	ID       string    `json:"id"`
	Channel  string    `json:"channel,omitempty"`
	Title    string    `json:"title,omitempty"`
	Messages []Message `json:"messages,omitempty"`
}

// Message is one line of a conversation. ID must be stable across runs: it
// is how a message is written into the CRM exactly once. When the vendor has
// no message id, the connector derives one from the conversation id, the
// timestamp and the text.
type Message struct {
	ID     string    `json:"id"`
	Sender string    `json:"sender"` // SenderUser, SenderBot or SenderAgent
	Name   string    `json:"name,omitempty"`
	Text   string    `json:"text"`
	At     time.Time `json:"at"`
}
