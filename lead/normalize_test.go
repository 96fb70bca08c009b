package lead

import (
	"strings"
	"testing"
	"time"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"  Ali.Ben@Example.TN ", "ali.ben@example.tn", true},
		{"sara+promo@mail.fr", "sara+promo@mail.fr", true},
		{"no-at-sign", "", false},
		{"two@@x.tn", "", false},
		{"name <a@x.tn>", "", false},
		{"a@localhost", "", false},
		{"al\xffi@example.tn", "", false},
		{"al\uFFFDi@example.tn", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeEmail(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, region, want string
		ok               bool
	}{
		{"20 123 456", "TN", "+21620123456", true},
		{"+216 20-123-456", "FR", "+21620123456", true},
		{"0021620123456", "FR", "+21620123456", true},
		{"06 12 34 56 78", "FR", "+33612345678", true},
		{"(415) 555-2671", "US", "+14155552671", true},
		{"+1 415 555 2671", "TN", "+14155552671", true},
		{"12", "TN", "", false},
		{"not a phone", "TN", "", false},
		{"", "TN", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizePhone(tc.in, tc.region)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("NormalizePhone(%q, %s) = %q, %v; want %q ok=%v", tc.in, tc.region, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestPhoneErrorsDoNotRevealTheNumber(t *testing.T) {
	_, err := NormalizePhone("99999999999999999999", "TN")
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "99999999999999999999") {
		t.Fatalf("error reveals the number: %v", err)
	}
}

func TestSplitName(t *testing.T) {
	tests := []struct{ in, first, last string }{
		{"Ali Ben Salah", "Ali", "Ben Salah"},
		{"  Sara   Kefi ", "Sara", "Kefi"},
		{"Madonna", "Madonna", ""},
		{"محمد بن علي", "محمد", "بن علي"},
		{"Hélène  Dupré", "Hélène", "Dupré"},
		{"", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			f, l := SplitName(tc.in)
			if f != tc.first || l != tc.last {
				t.Fatalf("SplitName(%q) = %q, %q; want %q, %q", tc.in, f, l, tc.first, tc.last)
			}
		})
	}
}

func TestCleanNameCollapsesWhitespaceKeepsUnicode(t *testing.T) {
	if got := CleanName("  Zoé \t  d’Arc\n"); got != "Zoé d’Arc" {
		t.Fatalf("got %q", got)
	}
}

func TestAddContactsKeepsInvalidPhonesOutOfMatchKeys(t *testing.T) {
	var r Record
	errs := r.AddContacts("TN", []string{"A@X.TN", "a@x.tn", "bad"}, []string{"20123456", "+216 20 123 456", "12"})
	if len(r.Emails) != 1 || len(r.Phones) != 1 || len(r.OtherPhones) != 1 || len(errs) != 2 {
		t.Fatalf("record %+v, errs %v", r, errs)
	}
}

func TestParseTime(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	tests := []struct {
		in   string
		loc  *time.Location
		want time.Time
		ok   bool
	}{
		{"2026-11-01T10:00:00Z", nil, time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), true},
		{"2026-11-01T10:00:00.123456+01:00", nil, time.Date(2026, 11, 1, 9, 0, 0, 123456000, time.UTC), true},
		{"2026-11-01T10:00:00", nil, time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), true},
		{"2026-11-01T10:00:00", paris, time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC), true},
		{"2026-11-01 10:00:00", nil, time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), true},
		{"2026-11-01", nil, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), true},
		{"", nil, time.Time{}, true},
		{"01/11/2026", nil, time.Time{}, false},
		{"yesterday", nil, time.Time{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTime(tc.in, tc.loc)
			if (err == nil) != tc.ok || !got.Equal(tc.want) {
				t.Fatalf("ParseTime(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestMaskHidesMostOfTheValue(t *testing.T) {
	for in, want := range map[string]string{"ali.ben@example.tn": "al***@ex***.tn", "+21620123456": "+2162***56"} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"20 123 456", "+216 20-123-456", "00", "+", "٠٦١٢٣٤٥٦٧٨", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizePhone(s, "TN")
		if err == nil && (len(got) < 3 || got[0] != '+') {
			t.Fatalf("NormalizePhone(%q) = %q: not E.164", s, got)
		}
	})
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"a@x.tn", " A@X.TN ", "@", "a@b", "\xff@x.tn"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeEmail(s)
		if err == nil {
			again, err2 := NormalizeEmail(got)
			if err2 != nil || again != got {
				t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err2)
			}
		}
	})
}

func FuzzSplitName(f *testing.F) {
	for _, s := range []string{"Ali Ben", "محمد بن علي", "  ", "\xff x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last := SplitName(s)
		if CleanName(first+" "+last) != CleanName(s) {
			t.Fatalf("SplitName(%q) lost text: %q + %q", s, first, last)
		}
	})
}
