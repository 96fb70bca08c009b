package sync

import (
	"fmt"
	"os"
	"path/filepath"
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

// rawWrite is one key/value the engine left in the store.
type rawWrite struct {
	bucket, key, value []byte
}

// rawPages reads back, page by page, the bytes the engine wrote for each
// page: its records, their identities, the persons they touched and their
// outbox entries, and the cursor.
func rawPages(b *testing.B, path string, pages [][]lead.Record) [][]rawWrite {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	out := make([][]rawWrite, len(pages))
	err = db.View(func(tx *bolt.Tx) error {
		get := func(bucket, key string) rawWrite {
			v := tx.Bucket([]byte(bucket)).Get([]byte(key))
			if v == nil {
				b.Fatalf("capture: no %s/%q", bucket, key)
			}
			return rawWrite{[]byte(bucket), []byte(key), append([]byte(nil), v...)}
		}
		for i, recs := range pages {
			persons := map[string]bool{}
			for j := range recs {
				r := &recs[j]
				w := get("records", r.Key())
				out[i] = append(out[i], w)
				for _, k := range identityKeys(r) {
					out[i] = append(out[i], get("identities", k))
				}
				// The person id sits in the stored record's JSON.
				if p := personOf(w.value); p != "" && !persons[p] {
					persons[p] = true
					out[i] = append(out[i], get("persons", p))
					if v := tx.Bucket([]byte("outbox")).Get([]byte(p)); v != nil {
						out[i] = append(out[i], get("outbox", p))
					}
				}
			}
			out[i] = append(out[i], get("cursors", recs[0].Source))
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func personOf(v []byte) string {
	i := strings.Index(string(v), `"person":"`)
	if i < 0 {
		return ""
	}
	s := string(v[i+len(`"person":"`):])
	return s[:strings.IndexByte(s, '"')]
}

// stageAll stages the vendor pages into a fresh store at path, timing only
// the work of each page (normalisation and StagePage); between pages it
// calls between(i), untimed.
func stageAll(b *testing.B, path string, vendor [][]benchVendorLead, now time.Time, between func(i int)) ([][]lead.Record, time.Duration) {
	st, err := state.Open(path, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s := &stager{surv: Survivorship{Target: "crm"}, now: func() time.Time { return now }}
	staged := make([][]lead.Record, len(vendor))
	var spent time.Duration
	for i, vp := range vendor {
		start := time.Now()
		recs := make([]lead.Record, len(vp))
		for j := range vp {
			recs[j] = vp[j].toRecord()
		}
		if _, err := s.StagePage(st, vp[0].source, connectors.Page{Label: "p", Records: recs, Cursor: connectors.Cursor(`{"page":1}`)}); err != nil {
			b.Fatal(err)
		}
		spent += time.Since(start)
		staged[i] = recs
		if between != nil {
			between(i)
		}
	}
	return staged, spent
}

// BenchmarkStaging stages generated vendor leads through StagePage (one
// transaction per page of 100, normalisation included) and writes the same
// bytes with plain bbolt in transactions of the same pages. The two are
// interleaved page by page (engine page i, then raw page i, each into its
// own fresh file), so that both see the same machine noise and the ratio
// holds on a busy machine. Metrics: engine-rec/s, raw-rec/s, ratio.
//
//	go test ./sync -run '^$' -bench Staging -benchtime 3x
//
// LEADSYNC_BENCH_PERSONS sets the persons generated (default 20000; records
// are 1.75 times that).
func BenchmarkStaging(b *testing.B) {
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
	// The bytes the engine leaves for each page; staging is deterministic
	// (fixed clock, sequential person ids), so one capture serves every run.
	dir := b.TempDir()
	staged, _ := stageAll(b, filepath.Join(dir, "capture.db"), vendor, now, nil)
	writes := rawPages(b, filepath.Join(dir, "capture.db"), staged)

	var engineT, rawT time.Duration
	for b.Loop() {
		dir := b.TempDir()
		db, err := bolt.Open(filepath.Join(dir, "raw.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
		if err != nil {
			b.Fatal(err)
		}
		_, spent := stageAll(b, filepath.Join(dir, "engine.db"), vendor, now, func(i int) {
			start := time.Now()
			if err := db.Update(func(tx *bolt.Tx) error {
				for _, w := range writes[i] {
					bk, err := tx.CreateBucketIfNotExists(w.bucket)
					if err != nil {
						return err
					}
					if err := bk.Put(w.key, w.value); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			rawT += time.Since(start)
		})
		engineT += spent
		db.Close()
	}
	iters := float64(b.N)
	eng := float64(records) * iters / engineT.Seconds()
	raw := float64(records) * iters / rawT.Seconds()
	b.ReportMetric(eng, "engine-rec/s")
	b.ReportMetric(raw, "raw-rec/s")
	b.ReportMetric(eng/raw, "ratio")
	b.ReportMetric(0, "ns/op")
}
