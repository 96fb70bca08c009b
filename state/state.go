// Package state is leadsync's bbolt store: cursors, source records,
// identities, persons, the outbox, the dead-letter queue, CRM ids, create
// intents and note ids.
//
// Every value is JSON with a "v" format version, so a later release can read
// (or refuse, with a clear message) what an earlier one wrote. Nothing secret
// is ever stored: tokens vendors issue live in memory only.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
)

// Version is the stored format version every value carries.
const Version = 1

// Bucket names.
var (
	bMeta      = []byte("meta")
	bCursors   = []byte("cursors")
	bRecords   = []byte("records")
	bIdentity  = []byte("identities")
	bPersons   = []byte("persons")
	bOutbox    = []byte("outbox")
	bDLQ       = []byte("dlq")
	bTargetIDs = []byte("target_ids")
	bIntents   = []byte("create_intents")
	bNotes     = []byte("notes")
	bConflicts = []byte("conflicts")
	allBuckets = [][]byte{bMeta, bCursors, bRecords, bIdentity, bPersons, bOutbox, bDLQ, bTargetIDs, bIntents, bNotes, bConflicts}
)

// ErrLocked is returned by Open when another process holds the store.
var ErrLocked = errors.New("state file is locked by another leadsync process")

// Store is an open state file.
type Store struct {
	db   *bolt.DB
	path string
}

// Open opens (creating if needed, mode 0600) the state file. A file held by
// another process fails after lockTimeout with ErrLocked.
func Open(path string, lockTimeout time.Duration) (*Store, error) {
	if lockTimeout <= 0 {
		lockTimeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolterr.ErrTimeout) {
			return nil, fmt.Errorf("%s: %w (is a daemon already running on it?)", path, ErrLocked)
		}
		return nil, fmt.Errorf("opening state %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		if v := meta.Get([]byte("format")); v != nil {
			if string(v) != fmt.Sprint(Version) {
				return fmt.Errorf("state format %s is not %d: this leadsync cannot read it", v, Version)
			}
			return nil
		}
		return meta.Put([]byte("format"), []byte(fmt.Sprint(Version)))
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening state %s: %w", path, err)
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Path is the file's path.
func (s *Store) Path() string { return s.path }

// Update runs fn in one read-write transaction.
func (s *Store) Update(fn func(*Tx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// View runs fn in one read-only transaction.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// Check runs bbolt's own consistency check.
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// Size is the file's size in bytes.
func (s *Store) Size() (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n, err
}

// Compact copies the store into a new file and swaps it in place of the
// old one. The store must not be in use by a daemon (Open's lock sees to it).
func Compact(path string, lockTimeout time.Duration) (before, after int64, err error) {
	src, err := Open(path, lockTimeout)
	if err != nil {
		return 0, 0, err
	}
	tmp := path + ".compact"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		src.Close()
		return 0, 0, err
	}
	before, _ = src.Size()
	if err := bolt.Compact(dst, src.db, 64<<20); err != nil {
		dst.Close()
		src.Close()
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("compacting: %w", err)
	}
	dst.Close()
	src.Close()
	if err := os.Rename(tmp, path); err != nil {
		return 0, 0, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return before, 0, err
	}
	return before, fi.Size(), nil
}

// Tx is one store transaction with typed accessors.
type Tx struct{ tx *bolt.Tx }

func (t *Tx) b(name []byte) *bolt.Bucket { return t.tx.Bucket(name) }

func (t *Tx) get(bucket []byte, key string, v any) (bool, error) {
	raw := t.b(bucket).Get([]byte(key))
	if raw == nil {
		return false, nil
	}
	if err := decode(raw, v); err != nil {
		return false, fmt.Errorf("%s/%q: %w", bucket, key, err)
	}
	return true, nil
}

func (t *Tx) put(bucket []byte, key string, v any) error {
	raw, err := encode(v)
	if err != nil {
		return err
	}
	return t.b(bucket).Put([]byte(key), raw)
}

func (t *Tx) del(bucket []byte, key string) error { return t.b(bucket).Delete([]byte(key)) }

// versioned wraps every stored value.
type versioned struct {
	V    int             `json:"v"`
	Data json.RawMessage `json:"d"`
}

func encode(v any) ([]byte, error) {
	d, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(versioned{V: Version, Data: d})
}

func decode(raw []byte, v any) error {
	var w versioned
	if err := json.Unmarshal(raw, &w); err != nil {
		return fmt.Errorf("corrupt value: %w", err)
	}
	if w.V != Version {
		return fmt.Errorf("stored format v%d, this leadsync reads v%d", w.V, Version)
	}
	return json.Unmarshal(w.Data, v)
}
