package state

import (
	"errors"
	"maps"
	"slices"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Speculative transactions.
//
// bbolt has one writer, and its commit holds the writer through two
// fdatasyncs: with plain Update, the work of the next transaction cannot
// start until the previous commit returns. Speculate runs a transaction's
// function against a read-only snapshot instead, with every write kept in an
// Overlay, so that it can run while another transaction commits; Apply then
// writes the overlay's keys in a write transaction of its own, which costs
// what writing the same bytes with plain bbolt costs.
//
// The overlay is only right if what the function read is still the store's
// state when it is applied. That is decided by bbolt's own transaction ids,
// not by comparing what was read: every committed write transaction takes the
// next id, whoever wrote it (a pusher's group commit, another source's page).
// A speculation reads through its parents (overlays speculated before it and
// not yet applied when it began, newest first), then its snapshot. Apply
// accepts it only when every parent was applied as speculated and the
// commits since the snapshot are exactly those parents' applies, one after
// the other; otherwise it reports false and writes nothing, and the caller
// runs the function again in a plain Update. A speculation that would need
// what an overlay cannot give (a walk of a bucket) fails with
// ErrNotSpeculable, and so does every speculation with a failed parent:
// their overlays are void and never apply.

// ErrNotSpeculable is returned inside a speculative transaction by the
// methods that walk a bucket (they would miss the overlay's keys).
var ErrNotSpeculable = errors.New("state: a walk of a bucket is not possible in a speculative transaction")

// Overlay is the writes of one speculative transaction.
type Overlay struct {
	snap    int        // id of the snapshot: the last commit it saw
	parents []*Overlay // read through before the snapshot, newest first
	writes  map[string]map[string]ovValue
	// order is writes sorted by bucket and key, as Apply writes them: sorted
	// when the speculation ends (Speculate sets it on every overlay that is
	// not void), so that the sort is not on the commit's path (it was a
	// fifth of Apply's CPU).
	order []ovBucket
	seqs  map[string]uint64
	void  bool // the speculation failed: never applied
	// txid is the id of the transaction that applied the overlay (0: not
	// applied). Apply sets it; a later Apply of a child reads it.
	txid atomic.Int64
}

type ovValue struct {
	v   []byte
	del bool
}

// ovBucket is one bucket's writes, keys sorted.
type ovBucket struct {
	name []byte
	keys [][]byte
	vals []ovValue
}

// sorted returns the overlay's writes sorted by bucket and key.
func (o *Overlay) sorted() []ovBucket {
	out := make([]ovBucket, 0, len(o.writes))
	for _, name := range slices.Sorted(maps.Keys(o.writes)) {
		m := o.writes[name]
		ob := ovBucket{name: []byte(name), keys: make([][]byte, 0, len(m)), vals: make([]ovValue, 0, len(m))}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ob.keys = append(ob.keys, []byte(k))
			ob.vals = append(ob.vals, m[k])
		}
		out = append(out, ob)
	}
	return out
}

// Void reports whether the speculation failed (its overlay never applies).
func (o *Overlay) Void() bool { return o.void }

// Applied reports whether Apply wrote the overlay.
func (o *Overlay) Applied() bool { return o.txid.Load() > 0 }

// lookup finds key in the overlay's writes, then in its parents'.
func (o *Overlay) lookup(bucket, key []byte) ([]byte, bool) {
	if w, ok := o.writes[string(bucket)][string(key)]; ok {
		return w.value(), true
	}
	for _, p := range o.parents {
		if w, ok := p.writes[string(bucket)][string(key)]; ok {
			return w.value(), true
		}
	}
	return nil, false
}

// value is what a read of the key gives: nil when deleted, never nil when
// put (an empty value is there, as bbolt's Get tells).
func (w ovValue) value() []byte {
	if w.del {
		return nil
	}
	if w.v == nil {
		return []byte{}
	}
	return w.v
}

func (o *Overlay) set(bucket, key, v []byte, del bool) {
	m := o.writes[string(bucket)]
	if m == nil {
		m = map[string]ovValue{}
		o.writes[string(bucket)] = m
	}
	m[string(key)] = ovValue{v: v, del: del}
}

// Speculate runs fn in a speculative transaction: reads see parents'
// writes (newest first), then a snapshot of the store; writes go to the
// returned overlay, as do the persons and counters an Update would flush.
// It never fails: when fn (or the flush) fails, or a parent is void, the
// overlay is void. Values given to the transaction's writes must not alias
// the store's mapping (none do: every stored value is freshly encoded).
func (s *Store) Speculate(parents []*Overlay, fn func(*Tx) error) *Overlay {
	ov := &Overlay{parents: parents, writes: map[string]map[string]ovValue{}}
	for _, p := range parents {
		if p.void {
			ov.void = true
			return ov
		}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		ov.snap = tx.ID()
		t := s.newWriteTx(tx)
		t.dirty = map[string]struct{}{}
		t.ov = ov
		if err := fn(t); err != nil {
			return err
		}
		return t.flush()
	})
	if err != nil {
		ov.void = true
		ov.writes = nil
		return ov
	}
	ov.order = ov.sorted()
	return ov
}

// Apply writes a speculated overlay in one write transaction, running
// before (when set) last, before the commit, where an error aborts it. It
// reports false, having written nothing, when the overlay is void or no
// longer describes the store (see the package comment above).
func (s *Store) Apply(ov *Overlay, before func() error) (bool, error) {
	// Once applied or refused, the overlay no longer needs its parents (its
	// children read their own, never their parents'). Kept, they chained
	// every overlay of a pull that kept its pages in flight back to the
	// first: bench/scale's first once at 100,000 persons peaked at 60–67 MB
	// instead of 57–58 with two sources on one line (sync.stageLine).
	defer func() { ov.parents = nil }()
	if ov.void {
		return false, nil
	}
	applied := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		if !ov.current(tx.ID() - 1) {
			return nil
		}
		fillPages(tx)
		for _, ob := range ov.order {
			b := tx.Bucket(ob.name)
			for i, k := range ob.keys {
				var err error
				if w := ob.vals[i]; w.del {
					err = b.Delete(k)
				} else {
					err = b.Put(k, w.v)
				}
				if err != nil {
					return err
				}
			}
		}
		for name, n := range ov.seqs {
			if err := tx.Bucket([]byte(name)).SetSequence(n); err != nil {
				return err
			}
		}
		if before != nil {
			if err := before(); err != nil {
				return err
			}
		}
		applied = true
		ov.txid.Store(int64(tx.ID()))
		return nil
	})
	if err != nil {
		ov.txid.Store(0)
		return false, err
	}
	return applied, nil
}

// current reports whether the store, whose last commit is last, is still
// the state the overlay was speculated on: every parent applied, their
// commits consecutive and the last of all, and none of them after a commit
// the snapshot missed.
func (o *Overlay) current(last int) bool {
	if len(o.parents) == 0 {
		return last == o.snap
	}
	want := last
	for _, p := range o.parents { // newest first
		if int(p.txid.Load()) != want {
			return false
		}
		want--
	}
	// want is now the commit before the oldest parent's: the snapshot must
	// have seen it.
	return o.snap >= want
}

// --- the transaction's write and walk primitives, which a speculative
// transaction routes to its overlay (or refuses).

func (t *Tx) putRaw(bucket, key, v []byte) error {
	if t.ov != nil {
		t.ov.set(bucket, key, v, false)
		return nil
	}
	return t.b(bucket).Put(key, v)
}

func (t *Tx) delRaw(bucket, key []byte) error {
	if t.ov != nil {
		t.ov.set(bucket, key, nil, true)
		return nil
	}
	return t.b(bucket).Delete(key)
}

func (t *Tx) nextSequence(bucket []byte) (uint64, error) {
	if t.ov == nil {
		return t.b(bucket).NextSequence()
	}
	n, ok := t.ov.seqs[string(bucket)]
	for i := 0; !ok && i < len(t.ov.parents); i++ {
		n, ok = t.ov.parents[i].seqs[string(bucket)]
	}
	if !ok {
		n = t.b(bucket).Sequence()
	}
	if t.ov.seqs == nil {
		t.ov.seqs = map[string]uint64{}
	}
	n++
	t.ov.seqs[string(bucket)] = n
	return n, nil
}

func (t *Tx) forEach(bucket []byte, fn func(k, v []byte) error) error {
	if t.ov != nil {
		return ErrNotSpeculable
	}
	return t.b(bucket).ForEach(fn)
}

func (t *Tx) cursor(bucket []byte) (*bolt.Cursor, error) {
	if t.ov != nil {
		return nil, ErrNotSpeculable
	}
	return t.b(bucket).Cursor(), nil
}
