package sync

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/lead"
	"github.com/leadsync/leadsync/state"
)

// benchVendorLead is a vendor lead before normalisation, shaped like the
// demo's SeedMany data: a Roborder order with a national phone, every second
// person also an AskHandle lead (email in capitals, phone with +216), every
// fourth one a chat room with two messages.
type benchVendorLead struct {
	source, id, name, email, phone, context string
	at                                      time.Time
	room                                    bool
}

func benchLeads(n int, now time.Time) [][]benchVendorLead {
	var robo, ask, rooms []benchVendorLead
	for i := range n {
		national := fmt.Sprintf("2%07d", 3000000+i)
		at := now.Add(-time.Duration(i%48) * time.Hour)
		name := fmt.Sprintf("Person%d Gen", i)
		robo = append(robo, benchVendorLead{source: "facebook", id: fmt.Sprint(1000 + i), name: name, phone: national,
			context: fmt.Sprintf("roborder Facebook page Souk Shoes (ORD-%05d)", 1000+i), at: at})
		if i%2 == 0 {
			email := fmt.Sprintf("person%d@example.tn", i)
			ask = append(ask, benchVendorLead{source: "widget", id: fmt.Sprintf("gen-%06d", i), name: name,
				email: strings.ToUpper(email), phone: "+216 " + national, context: "askhandle widget", at: at})
			if i%4 == 0 {
				rooms = append(rooms, benchVendorLead{source: "widget", id: fmt.Sprintf("room:room-gen-%06d", i), name: "Person",
					email: email, context: "askhandle chat: Question", at: at, room: true})
			}
		}
	}
	var pages [][]benchVendorLead
	for _, list := range [][]benchVendorLead{robo, ask, rooms} {
		for len(list) > 0 {
			k := min(100, len(list))
			pages = append(pages, list[:k])
			list = list[k:]
		}
	}
	return pages
}

// toRecord does what a connector does with a lead: clean and split the
// name, normalise email and phone, keep the raw JSON.
func (v *benchVendorLead) toRecord() lead.Record {
	r := lead.Record{Source: v.source, SourceID: v.id, Channel: "facebook", Context: v.context, CreatedAt: v.at}
	r.FirstName, r.LastName = lead.SplitName(lead.CleanName(v.name))
	r.AddContacts("TN", []string{v.email}, []string{v.phone})
	r.Raw = fmt.Appendf(nil, `{"id":%q,"customer_name":%q,"phone":%q,"email":%q,"platform":"Facebook","page_name":"Souk Shoes","created_at":%q}`,
		v.id, v.name, v.phone, v.email, v.at.Format(time.RFC3339))
	if v.room {
		r.Channel = "webchat"
		r.Conversations = []lead.Conversation{{ID: v.id, Channel: "webchat", Title: "Question", Messages: []lead.Message{
			{ID: v.id + "-1", Sender: lead.SenderUser, Name: "Person", Text: "Question number " + v.id, At: v.at},
			{ID: v.id + "-2", Sender: lead.SenderAgent, Text: "Answer number " + v.id, At: v.at.Add(time.Minute)},
		}}}
	}
	return r
}

// rawWrite is one change the engine made to the store: a key/value put, a
// key deleted (del), or a bucket's sequence set (setSeq: seq). Its bytes
// are spans of the capture's arena (rawPages), and it holds no pointer: the
// ~300,000 writes the benchmark keeps are no work for the garbage
// collector, whose every cycle would otherwise scan them (~64 MB live,
// ~16 ms of marking a cycle, while the engine is timed), a cost the daemon,
// which holds nothing like them, does not have.
type rawWrite struct {
	bucket, key, value span
	del, setSeq        bool
	seq                uint64
}

// span is a stretch of an arena: arena[off : off+n].
type span struct{ off, n uint32 }

// rawPages is each page's writes and the arena their bytes are in.
type rawPages struct {
	arena []byte
	pages [][]rawWrite
}

func (r *rawPages) add(b []byte) span {
	s := span{uint32(len(r.arena)), uint32(len(b))}
	r.arena = append(r.arena, b...)
	return s
}

func (r *rawPages) bytes(s span) []byte { return r.arena[s.off : s.off+s.n : s.off+s.n] }

// storeDiff takes what a page changed in a store. After each page it walks
// every bucket and compares it with what it saw after the page before, so it
// finds every key a staging transaction writes or deletes (records, their
// hashes, identities, persons, the outbox, the cursor, the meta counters,
// whatever a later change adds) and every bucket sequence it moves, without
// knowing the engine's layout. It is quadratic in the store's size, but it
// runs once, untimed.
type storeDiff struct {
	seen map[string]map[string]string // bucket -> key -> value
	seqs map[string]uint64
}

func newStoreDiff() *storeDiff {
	return &storeDiff{seen: map[string]map[string]string{}, seqs: map[string]uint64{}}
}

func (d *storeDiff) next(b *testing.B, path string, into *rawPages) []rawWrite {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var out []rawWrite
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			bn := string(name)
			old := d.seen[bn]
			now := make(map[string]string, len(old))
			if err := bk.ForEach(func(k, v []byte) error {
				if v == nil {
					b.Fatalf("capture: nested bucket %s/%q", bn, k)
				}
				// k and v point into the mapping, which is gone after Close:
				// the strings are copies.
				ks, vs := string(k), string(v)
				now[ks] = vs
				if ov, ok := old[ks]; !ok || ov != vs {
					out = append(out, rawWrite{bucket: into.add(name), key: into.add(k), value: into.add(v)})
				}
				return nil
			}); err != nil {
				return err
			}
			for k := range old {
				if _, ok := now[k]; !ok {
					out = append(out, rawWrite{bucket: into.add(name), key: into.add([]byte(k)), del: true})
				}
			}
			if s := bk.Sequence(); s != d.seqs[bn] {
				out = append(out, rawWrite{bucket: into.add(name), setSeq: true, seq: s})
				d.seqs[bn] = s
			}
			d.seen[bn] = now
			return nil
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// applyRaw writes page i's changes with plain bbolt. The writes come
// bucket by bucket (storeDiff), so each bucket is looked up, and given the
// store's page fill, once per run of writes to it, as a plain bbolt caller
// would, not once per write.
func (r *rawPages) applyRaw(tx *bolt.Tx, i int) error {
	var bk *bolt.Bucket
	var name []byte
	for _, w := range r.pages[i] {
		if n := r.bytes(w.bucket); bk == nil || !bytes.Equal(n, name) {
			name, bk = n, tx.Bucket(n)
			bk.FillPercent = state.FillPercent(n) // as the store fills its pages
		}
		var err error
		switch {
		case w.setSeq:
			err = bk.SetSequence(w.seq)
		case w.del:
			err = bk.Delete(r.bytes(w.key))
		default:
			err = bk.Put(r.bytes(w.key), r.bytes(w.value))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// benchStager is the stager both the capture and the timed runs use.
func benchStager(now time.Time) *stager {
	return &stager{surv: Survivorship{Target: "crm"}, now: func() time.Time { return now }}
}

// normalise turns a vendor page into the page a connector emits.
func normalise(vp []benchVendorLead) connectors.Page {
	recs := make([]lead.Record, len(vp))
	for j := range vp {
		recs[j] = vp[j].toRecord()
	}
	return connectors.Page{Label: "p", Records: recs, Cursor: connectors.Cursor(`{"page":1}`)}
}

// stageOne normalises one vendor page and stages it.
func stageOne(b *testing.B, s *stager, st *state.Store, vp []benchVendorLead) {
	if _, err := s.StagePage(st, vp[0].source, normalise(vp)); err != nil {
		b.Fatal(err)
	}
}

// capturePages stages the vendor pages into a fresh store at path, opening
// the store once per page, and returns what each page's transaction changed.
func capturePages(b *testing.B, path string, vendor [][]benchVendorLead, now time.Time) *rawPages {
	open := func() *state.Store {
		st, err := state.Open(path, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	open().Close()
	d := newStoreDiff()
	out := &rawPages{pages: make([][]rawWrite, len(vendor))}
	d.next(b, path, &rawPages{}) // what Open wrote: the raw file starts from it too
	s := benchStager(now)
	for i, vp := range vendor {
		st := open()
		stageOne(b, s, st, vp)
		st.Close()
		out.pages[i] = d.next(b, path, out)
	}
	return out
}

// benchChunk is how many pages one timed stretch of the engine covers
// before the raw baseline writes the same pages: 10, or
// LEADSYNC_BENCH_CHUNK. The engine's pipeline starts empty in each stretch,
// as at the start of a pull; a longer stretch shows a long pull's pace.
var benchChunk = func() int {
	n := 10
	if s := os.Getenv("LEADSYNC_BENCH_CHUNK"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
			panic("LEADSYNC_BENCH_CHUNK: want a number of pages, got " + s)
		}
	}
	return n
}()

// stagedRun is what stageAll measured over its timed stretches.
type stagedRun struct {
	spent    time.Duration
	restaged int        // pages whose speculation went stale, staged again
	cpu      cpuClasses // the process's CPU meanwhile
}

// stageAll stages the vendor pages into a fresh store at path as RunSource
// does: this goroutine normalises each page, as a source decodes it, and
// emits it to a stagePipe, which speculates it while the page before
// commits and the next page is normalised, then commits it. It times
// stretches of benchChunk pages, from the first page's normalisation to the
// last page's commit (the pipeline starts empty in each, as at the start of
// a pull), and after each calls between with the stretch's page range,
// untimed.
func stageAll(b *testing.B, path string, vendor [][]benchVendorLead, now time.Time, between func(from, to int)) stagedRun {
	st, err := state.Open(path, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s := benchStager(now)
	var run stagedRun
	for from := 0; from < len(vendor); from += benchChunk {
		to := min(from+benchChunk, len(vendor))
		cpu0 := readCPU()
		start := time.Now()
		var pipe stagePipe
		for _, vp := range vendor[from:to] {
			pp := s.prepare(vp[0].source, normalise(vp))
			var sp *speculatedPage
			spec := func(parents []*state.Overlay) *state.Overlay { sp = s.speculate(st, pp, parents); return sp.ov }
			commit := func() error {
				_, rerun, err := s.commitSpeculated(st, sp)
				if rerun {
					run.restaged++
				}
				return err
			}
			if err := pipe.emit(spec, commit); err != nil {
				b.Fatal(err)
			}
		}
		if err := pipe.wait(); err != nil {
			b.Fatal(err)
		}
		run.spent += time.Since(start)
		run.cpu.add(readCPU(), cpu0)
		if between != nil {
			between(from, to)
		}
	}
	return run
}

// cpuClasses is the time the process's Ps were busy so far, as the runtime
// accounts it (runtime/metrics): all of it and the garbage collector's
// part. It is more than CPU time: a P blocked in a system call (a commit's
// fdatasync) counts until the runtime hands it over, so engine-cpu-µs/rec
// reads higher than a CPU profile (~45 against ~30 µs per record).
type cpuClasses struct{ total, gc float64 }

func readCPU() cpuClasses {
	s := []metrics.Sample{{Name: "/cpu/classes/total:cpu-seconds"}, {Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/idle:cpu-seconds"}}
	metrics.Read(s)
	// total counts the idle Ps too: what ran is total - idle.
	return cpuClasses{total: s[0].Value.Float64() - s[2].Value.Float64(), gc: s[1].Value.Float64()}
}

func (c *cpuClasses) add(end, start cpuClasses) {
	c.total += end.total - start.total
	c.gc += end.gc - start.gc
}

// openRaw creates the baseline's file as state.Open creates a new store
// (same buckets, format and counters), and opens it with plain bbolt and
// the options state.Open uses.
func openRaw(b *testing.B, path string) *bolt.DB {
	st, err := state.Open(path, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	db, err := bolt.Open(path, 0o600, state.BoltOptions(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// sameContents fails the benchmark unless the two files hold the same
// buckets, keys, values and sequences: the baseline must have written what
// the engine wrote.
func sameContents(b *testing.B, pathA, pathB string) {
	a, bb := newStoreDiff(), newStoreDiff()
	a.next(b, pathA, &rawPages{})
	bb.next(b, pathB, &rawPages{})
	if !maps.EqualFunc(a.seen, bb.seen, maps.Equal) || !maps.Equal(a.seqs, bb.seqs) {
		b.Fatalf("the raw baseline's file differs from the engine's")
	}
}

// BenchmarkStaging stages generated vendor leads through StagePage (one
// transaction per page of 100, normalisation included, pipelined as
// RunSource does: see stageAll) and writes the same bytes with plain bbolt
// in transactions of the same pages. The two are interleaved by stretches
// of benchChunk pages (engine pages i..i+9, then raw pages i..i+9, each into
// its own fresh file), so that both see the same machine noise and the
// ratio holds on a busy machine. Metrics: engine-rec/s, raw-rec/s, ratio,
// and restaged-pages/op (pages whose speculation went stale; 0 expected: a
// single source with no push).
//
// The baseline's transactions are what the engine's changed, taken by
// comparing the store before and after each page (storeDiff): every key
// put or deleted in every bucket, meta counters and bucket sequences
// included. Its file starts as state.Open leaves a new one and is opened
// with the same bbolt options, and its buckets fill their pages as the
// store's do (state.FillPercent); after the first run the two files are
// checked to hold the same contents.
//
//	go test ./sync -run '^$' -bench Staging -benchtime 3x
//
// LEADSYNC_BENCH_PERSONS sets the persons generated (default 20000; records
// are 1.75 times that).
func BenchmarkStaging(b *testing.B) {
	// The garbage collector runs as in the daemon (TuneGC).
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if tu := tuneGC(HeapHeadroom); tu != nil {
		defer tu.stop()
	}
	n := 20000
	if s := os.Getenv("LEADSYNC_BENCH_PERSONS"); s != "" {
		fmt.Sscan(s, &n)
	}
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	vendor := benchLeads(n, now)
	records := 0
	for _, p := range vendor {
		records += len(p)
	}
	// The changes the engine makes for each page; staging is deterministic
	// (fixed clock, sequential person ids), so one capture serves every run.
	writes := capturePages(b, filepath.Join(b.TempDir(), "capture.db"), vendor, now)

	var engineT, rawT time.Duration
	var engineCPU cpuClasses
	restaged := 0
	checked := false
	for b.Loop() {
		dir := b.TempDir()
		db := openRaw(b, filepath.Join(dir, "raw.db"))
		run := stageAll(b, filepath.Join(dir, "engine.db"), vendor, now, func(from, to int) {
			start := time.Now()
			for i := from; i < to; i++ {
				if err := db.Update(func(tx *bolt.Tx) error { return writes.applyRaw(tx, i) }); err != nil {
					b.Fatal(err)
				}
			}
			rawT += time.Since(start)
		})
		engineT += run.spent
		restaged += run.restaged
		engineCPU.add(run.cpu, cpuClasses{})
		db.Close()
		if !checked {
			sameContents(b, filepath.Join(dir, "engine.db"), filepath.Join(dir, "raw.db"))
			checked = true
		}
	}
	iters := float64(b.N)
	eng := float64(records) * iters / engineT.Seconds()
	raw := float64(records) * iters / rawT.Seconds()
	b.ReportMetric(eng, "engine-rec/s")
	b.ReportMetric(raw, "raw-rec/s")
	b.ReportMetric(eng/raw, "ratio")
	b.ReportMetric(float64(restaged)/iters, "restaged-pages/op")
	b.ReportMetric(engineCPU.total*1e6/(float64(records)*iters), "engine-cpu-µs/rec")
	b.ReportMetric(engineCPU.gc*1e6/(float64(records)*iters), "engine-gc-µs/rec")
	b.ReportMetric(0, "ns/op")
}
