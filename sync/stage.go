package sync

import (
	"fmt"
	"slices"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/lead"
	"github.com/leadsync/leadsync/state"
)

// StageStats counts what staging one page did.
type StageStats struct {
	Records   int `json:"records"`   // records in the page
	Changed   int `json:"changed"`   // records new or changed
	Unchanged int `json:"unchanged"` // records identical to what was staged before
	Skipped   int `json:"skipped"`   // records with nothing to identify a person by
	Enqueued  int `json:"enqueued"`  // persons whose merged content changed
	Conflicts int `json:"conflicts"` // joins refused because both persons have different CRM ids
}

// stager resolves identities and stages pages. It holds no state of its
// own: everything lives in the transaction it is given.
type stager struct {
	surv     Survivorship // surv.Target names the target instance: its records are the CRM's own view
	now      func() time.Time
	conflict func(state.Conflict)
	// beforeCommit, when set, runs last in the staging transaction; an error
	// aborts it (tests use it to prove the page is all-or-nothing).
	beforeCommit func() error
}

// StagePage stores one page in ONE transaction: its records, the identity
// joins they make, every touched person recomputed (and enqueued when its
// content hash changed), and the source's advanced cursor. The cursor moves
// in the same transaction as the records so that it can never be ahead of
// what is stored: a crash before the commit re-fetches the page, a crash
// after it finds every record unchanged by hash.
func (s *stager) StagePage(st *state.Store, instance string, page connectors.Page) (StageStats, error) {
	return s.stagePrepared(st, s.prepare(instance, page))
}

// preparedPage is a page with the part of staging that needs no
// transaction done ahead: its records carry their source instance, their
// content hash and their encoding without raw payload (the hash's input,
// kept for storage). RunSource prepares page N+1 in the source's goroutine
// while page N commits in the staging one.
type preparedPage struct {
	instance string
	page     connectors.Page
	recs     []preparedRecord
}

type preparedRecord struct {
	rec  lead.Record
	hash string
	enc  []byte // state.EncodeRecordWithoutRaw(&rec); nil (it failed): PutRecord reports why
}

// prepare hashes a page's records, keeping the encoding each hash is taken
// of for storage. It needs no transaction: whether a record is unchanged is
// decided when it is staged.
func (s *stager) prepare(instance string, page connectors.Page) *preparedPage {
	pp := &preparedPage{instance: instance, page: page, recs: make([]preparedRecord, len(page.Records))}
	for i := range page.Records {
		pr := &pp.recs[i]
		pr.rec = page.Records[i]
		pr.rec.Source = instance
		pr.hash, pr.enc = recordHash(&pr.rec)
	}
	return pp
}

// pageOutcome is what staging a page's function found: its counts, and the
// conflicts to report once the page is committed (not before: a function
// may run twice, speculated then again in a plain transaction).
type pageOutcome struct {
	stats     StageStats
	conflicts []state.Conflict
}

// stagePrepared is StagePage for a prepared page, in a plain transaction.
func (s *stager) stagePrepared(st *state.Store, pp *preparedPage) (StageStats, error) {
	var out pageOutcome
	fn := s.pageFunc(pp, &out)
	err := st.Update(func(tx *state.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.beforeCommit != nil {
			return s.beforeCommit()
		}
		return nil
	})
	if err != nil {
		return out.stats, err
	}
	s.report(&out)
	return out.stats, nil
}

// speculatedPage is a page staged against a snapshot (state.Speculate),
// its writes held in ov until applied.
type speculatedPage struct {
	pp  *preparedPage
	ov  *state.Overlay
	out pageOutcome
}

// speculate stages a prepared page against a snapshot of the store read
// through parents (the overlays of the pages before it not yet committed,
// newest first), so that it runs while the page before it commits.
func (s *stager) speculate(st *state.Store, pp *preparedPage, parents []*state.Overlay) *speculatedPage {
	sp := &speculatedPage{pp: pp}
	sp.ov = st.Speculate(parents, s.pageFunc(pp, &sp.out))
	return sp
}

// commitSpeculated writes a speculated page in one transaction, or, when
// its speculation failed or the store changed under it (a push committed,
// a page before it was staged again), stages the page again in a plain
// transaction. rerun reports the second case.
func (s *stager) commitSpeculated(st *state.Store, sp *speculatedPage) (stats StageStats, rerun bool, err error) {
	applied, err := st.Apply(sp.ov, s.beforeCommit)
	if err != nil {
		return sp.out.stats, false, err
	}
	if !applied {
		stats, err := s.stagePrepared(st, sp.pp)
		return stats, true, err
	}
	s.report(&sp.out)
	return sp.out.stats, false, nil
}

func (s *stager) report(out *pageOutcome) {
	if s.conflict == nil {
		return
	}
	for _, cf := range out.conflicts {
		s.conflict(cf)
	}
}

// pageFunc is the staging transaction's function for a prepared page: its
// records, the identity joins they make, every touched person recomputed
// (and enqueued when its content hash changed), and the source's advanced
// cursor. It fills out anew each time it runs.
func (s *stager) pageFunc(pp *preparedPage, out *pageOutcome) func(*state.Tx) error {
	instance, page := pp.instance, pp.page
	return func(tx *state.Tx) error {
		*out = pageOutcome{stats: StageStats{Records: len(page.Records)}}
		stats := &out.stats
		touched := map[string]bool{}
		// As records are staged and persons recomputed, the state file's
		// pages read so far are released when they have grown over
		// releaseBudget (see there), checked at the pace releasePacer sets.
		// Only memory is at stake: a failure to release changes nothing
		// stored, and is ignored.
		release := newReleasePacer(tx).step
		var dropped []string
		for i := range pp.recs {
			release()
			if err := s.stageRecord(tx, &pp.recs[i], touched, &dropped, out); err != nil {
				return fmt.Errorf("%s: record %s: %w", page.Label, pp.recs[i].rec.SourceID, err)
			}
		}
		if err := dropIdentities(tx, dropped); err != nil {
			return err
		}
		ids := make([]string, 0, len(touched))
		for id := range touched {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			release()
			enq, err := s.recompute(tx, id)
			if err != nil {
				return err
			}
			if enq {
				stats.Enqueued++
			}
		}
		if page.Cursor != nil {
			return tx.PutCursor(instance, state.Cursor{Cursor: page.Cursor, SavedAt: s.now()})
		}
		return nil
	}
}

// identityKeys are the keys a record is found by: its contact keys and,
// for a record of the CRM itself, its CRM id.
func identityKeys(r *lead.Record) []string {
	keys := contactKeys(r)
	if r.TargetID != "" {
		keys = append(keys, targetKey(r.TargetID))
	}
	return keys
}

// contactKeys are the identity keys of a record's emails and phones.
func contactKeys(r *lead.Record) []string {
	var keys []string
	for _, e := range r.Emails {
		keys = append(keys, state.EmailKey(e))
	}
	for _, p := range r.Phones {
		keys = append(keys, state.PhoneKey(p))
	}
	return keys
}

func targetKey(id string) string { return "t:" + id }

// stageRecord stages one record: it joins the person its identity keys
// find (merging persons it bridges), or a new one. The email and phone keys
// the record's stored version gave and this one does not are added to
// dropped, for dropIdentities once the whole page is staged.
func (s *stager) stageRecord(tx *state.Tx, pr *preparedRecord, touched map[string]bool, dropped *[]string, out *pageOutcome) error {
	stats := &out.stats
	rec := pr.rec
	key := rec.Key()
	h := pr.hash
	put := func(sr state.StoredRecord) error {
		if pr.enc != nil {
			return tx.PutRecordWithoutRaw(key, sr, pr.enc)
		}
		return tx.PutRecord(key, sr)
	}
	// The hash alone decides "unchanged": most records of a full-scan source
	// are, and reading the whole stored record for each would bring every
	// record page of the state file into memory.
	oh, stored, err := tx.RecordHash(key)
	if err != nil {
		return err
	} else if stored && oh == h {
		stats.Unchanged++
		return nil
	}
	// A record without a hash is not stored (RecordHash reads the hash of
	// one staged before hashes had their own bucket): a new record is
	// not looked up twice.
	var old state.StoredRecord
	had := false
	if stored {
		if old, had, err = tx.RecordFields(key); err != nil { // only its person is read
			return err
		}
	}
	keys := identityKeys(&rec)
	if had {
		for _, k := range contactKeys(&old.Record) {
			if !slices.Contains(keys, k) {
				*dropped = append(*dropped, k)
			}
		}
	}
	if len(keys) == 0 && rec.FirstName == "" && rec.LastName == "" && len(rec.OtherPhones) == 0 {
		// A conversation nobody can be named or reached from: nothing to
		// push. It is kept (so an operator can see it) but joins no person.
		stats.Skipped++
		return put(state.StoredRecord{Hash: h, Record: rec})
	}
	stats.Changed++

	var cands []string
	if had && old.Person != "" {
		cands = append(cands, old.Person)
	}
	// unowned: the keys nobody holds. Joining moves only keys someone
	// holds, so these are still free once the record's person is known.
	var unowned []string
	for _, k := range keys {
		p := tx.Identity(k)
		if p == "" {
			unowned = append(unowned, k)
		} else if !slices.Contains(cands, p) {
			cands = append(cands, p)
		}
	}
	survivor, err := s.join(tx, key, keys, cands, touched, out)
	if err != nil {
		return err
	}
	if had && old.Person != "" && old.Person != survivor {
		if err := removeRecord(tx, old.Person, key); err != nil {
			return err
		}
		touched[old.Person] = true
	}
	p, _, err := tx.Person(survivor)
	if err != nil {
		return err
	}
	if !slices.Contains(p.Records, key) {
		p.Records = append(p.Records, key)
	}
	p.UpdatedAt = s.now()
	if err := tx.PutPerson(p); err != nil {
		return err
	}
	for _, k := range unowned {
		if err := tx.PutIdentity(k, survivor); err != nil {
			return err
		}
	}
	if rec.TargetID != "" && rec.Source == s.surv.Target && tx.TargetID(survivor) == "" {
		if err := tx.PutTargetID(survivor, rec.TargetID); err != nil {
			return err
		}
	}
	touched[survivor] = true
	return put(state.StoredRecord{Person: survivor, Hash: h, Record: rec})
}

// dropIdentities removes each email or phone key no record of the person it
// identifies gives any more (a corrected address, a changed number): kept,
// it would join whoever gives it next, a stranger, to that person. A key
// another record of the person still gives stays. A person merged from
// several records stays one person.
func dropIdentities(tx *state.Tx, keys []string) error {
	for _, k := range keys {
		owner := tx.Identity(k)
		if owner == "" {
			continue
		}
		held, err := personGives(tx, owner, k)
		if err != nil {
			return err
		}
		if !held {
			if err := tx.DeleteIdentity(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// personGives reports whether a record of the person gives contact key k
// (false for a person that is gone).
func personGives(tx *state.Tx, person, k string) (bool, error) {
	p, ok, err := tx.Person(person)
	if err != nil || !ok {
		return false, err
	}
	for _, rk := range p.Records {
		r, ok, err := tx.RecordFields(rk)
		if err != nil {
			return false, err
		}
		if ok && slices.Contains(contactKeys(&r.Record), k) {
			return true, nil
		}
	}
	return false, nil
}

// join picks the person a record belongs to among the candidates its keys
// found, merging candidates into one. Two persons that the CRM already
// knows under different ids are never merged silently: the conflict is
// recorded, counted and left for an operator.
func (s *stager) join(tx *state.Tx, recKey string, keys, cands []string, touched map[string]bool, out *pageOutcome) (string, error) {
	if len(cands) == 0 {
		id, err := tx.NewPersonID()
		if err != nil {
			return "", err
		}
		return id, tx.PutPerson(state.Person{ID: id, UpdatedAt: s.now()})
	}
	survivor := cands[0]
	for _, c := range cands {
		if tx.TargetID(c) != "" {
			survivor = c
			break
		}
	}
	slug := tx.TargetID(survivor)
	for _, c := range cands {
		if c == survivor {
			continue
		}
		if cs := tx.TargetID(c); cs != "" && slug != "" && cs != slug {
			out.stats.Conflicts++
			cf := state.Conflict{Record: recKey, Persons: []string{survivor, c}, Key: sharedKey(tx, keys, c), At: s.now()}
			if err := tx.PutConflict(cf); err != nil {
				return "", err
			}
			out.conflicts = append(out.conflicts, cf)
			continue
		}
		if err := mergeInto(tx, c, survivor); err != nil {
			return "", err
		}
		delete(touched, c)
	}
	return survivor, nil
}

func sharedKey(tx *state.Tx, keys []string, person string) string {
	for _, k := range keys {
		if tx.Identity(k) == person {
			return k
		}
	}
	return ""
}

// mergeInto moves every record, identity, note and CRM id of person from
// into person to, and deletes from.
func mergeInto(tx *state.Tx, from, to string) error {
	fp, ok, err := tx.Person(from)
	if err != nil || !ok {
		return err
	}
	tp, _, err := tx.Person(to)
	if err != nil {
		return err
	}
	for _, rk := range fp.Records {
		r, ok, err := tx.Record(rk)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		r.Person = to
		if err := tx.PutRecord(rk, r); err != nil {
			return err
		}
		for _, k := range identityKeys(&r.Record) {
			if tx.Identity(k) == from {
				if err := tx.PutIdentity(k, to); err != nil {
					return err
				}
			}
		}
		if !slices.Contains(tp.Records, rk) {
			tp.Records = append(tp.Records, rk)
		}
	}
	if slug := tx.TargetID(from); slug != "" {
		if tx.TargetID(to) == "" {
			if err := tx.PutTargetID(to, slug); err != nil {
				return err
			}
			if err := tx.PutIdentity(targetKey(slug), to); err != nil {
				return err
			}
		}
		if err := tx.DeleteTargetID(from); err != nil {
			return err
		}
	}
	if in, ok, err := tx.Intent(from); err != nil {
		return err
	} else if ok {
		// A create may be in flight for the merged-away person: the survivor
		// must look the person up before creating.
		if err := tx.PutIntent(to, in); err != nil {
			return err
		}
		if err := tx.DeleteIntent(from); err != nil {
			return err
		}
	}
	if err := tx.MoveNotes(from, to); err != nil {
		return err
	}
	if err := tx.Dequeue(from); err != nil {
		return err
	}
	if err := tx.PutPerson(tp); err != nil {
		return err
	}
	return tx.DeletePerson(from)
}

func removeRecord(tx *state.Tx, person, recKey string) error {
	p, ok, err := tx.Person(person)
	if err != nil || !ok {
		return err
	}
	// Not in place: the array is shared with the transaction's cache.
	p.Records = slices.DeleteFunc(slices.Clone(p.Records), func(k string) bool { return k == recKey })
	return tx.PutPerson(p)
}

// loadPerson reads a person's records and merges them.
func (s *stager) loadPerson(tx *state.Tx, id string) (state.Person, []lead.Record, lead.Person, bool, error) {
	p, ok, err := tx.Person(id)
	if err != nil || !ok {
		return p, nil, lead.Person{}, false, err
	}
	recs := make([]lead.Record, 0, len(p.Records))
	for _, k := range p.Records {
		r, ok, err := tx.RecordFields(k) // merging needs no raw payload
		if err != nil {
			return p, nil, lead.Person{}, false, err
		}
		if ok {
			recs = append(recs, r.Record)
		}
	}
	return p, recs, s.surv.Merge(id, recs), true, nil
}

// recompute merges a touched person and enqueues it when its content
// changed. A person known only from the target's own records is not
// enqueued: the CRM already holds exactly that.
func (s *stager) recompute(tx *state.Tx, id string) (bool, error) {
	p, recs, merged, ok, err := s.loadPerson(tx, id)
	if err != nil || !ok {
		return false, err
	}
	if len(recs) == 0 {
		return false, nil
	}
	h := contentHash(&merged, recs)
	if h == p.Hash {
		return false, nil
	}
	p.Hash = h
	if onlyFrom(recs, s.surv.Target) {
		p.PushedHash = h
		return false, tx.PutPerson(p)
	}
	if err := tx.PutPerson(p); err != nil {
		return false, err
	}
	return true, tx.Enqueue(id, s.now())
}

func onlyFrom(recs []lead.Record, instance string) bool {
	for i := range recs {
		if recs[i].Source != instance {
			return false
		}
	}
	return instance != ""
}

// releasePacer spaces staging's checks of the state file's resident growth
// (state.ResidentFileGrowth, a read of /proc/self/statm: ~3 µs; a check
// every two steps was an eighth of the staging goroutine's CPU). After each
// check it waits as many steps as, at the growth per step seen since the
// check before, would use half of what is left of releaseBudget: 1 to
// releaseMaxGap steps. Pages of the file already resident cost no check;
// scattered reads of new pages bring the checks back to every step.
type releasePacer struct {
	growth  func() (int64, bool) // growth since the last release; false: unknown
	release func()               // release the file's pages
	over    func()               // release if over the budget (growth unknown)

	n, next    int   // steps so far, and the step of the next check
	lastN      int   // step of the last check
	lastGrowth int64 // growth seen then (0 after a release)
}

// releaseMaxGap is the most steps between two checks: at the ~250 KB a step
// can map (a few scattered reads, ~100 KB each with fault-around), it bounds
// what a sudden run of new pages adds past the budget to a few MB.
const releaseMaxGap = 8

func newReleasePacer(tx *state.Tx) *releasePacer {
	p := &releasePacer{
		growth:  state.ResidentFileGrowth,
		release: func() { _ = tx.ReleaseMemory() },
		over:    func() { _, _ = tx.ReleaseMemoryOver(releaseBudget) },
		next:    releaseCheckRecords,
	}
	p.lastGrowth, _ = p.growth()
	return p
}

// step counts one record staged or person recomputed, and checks when due.
func (p *releasePacer) step() {
	if p.n++; p.n < p.next {
		return
	}
	g, ok := p.growth()
	if !ok {
		p.over()
		p.lastN, p.lastGrowth, p.next = p.n, 0, p.n+releaseCheckRecords
		return
	}
	rate := float64(g-p.lastGrowth) / float64(p.n-p.lastN)
	if g > releaseBudget {
		p.release()
		g = 0
	}
	gap := releaseMaxGap
	if rate > 0 {
		gap = max(1, min(releaseMaxGap, int(float64(releaseBudget-g)/2/rate)))
	}
	p.lastN, p.lastGrowth, p.next = p.n, g, p.n+gap
}
