package sync

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/leadsync/leadsync/connectors"
	"github.com/leadsync/leadsync/lead"
	"github.com/leadsync/leadsync/state"
)

// labelled is a generated record with the person it truly belongs to.
type labelled struct {
	rec    lead.Record
	person int
}

var messyPhone = []func(national string) string{
	func(n string) string { return n[:2] + " " + n[2:5] + " " + n[5:] },             // 20 123 456
	func(n string) string { return "+216" + n },                                     // +21620123456
	func(n string) string { return "00216 " + n },                                   // 00216 20123456
	func(n string) string { return "(+216) " + n[:2] + "-" + n[2:5] + "-" + n[5:] }, // (+216) 20-123-456
	func(n string) string { return "+216 " + n[:2] + "." + n[2:5] + "." + n[5:] },
}

var messyEmail = []func(e string) string{
	func(e string) string { return e },
	func(e string) string { return strings.ToUpper(e) },
	func(e string) string { return "  " + e + " " },
	func(e string) string { return strings.ToUpper(e[:1]) + e[1:] },
}

var vendors = []string{"facebook", "widget", "whatsapp", "chatbot"}

// generateMessy writes n persons across the vendors the way real data
// looks: one to four records each, emails in any case with stray spaces,
// Tunisian phones in five notations (with and without country code), some
// records carrying an invalid phone ("12") that must never join anyone.
// Every person has an email or a phone; a person with both has at least
// one record carrying both, so its records are linkable at all.
func generateMessy(n int, seed uint64) []labelled {
	r := rand.New(rand.NewPCG(seed, 1))
	var out []labelled
	for p := range n {
		email := fmt.Sprintf("p%05d.%c@example.tn", p, 'a'+rune(p%26))
		national := fmt.Sprintf("2%07d", 1000000+p*7)
		hasEmail, hasPhone := true, true
		switch r.IntN(5) {
		case 0:
			hasEmail = false
		case 1:
			hasPhone = false
		}
		nrec := 1 + r.IntN(4)
		for i := range nrec {
			src := vendors[r.IntN(len(vendors))]
			rec := lead.Record{Source: src, SourceID: fmt.Sprintf("%d-%d", p, i), UpdatedAt: time.Unix(int64(r.IntN(1e6)), 0)}
			rec.FirstName, rec.LastName = lead.SplitName(fmt.Sprintf("Person%d  Family%d", p, p%97))
			carryEmail, carryPhone := hasEmail, hasPhone
			if i > 0 && hasEmail && hasPhone {
				switch r.IntN(3) {
				case 0:
					carryEmail = false
				case 1:
					carryPhone = false
				}
			}
			var emails, phones []string
			if carryEmail {
				emails = append(emails, messyEmail[r.IntN(len(messyEmail))](email))
			}
			if carryPhone {
				phones = append(phones, messyPhone[r.IntN(len(messyPhone))](national))
			}
			if r.IntN(10) == 0 {
				phones = append(phones, "12")
			}
			rec.AddContacts("TN", emails, phones)
			out = append(out, labelled{rec: rec, person: p})
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// pairCounts returns, over all pairs of records, how many the engine put
// together (predicted), how many truly belong together (actual), and how
// many both.
func pairCounts(pred map[string]string, truth map[string]int) (both, predicted, actual int) {
	pairs := func(m map[[2]any]int) int {
		n := 0
		for _, c := range m {
			n += c * (c - 1) / 2
		}
		return n
	}
	pc, tc, bc := map[[2]any]int{}, map[[2]any]int{}, map[[2]any]int{}
	for k, p := range pred {
		t := truth[k]
		pc[[2]any{p, nil}]++
		tc[[2]any{t, nil}]++
		bc[[2]any{p, t}]++
	}
	return pairs(bc), pairs(pc), pairs(tc)
}

// TestMergePrecisionAndRecallOnMessyLabelledData stages thousands of
// generated persons in pages of 100 and measures "same person" against
// the labels: precision and recall must both be exactly 1.
func TestMergePrecisionAndRecallOnMessyLabelledData(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 500
	}
	data := generateMessy(n, 42)
	pred := map[string]string{}
	f := newFixture(t)
	truth := map[string]int{}
	bySource := map[string][]lead.Record{}
	for _, l := range data {
		bySource[l.rec.Source] = append(bySource[l.rec.Source], l.rec)
		truth[l.rec.Key()] = l.person
	}
	for src, recs := range bySource {
		for i := 0; i < len(recs); i += 100 {
			page := connectors.Page{Label: "page", Records: recs[i:min(i+100, len(recs))]}
			if _, err := f.stage.StagePage(f.st, src, page); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.st.View(func(tx *state.Tx) error {
		for k := range truth {
			r, ok, err := tx.Record(k)
			if err != nil || !ok {
				t.Fatalf("record %q not staged: %v", k, err)
			}
			pred[k] = r.Person
		}
		return nil
	})
	both, predicted, actual := pairCounts(pred, truth)
	precision := float64(both) / float64(max(predicted, 1))
	recall := float64(both) / float64(max(actual, 1))
	t.Logf("%d persons, %d records, %d same-person pairs: precision %.4f, recall %.4f", n, len(data), actual, precision, recall)
	if both != predicted || both != actual {
		t.Fatalf("precision %.4f (%d/%d), recall %.4f (%d/%d), want both 1", precision, both, predicted, recall, both, actual)
	}
}
