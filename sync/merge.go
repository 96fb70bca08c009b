package sync

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/leadsync/leadsync/config"
	"github.com/leadsync/leadsync/lead"
	"github.com/leadsync/leadsync/state"
)

// Survivorship decides which record's value a merged person keeps, field by
// field: records are ranked by the configured source priority (instances
// listed first win, in list order), then by the most recent update, then by
// key so the result never depends on the order records arrived in. An empty
// value never overwrites a filled one: each field takes the first non-empty
// value down the ranking. Emails and phones are the union, in ranking order,
// so the primary one comes from the best-ranked record that has one.
//
// Records of the target instance (the CRM read as a source) take part in
// names, emails and phones like any other, so a change made in the CRM is
// not overwritten by older vendor data; they add nothing to provenance
// (sources, channels, contexts, tags) and their status, the CRM's own word,
// is not a vendor status.
type Survivorship struct {
	Priority []string // connector instance names, best first
	Target   string   // the target instance
}

// NewSurvivorship is the configured survivorship: merge.priority and the target instance.
func NewSurvivorship(cfg *config.Config) Survivorship {
	return Survivorship{Priority: cfg.Merge.Priority, Target: cfg.Target}
}

func (s Survivorship) rank(instance string) int {
	if i := slices.Index(s.Priority, instance); i >= 0 {
		return i
	}
	return len(s.Priority)
}

func recordTime(r *lead.Record) time.Time {
	if !r.UpdatedAt.IsZero() {
		return r.UpdatedAt
	}
	return r.CreatedAt
}

// compare orders two records best first: by source priority, then the
// most recent update, then key.
func (s Survivorship) compare(a, b *lead.Record) int {
	if c := cmp.Compare(s.rank(a.Source), s.rank(b.Source)); c != 0 {
		return c
	}
	if c := recordTime(b).Compare(recordTime(a)); c != 0 {
		return c
	}
	return cmp.Compare(a.Key(), b.Key())
}

// Merge builds the person from its records. id is the person's id. The
// records are ranked through pointers: a copy of the records to sort was a
// sixth of what recomputing a person allocated.
func (s Survivorship) Merge(id string, records []lead.Record) lead.Person {
	recs := make([]*lead.Record, len(records))
	for i := range records {
		recs[i] = &records[i]
	}
	slices.SortStableFunc(recs, s.compare)
	// names[i] is recs[i]'s "instance:source_id", built once for Won and Sources.
	names := make([]string, len(recs))
	for i, r := range recs {
		names[i] = r.Source + ":" + r.SourceID
	}
	p := lead.Person{ID: id, Won: map[string]string{}}
	pick := func(field string, dst *string, v func(*lead.Record) string) {
		for i, r := range recs {
			if x := v(r); x != "" {
				*dst = x
				p.Won[field] = names[i]
				return
			}
		}
	}
	pick("first_name", &p.FirstName, func(r *lead.Record) string { return lead.CleanName(r.FirstName) })
	pick("last_name", &p.LastName, func(r *lead.Record) string { return lead.CleanName(r.LastName) })
	pick("status", &p.Status, func(r *lead.Record) string {
		if r.Source == s.Target {
			return ""
		}
		return r.Status
	})
	for i, r := range recs {
		for _, e := range r.Emails {
			if !slices.Contains(p.Emails, e) {
				if len(p.Emails) == 0 {
					p.Won["email"] = names[i]
				}
				p.Emails = append(p.Emails, e)
			}
		}
		for _, ph := range r.Phones {
			if !slices.Contains(p.Phones, ph) {
				if len(p.Phones) == 0 {
					p.Won["phone"] = names[i]
				}
				p.Phones = append(p.Phones, ph)
			}
		}
		if r.Source == s.Target && s.Target != "" {
			continue
		}
		p.Sources = append(p.Sources, names[i])
		p.SourceInstances = append(p.SourceInstances, r.Source)
		if r.Channel != "" {
			p.Channels = append(p.Channels, r.Channel)
		}
		if r.Context != "" {
			p.Contexts = append(p.Contexts, r.Context)
		}
		p.Tags = append(p.Tags, r.Tags...)
	}
	for _, l := range []*[]string{&p.Sources, &p.SourceInstances, &p.Channels, &p.Contexts, &p.Tags} {
		slices.Sort(*l)
		*l = slices.Compact(*l)
	}
	return p
}

// contentHash is the hash of what the CRM would receive for a person: its
// merged fields (fieldsSum) and the identities of all its messages.
func contentHash(p *lead.Person, recs []lead.Record) string {
	fh := fieldsSum(p)
	h := sha256.New()
	h.Write(fh[:])
	var keys []string
	for i := range recs {
		for _, c := range recs[i].Conversations {
			for _, m := range c.Messages {
				keys = append(keys, messageKey(&recs[i], &c, &m))
			}
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// fieldsHash is the hash of a person's merged fields alone: what an update
// sends (Person.PushedFields).
func fieldsHash(p *lead.Person) string {
	fh := fieldsSum(p)
	return hex.EncodeToString(fh[:16])
}

func fieldsSum(p *lead.Person) [sha256.Size]byte {
	q := *p
	q.ID, q.Won = "", nil
	fb, _ := gojson.Marshal(q) // encoding/json's bytes (state.TestCodecMatchesEncodingJSON)
	return sha256.Sum256(fb)
}

// messageKey identifies a message across runs: instance, conversation, message.
func messageKey(r *lead.Record, c *lead.Conversation, m *lead.Message) string {
	return "m:" + r.Source + "\x00" + c.ID + "\x00" + m.ID
}

// recordHash is the content hash of a record, without its raw form (raw
// payloads carry volatile fields that change nothing we store or push). It
// also returns the record's encoding without its raw form
// (state.EncodeRecordWithoutRaw; nil when it failed), which
// Tx.PutRecordWithoutRaw stores.
func recordHash(r *lead.Record) (string, []byte) {
	b, err := state.EncodeRecordWithoutRaw(r)
	if err != nil {
		b = nil
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16]), b
}
