package state

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/leadsync/leadsync/lead"
)

// Cursor is a source instance's saved position.
type Cursor struct {
	Cursor  []byte    `json:"cursor,omitempty"`
	SavedAt time.Time `json:"saved_at"`
}

// StoredRecord is a source record as staged, with the person it belongs to.
type StoredRecord struct {
	Person string      `json:"person"`
	Hash   string      `json:"hash"` // content hash of Record, to skip unchanged re-reads
	Record lead.Record `json:"record"`
}

// Person is one resolved person: the records joined into it and what was
// last staged and pushed.
type Person struct {
	ID      string   `json:"id"`
	Records []string `json:"records"` // record keys (instance \x00 source id)
	// Hash is the content hash of the merged person and its messages, as last
	// staged; PushedHash is the one the CRM last received.
	Hash       string `json:"hash,omitempty"`
	PushedHash string `json:"pushed_hash,omitempty"`
	// PushedFields is the hash of the fields (not the notes) the CRM last received.
	PushedFields string    `json:"pushed_fields,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// OutboxItem is a person waiting to be pushed.
type OutboxItem struct {
	Attempts   int       `json:"attempts"`
	NextAt     time.Time `json:"next_at"`
	LastError  string    `json:"last_error,omitempty"`
	EnqueuedAt time.Time `json:"enqueued_at"`
}

// DLQEntry is a person the CRM refused, with its words.
type DLQEntry struct {
	ID      string              `json:"id"`
	Person  string              `json:"person"`
	Emails  []string            `json:"emails,omitempty"`
	Phones  []string            `json:"phones,omitempty"`
	Sources []string            `json:"sources,omitempty"`
	Reason  string              `json:"reason"`
	Fields  map[string][]string `json:"fields,omitempty"`
	At      time.Time           `json:"at"`
}

// Intent records that a CRM create may be in flight for a person: after a
// crash, the pusher looks the person up before creating again.
type Intent struct {
	At time.Time `json:"at"`
}

// Conflict is a record that would join two persons already known to the
// CRM under different ids: they are kept apart for an operator to decide.
// The pusher records one too (Key "t:" and a CRM id) for a lead created for
// a person that was merged meanwhile into one that has another lead.
type Conflict struct {
	Record  string    `json:"record"`
	Persons []string  `json:"persons"`
	Key     string    `json:"key"` // the shared email or phone, as stored; or t:CRM-id
	At      time.Time `json:"at"`
}

// --- cursors

// Cursor returns an instance's cursor (nil, false when none).
func (t *Tx) Cursor(instance string) (Cursor, bool, error) {
	return get[Cursor](t, bCursors, instance)
}

// PutCursor saves an instance's cursor.
func (t *Tx) PutCursor(instance string, c Cursor) error { return t.put(bCursors, instance, c) }

// DeleteCursor forgets an instance's cursor: its next run backfills.
func (t *Tx) DeleteCursor(instance string) error { return t.del(bCursors, instance) }

// Cursors lists every saved cursor by instance.
func (t *Tx) Cursors() (map[string]Cursor, error) {
	out := map[string]Cursor{}
	err := t.forEach(bCursors, func(k, v []byte) error {
		var c Cursor
		if err := decode(v, &c); err != nil {
			return err
		}
		out[string(k)] = c
		return nil
	})
	return out, err
}

// --- records

// Record returns a staged record by key. Its slices are shared with the
// transaction's cache: append to them freely (they are clipped), but do not
// modify their elements in place.
func (t *Tx) Record(key string) (StoredRecord, bool, error) {
	if r, ok := t.recs[key]; ok {
		return clipRecord(r), true, nil
	}
	r, ok, err := get[StoredRecord](t, bRecords, key)
	if ok && t.recs != nil {
		t.recs[key] = r
	}
	return clipRecord(r), ok, err
}

// RecordFields is Record without the raw payload: the returned record's Raw
// is nil unless the record was cached in the transaction. It is for a reader
// that needs only the record's fields (merging a person): the raw payload is
// most of a stored record, and decoding it (base64) was most of reading one
// back. What it reads is not cached.
func (t *Tx) RecordFields(key string) (StoredRecord, bool, error) {
	if r, ok := t.recs[key]; ok {
		return clipRecord(r), true, nil
	}
	f, ok, err := get[storedRecordFields](t, bRecords, key)
	if !ok || err != nil {
		return StoredRecord{}, ok, err
	}
	return StoredRecord{Person: f.Person, Hash: f.Hash, Record: f.Record.Record}, true, nil
}

// storedRecordFields decodes a StoredRecord's JSON without the record's raw
// payload: recordFields' own "raw" field, shallower than the embedded
// lead.Record's, takes the key and skips its value.
type storedRecordFields struct {
	Person string       `json:"person"`
	Hash   string       `json:"hash"`
	Record recordFields `json:"record"`
}

type recordFields struct {
	lead.Record
	Raw skipValue `json:"raw"`
}

// skipValue is a JSON value read and thrown away (the decoder still checks it).
type skipValue struct{}

func (*skipValue) UnmarshalJSON([]byte) error { return nil }

// RecordHash returns a staged record's content hash without reading the
// record. In a store not created with that bucket (Store.allHashes), a
// record staged before the hashes had their own bucket has its
// hash read from the record once and copied there (in a read-write
// transaction), so the next look-up is cheap again.
func (t *Tx) RecordHash(key string) (string, bool, error) {
	if v := t.value(bRecHashes, []byte(key)); v != nil {
		return string(v), true, nil
	}
	if t.allHashes {
		return "", false, nil
	}
	r, ok, err := t.Record(key)
	if err != nil || !ok {
		return "", false, err
	}
	if (t.ov != nil || t.tx.Writable()) && r.Hash != "" {
		if err := t.putRaw(bRecHashes, []byte(key), []byte(r.Hash)); err != nil {
			return "", false, err
		}
	}
	return r.Hash, true, nil
}

// PutRecord stages a record, and its hash in the hashes bucket. Hash values
// are bare strings, like identities.
func (t *Tx) PutRecord(key string, r StoredRecord) error {
	raw, err := encode(r)
	if err != nil {
		return err
	}
	return t.putRecordRaw(key, r, raw)
}

// putRecordRaw stores r, encoded as raw, with its hash and in the cache.
func (t *Tx) putRecordRaw(key string, r StoredRecord, raw []byte) error {
	if err := t.putRaw(bRecords, []byte(key), raw); err != nil {
		return err
	}
	if err := t.putRaw(bRecHashes, []byte(key), []byte(r.Hash)); err != nil {
		return err
	}
	if t.recs != nil {
		t.recs[key] = clipRecord(r)
	}
	return nil
}

// EncodeRecordWithoutRaw encodes r as it is stored, without its raw
// payload; PutRecordWithoutRaw adds r.Raw to it as it stores it. It needs
// no transaction: staging hashes a record's content without its raw payload
// ahead, while the page before commits, and stores the record with it,
// encoded once for both.
func EncodeRecordWithoutRaw(r *lead.Record) ([]byte, error) {
	c := *r
	c.Raw = nil
	return gojson.Marshal(&c)
}

const rawField = `,"raw":"`

// appendWithRaw appends to dst the whole encoding of a record whose
// encoding without its raw payload is noRaw: the raw payload is the
// record's last field, omitted when empty, a base64 string otherwise.
func appendWithRaw(dst, noRaw, raw []byte) []byte {
	if len(raw) == 0 || len(noRaw) < 2 || noRaw[len(noRaw)-1] != '}' {
		return append(dst, noRaw...)
	}
	dst = append(dst, noRaw[:len(noRaw)-1]...)
	dst = append(dst, rawField...)
	dst = base64.StdEncoding.AppendEncode(dst, raw)
	return append(dst, `"}`...)
}

// withRawLen is the length appendWithRaw appends.
func withRawLen(noRaw, raw []byte) int {
	if len(raw) == 0 {
		return len(noRaw)
	}
	return len(noRaw) + len(rawField) + base64.StdEncoding.EncodedLen(len(raw)) + 1
}

// PutRecordWithoutRaw is PutRecord with r.Record already encoded by
// EncodeRecordWithoutRaw: r.Record.Raw is added as the stored bytes are
// built (appendWithRaw), in one allocation, and they are exactly PutRecord's.
func (t *Tx) PutRecordWithoutRaw(key string, r StoredRecord, noRaw []byte) error {
	raw := r.Record.Raw
	if !plainJSONString(r.Person) || !plainJSONString(r.Hash) {
		return t.PutRecord(key, r)
	}
	out := make([]byte, 0, len(envelope)+len(r.Person)+len(r.Hash)+withRawLen(noRaw, raw)+40)
	out = append(out, envelope...)
	out = append(out, `{"person":"`...)
	out = append(out, r.Person...)
	out = append(out, `","hash":"`...)
	out = append(out, r.Hash...)
	out = append(out, `","record":`...)
	out = appendWithRaw(out, noRaw, raw)
	out = append(out, "}}"...)
	return t.putRecordRaw(key, r, out)
}

// plainJSONString reports whether s encodes in JSON as itself between
// quotes (person ids and hex hashes do).
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// clipRecord caps the record's slices at their length, so that an append
// by one holder of a cached copy never writes into another's array.
func clipRecord(r StoredRecord) StoredRecord {
	x := &r.Record
	x.Emails, x.Phones, x.OtherPhones = slices.Clip(x.Emails), slices.Clip(x.Phones), slices.Clip(x.OtherPhones)
	x.Tags, x.Conversations, x.Raw = slices.Clip(x.Tags), slices.Clip(x.Conversations), slices.Clip(x.Raw)
	return r
}

// --- identities: "e:" + email or "p:" + E.164 phone -> person id

// EmailKey and PhoneKey build identity keys.
func EmailKey(e string) string { return "e:" + e }

// PhoneKey builds the identity key of an E.164 phone.
func PhoneKey(p string) string { return "p:" + p }

// Identity returns the person an identity key belongs to.
func (t *Tx) Identity(key string) string {
	v := t.value(bIdentity, []byte(key))
	return string(v)
}

// PutIdentity points an identity key at a person. Identity values are bare
// person ids (not versioned JSON): they are the hottest keys and carry nothing else.
func (t *Tx) PutIdentity(key, person string) error {
	return t.putRaw(bIdentity, []byte(key), []byte(person))
}

// DeleteIdentity removes an identity key.
func (t *Tx) DeleteIdentity(key string) error { return t.delRaw(bIdentity, []byte(key)) }

// --- persons

// NewPersonID allocates the next person id.
func (t *Tx) NewPersonID() (string, error) {
	n, err := t.nextSequence(bPersons)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("P%08d", n), nil
}

// Person loads a person.
func (t *Tx) Person(id string) (Person, bool, error) {
	if p, ok := t.persons[id]; ok {
		p.Records = slices.Clip(p.Records)
		return p, true, nil
	}
	p, ok, err := get[Person](t, bPersons, id)
	if ok && t.persons != nil {
		t.persons[id] = p
	}
	p.Records = slices.Clip(p.Records)
	return p, ok, err
}

// PutPerson saves a person. In an Update's transaction it is encoded and
// stored when the transaction's function returns (see Tx.dirty); it is
// visible to every read in the transaction at once.
func (t *Tx) PutPerson(p Person) error {
	// A person in the cache is in the bucket or was counted when first put
	// (the cache forgets deleted persons): only others may be new.
	if _, cached := t.persons[p.ID]; !cached {
		if err := t.countNew(bPersons, p.ID); err != nil {
			return err
		}
	}
	if t.persons == nil {
		return t.put(bPersons, p.ID, p)
	}
	p.Records = slices.Clip(p.Records)
	t.persons[p.ID] = p
	if t.dirty != nil {
		t.dirty[p.ID] = struct{}{}
		return nil
	}
	return t.put(bPersons, p.ID, p)
}

// DeletePerson removes a person (after a merge into another).
func (t *Tx) DeletePerson(id string) error {
	// A person put in this transaction but not yet flushed is counted and
	// not in the bucket: store it first, so that the delete counts it out.
	if _, ok := t.dirty[id]; ok {
		if err := t.put(bPersons, id, t.persons[id]); err != nil {
			return err
		}
		delete(t.dirty, id)
	}
	delete(t.persons, id)
	return t.delCounted(bPersons, id)
}

// ForEachPerson calls fn for every person, in id order.
func (t *Tx) ForEachPerson(fn func(Person) error) error {
	if err := t.flush(); err != nil {
		return err
	}
	return t.forEach(bPersons, func(k, v []byte) error {
		var p Person
		if err := decode(v, &p); err != nil {
			return err
		}
		return fn(p)
	})
}

// --- outbox

// Enqueue puts a person in the outbox, due now (keeping an existing entry's
// backoff when it already waits).
func (t *Tx) Enqueue(person string, now time.Time) error {
	if t.value(bOutbox, []byte(person)) != nil {
		return nil // already waiting: its entry (and backoff) stays as it is
	}
	if err := t.addCount(bOutbox, 1); err != nil {
		return err
	}
	return t.put(bOutbox, person, OutboxItem{NextAt: now, EnqueuedAt: now})
}

// OutboxItem returns a person's outbox entry.
func (t *Tx) OutboxItem(person string) (OutboxItem, bool, error) {
	return get[OutboxItem](t, bOutbox, person)
}

// PutOutbox updates an outbox entry (its backoff), or adds one.
func (t *Tx) PutOutbox(person string, it OutboxItem) error {
	if err := t.countNew(bOutbox, person); err != nil {
		return err
	}
	return t.put(bOutbox, person, it)
}

// Dequeue removes a person from the outbox.
func (t *Tx) Dequeue(person string) error { return t.delCounted(bOutbox, person) }

// Due lists the persons whose outbox entries are due at now, at most limit
// (0: all), and the earliest NextAt among those not yet due.
func (t *Tx) Due(now time.Time, limit int) (due []string, next time.Time, err error) {
	err = t.forEach(bOutbox, func(k, v []byte) error {
		var it OutboxItem
		if err := decode(v, &it); err != nil {
			return err
		}
		if !it.NextAt.After(now) {
			if limit == 0 || len(due) < limit {
				due = append(due, string(k))
			}
		} else if next.IsZero() || it.NextAt.Before(next) {
			next = it.NextAt
		}
		return nil
	})
	return due, next, err
}

// DueAfter is Due over the entries whose keys sort after after (all when
// after is ""), stopping at the limit'th due one (limit > 0), so that a
// caller can walk a large outbox in pieces, each in a short transaction of
// its own. more reports that it stopped before the end; next covers only
// the entries it passed.
func (t *Tx) DueAfter(now time.Time, after string, limit int) (due []string, next time.Time, more bool, err error) {
	c, err := t.cursor(bOutbox)
	if err != nil {
		return nil, next, false, err
	}
	k, v := c.First()
	if after != "" {
		k, v = c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = c.Next()
		}
	}
	for ; k != nil; k, v = c.Next() {
		if limit > 0 && len(due) == limit {
			return due, next, true, nil
		}
		var it OutboxItem
		if err := decode(v, &it); err != nil {
			return nil, next, false, fmt.Errorf("%s/%q: %w", bOutbox, k, err)
		}
		if !it.NextAt.After(now) {
			due = append(due, string(k))
		} else if next.IsZero() || it.NextAt.Before(next) {
			next = it.NextAt
		}
	}
	return due, next, false, nil
}

// OutboxDepth counts outbox entries.
func (t *Tx) OutboxDepth() int { return t.count(bOutbox) }

// --- DLQ

// AddDLQ stores an entry under a new id and returns it.
func (t *Tx) AddDLQ(e DLQEntry) (string, error) {
	n, err := t.nextSequence(bDLQ)
	if err != nil {
		return "", err
	}
	e.ID = fmt.Sprintf("D%06d", n)
	if err := t.countNew(bDLQ, e.ID); err != nil {
		return "", err
	}
	return e.ID, t.put(bDLQ, e.ID, e)
}

// DLQ lists the entries in id order.
func (t *Tx) DLQ() ([]DLQEntry, error) {
	var out []DLQEntry
	err := t.forEach(bDLQ, func(k, v []byte) error {
		var e DLQEntry
		if err := decode(v, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// DeleteDLQ removes an entry.
func (t *Tx) DeleteDLQ(id string) error { return t.delCounted(bDLQ, id) }

// DLQDepth counts entries.
func (t *Tx) DLQDepth() int { return t.count(bDLQ) }

// --- target ids and create intents

// TargetID returns the CRM id recorded for a person.
func (t *Tx) TargetID(person string) string { return string(t.value(bTargetIDs, []byte(person))) }

// PutTargetID records a person's CRM id (bare string value, like identities).
func (t *Tx) PutTargetID(person, id string) error {
	return t.putRaw(bTargetIDs, []byte(person), []byte(id))
}

// DeleteTargetID forgets a person's CRM id.
func (t *Tx) DeleteTargetID(person string) error { return t.del(bTargetIDs, person) }

// Intent returns a pending create intent.
func (t *Tx) Intent(person string) (Intent, bool, error) {
	return get[Intent](t, bIntents, person)
}

// PutIntent records that a create is about to be sent.
func (t *Tx) PutIntent(person string, in Intent) error { return t.put(bIntents, person, in) }

// DeleteIntent clears a create intent.
func (t *Tx) DeleteIntent(person string) error { return t.del(bIntents, person) }

// --- notes: person \x00 note key -> CRM note id ("" while in flight)

func noteKey(person, key string) []byte { return []byte(person + "\x00" + key) }

// PutNote records a note key as written (id may be "" for "in flight").
func (t *Tx) PutNote(person, key, id string) error {
	return t.putRaw(bNotes, noteKey(person, key), []byte(id))
}

// Notes lists a person's note keys and ids.
func (t *Tx) Notes(person string) (map[string]string, error) {
	out := map[string]string{}
	prefix := []byte(person + "\x00")
	c, err := t.cursor(bNotes)
	if err != nil {
		return nil, err
	}
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		out[strings.TrimPrefix(string(k), string(prefix))] = string(v)
	}
	return out, nil
}

// MoveNotes re-keys every note of from under to (after a merge).
func (t *Tx) MoveNotes(from, to string) error {
	notes, err := t.Notes(from)
	if err != nil {
		return err
	}
	for k, v := range notes {
		if err := t.PutNote(to, k, v); err != nil {
			return err
		}
		if err := t.delRaw(bNotes, noteKey(from, k)); err != nil {
			return err
		}
	}
	return nil
}

// --- conflicts

// PutConflict records a merge conflict for an operator.
func (t *Tx) PutConflict(c Conflict) error {
	key := c.Record + "\x00" + c.Key
	if err := t.countNew(bConflicts, key); err != nil {
		return err
	}
	return t.put(bConflicts, key, c)
}

// Conflicts lists the recorded conflicts.
func (t *Tx) Conflicts() ([]Conflict, error) {
	var out []Conflict
	err := t.forEach(bConflicts, func(k, v []byte) error {
		var c Conflict
		if err := decode(v, &c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// Counts reports the number of persons, outbox entries, DLQ entries and
// conflicts (keyed by bucket name: "persons", "outbox", "dlq",
// "conflicts"), for status and metrics.
func (t *Tx) Counts() map[string]int {
	out := map[string]int{}
	for _, b := range countedBuckets {
		out[string(b)] = t.count(b)
	}
	return out
}

// --- counters
//
// The sizes of the buckets status reports are kept in the meta bucket
// ("count:" + bucket -> decimal), maintained by the methods that add and
// remove entries. bbolt can only count a bucket's keys by walking every one
// of its pages (Bucket.Stats), which brought the whole persons bucket of
// the state file into memory for every `once` summary and /status.

var countedBuckets = [][]byte{bPersons, bOutbox, bDLQ, bConflicts}

func counterKey(bucket []byte) []byte { return append([]byte("count:"), bucket...) }

// initCounters counts, once, the buckets of a store written before the
// counters were kept.
func initCounters(tx *bolt.Tx) error {
	meta := tx.Bucket(bMeta)
	for _, b := range countedBuckets {
		if meta.Get(counterKey(b)) != nil {
			continue
		}
		n := tx.Bucket(b).Stats().KeyN
		if err := meta.Put(counterKey(b), strconv.AppendInt(nil, int64(n), 10)); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) count(bucket []byte) int {
	n, _ := strconv.Atoi(string(t.value(bMeta, counterKey(bucket))))
	return n + t.counts[string(bucket)]
}

// addCount moves a bucket's counter by d. In an Update's transaction the
// change is kept in the transaction (counts) and written once by flush:
// staging a page of new persons moved the persons and outbox counters a
// hundred times each.
func (t *Tx) addCount(bucket []byte, d int) error {
	if t.dirty != nil {
		if t.counts == nil {
			t.counts = map[string]int{}
		}
		t.counts[string(bucket)] += d
		return nil
	}
	return t.putCount(bucket, t.count(bucket)+d)
}

func (t *Tx) putCount(bucket []byte, n int) error {
	return t.putRaw(bMeta, counterKey(bucket), strconv.AppendInt(nil, int64(n), 10))
}

// flushCounts writes the counters' changes kept by addCount.
func (t *Tx) flushCounts() error {
	for _, b := range countedBuckets {
		d := t.counts[string(b)]
		if d == 0 {
			continue
		}
		n := t.count(b) // stored + d
		delete(t.counts, string(b))
		if err := t.putCount(b, n); err != nil {
			return err
		}
	}
	return nil
}

// countNew counts key as a new entry of bucket unless it is already there.
func (t *Tx) countNew(bucket []byte, key string) error {
	if t.value(bucket, []byte(key)) != nil {
		return nil
	}
	return t.addCount(bucket, 1)
}

// delCounted deletes key from a counted bucket, counting it when it was there.
func (t *Tx) delCounted(bucket []byte, key string) error {
	if t.value(bucket, []byte(key)) == nil {
		return nil
	}
	if err := t.addCount(bucket, -1); err != nil {
		return err
	}
	return t.del(bucket, key)
}

// DeleteNote removes a note key.
func (t *Tx) DeleteNote(person, key string) error { return t.delRaw(bNotes, noteKey(person, key)) }
