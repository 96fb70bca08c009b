package lead

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// libraryE164 is NormalizePhone without the fast path: what the library
// alone makes of s.
func libraryE164(s, region string) (string, bool) {
	n, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}

// agree fails t when the fast path reads s and the library reads it
// otherwise (or not at all). It tells whether the fast path took s.
func agree(t *testing.T, s, region string) bool {
	t.Helper()
	got, ok := fastE164(s, region)
	if !ok {
		return false
	}
	want, wantOK := libraryE164(s, region)
	if !wantOK || got != want {
		t.Errorf("fastE164(%q, %q) = %q; the library reads %q (valid %v)", s, region, got, want, wantOK)
	}
	return true
}

// spellings writes a number the ways vendors send it.
func spellings(n *phonenumbers.PhoneNumber) []string {
	e164 := phonenumbers.Format(n, phonenumbers.E164)
	intl := phonenumbers.Format(n, phonenumbers.INTERNATIONAL)
	national := phonenumbers.Format(n, phonenumbers.NATIONAL)
	nsn := phonenumbers.GetNationalSignificantNumber(n)
	return []string{
		e164, intl, national, nsn,
		strings.ReplaceAll(intl, " ", "-"), strings.ReplaceAll(intl, " ", "."),
		strings.ReplaceAll(national, " ", ""),
		"00" + e164[1:],
		fmt.Sprintf("+%d %s", n.GetCountryCode(), nsn),
		fmt.Sprintf("%d%s", n.GetCountryCode(), nsn), // the country code without a '+'
	}
}

func TestFastPhoneAgreesWithTheLibrary(t *testing.T) {
	regions := slices.Sorted(func(yield func(string) bool) {
		for r := range phonenumbers.GetSupportedRegions() {
			if !yield(r) {
				return
			}
		}
	})
	taken, tried := 0, 0
	for _, region := range regions {
		for typ := phonenumbers.FIXED_LINE; typ <= phonenumbers.VOICEMAIL; typ++ {
			ex := phonenumbers.GetExampleNumberForType(region, typ)
			if ex == nil {
				continue
			}
			for _, s := range spellings(ex) {
				if strings.HasPrefix(s, "00") {
					s = "+" + s[2:] // as NormalizePhone does
				}
				// Read in the number's own region, in another one with the
				// same rules as most, and in one with a literal prefix.
				for _, in := range []string{region, "TN", "FR", "US", "RU"} {
					tried++
					if agree(t, s, in) {
						taken++
					}
				}
			}
		}
	}
	// Random digits after every calling code and in every region: most are
	// not valid numbers, and what the fast path takes of them must still be
	// what the library makes of them.
	rng := rand.New(rand.NewPCG(20261203, 1))
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		for range 40 {
			nsn := randomDigits(rng, 4+rng.IntN(12))
			tried++
			if agree(t, fmt.Sprintf("+%d%s", cc, nsn), "TN") {
				taken++
			}
		}
	}
	for _, region := range regions {
		for range 40 {
			tried++
			if agree(t, randomDigits(rng, 4+rng.IntN(10)), region) {
				taken++
			}
		}
	}
	t.Logf("the fast path took %d of %d spellings", taken, tried)
	// The test means something only when the fast path is taken often.
	if taken < tried/10 {
		t.Fatalf("the fast path took only %d of %d spellings", taken, tried)
	}
}

func randomDigits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	return string(b)
}

func TestFastPhoneReadsTheVendorsSpellings(t *testing.T) {
	tests := []struct {
		in, region, want string
		ok               bool
	}{
		{"+21620123456", "TN", "+21620123456", true},
		{"+216 20 123 456", "FR", "+21620123456", true},
		{"20-123-456", "TN", "+21620123456", true},
		{"20.123.456", "TN", "+21620123456", true},
		{"+33 6 12 34 56 78", "TN", "+33612345678", true},
		// Left to the library: a national prefix, parentheses, a leading
		// separator, an extension, letters, the region's own country code
		// without '+', a non-geographic entity, too many digits.
		{"06 12 34 56 78", "FR", "", false},
		{"(20) 123 456", "TN", "", false},
		{"+216 (20) 123 456", "TN", "", false},
		{"+ 216 20 123 456", "TN", "", false},
		{"+216 20 123 456 ext 12", "TN", "", false},
		{"+1 800 FLOWERS", "US", "", false},
		{"21620123456", "TN", "", false},
		{"+800 1234 5678", "TN", "", false},
		{"+01 201 200 0000", "US", "", false}, // not +1: a calling code never starts with 0
		{"+216 2012345678901234567", "TN", "", false},
		{"10000000", "TN", "", false}, // not valid: the library says why
	}
	for _, tc := range tests {
		got, ok := fastE164(tc.in, tc.region)
		if ok != tc.ok || got != tc.want {
			t.Errorf("fastE164(%q, %s) = %q, %v; want %q, %v", tc.in, tc.region, got, ok, tc.want, tc.ok)
		}
		// And NormalizePhone, fast path or not, reads what the library reads.
		n, err := NormalizePhone(tc.in, tc.region)
		want, wantOK := libraryE164(tc.in, tc.region)
		if (err == nil) != wantOK || n != want {
			t.Errorf("NormalizePhone(%q, %s) = %q, %v; the library reads %q (valid %v)", tc.in, tc.region, n, err, want, wantOK)
		}
	}
}

func FuzzFastPhoneAgreesWithTheLibrary(f *testing.F) {
	for _, s := range []string{"+21620123456", "20 123 456", "+7 812 123-45-67", "8 812 123 45 67", "+1 268 460 1234", "4601234", "+39 06 1234 5678"} {
		f.Add(s, uint8(0))
	}
	regions := []string{"TN", "US", "RU", "AG", "IT", "BR", "AR", "MX", "AU", "GB", "DE", "KR", "FI", "CO", "IN", "ZZ", ""}
	f.Fuzz(func(t *testing.T, s string, r uint8) {
		agree(t, s, regions[int(r)%len(regions)])
	})
}

func BenchmarkNormalizePhone(b *testing.B) {
	for _, tc := range []struct{ name, in string }{{"national", "23001234"}, {"plus", "+216 23001234"}, {"library", "(+216) 23 001 234"}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := NormalizePhone(tc.in, "TN"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFastPhoneLeavesToTheLibraryWhatItsRulesForbid runs the fast path on
// rules made up around Tunisia's, each forbidding a valid number the real
// rules let through: with today's metadata the library's own validity check
// would catch most of these, but not with every metadata to come.
func TestFastPhoneLeavesToTheLibraryWhatItsRulesForbid(t *testing.T) {
	real := loadPhoneRules()
	tn := real.byRegion["TN"]
	if tn.cc != 216 || tn.prefix != "" || !tn.plain || !tn.iddZero {
		t.Fatalf("Tunisia's rule = %+v; want country code 216, no national prefix, plain, international prefix 00", tn)
	}
	with := func(change func(*phoneRule)) *phoneRules {
		r := tn
		change(&r)
		return &phoneRules{byRegion: map[string]phoneRule{"TN": r}, byCC: map[int32]phoneRule{216: r}, codes: map[int32]bool{216: true}}
	}
	tests := []struct {
		name   string
		rules  *phoneRules
		refuse []string // valid Tunisian numbers these rules leave to the library
	}{
		{"the real rules take both", real, nil},
		{"a national prefix 20", with(func(r *phoneRule) { r.prefix = "20" }), []string{"20123456", "+216 20 123 456"}},
		{"a prefix that is a pattern", with(func(r *phoneRule) { r.plain = false }), []string{"20123456", "+216 20 123 456"}},
		{"an international prefix not starting with 0", with(func(r *phoneRule) { r.iddZero = false }), []string{"20123456"}},
	}
	for _, tc := range tests {
		for _, s := range []string{"20123456", "+216 20 123 456"} {
			_, ok := tc.rules.e164(s, "TN")
			if want := !slices.Contains(tc.refuse, s); ok != want {
				t.Errorf("%s: e164(%q) took it = %v, want %v", tc.name, s, ok, want)
			}
		}
	}
	// A number starting with the region's own country code may be read
	// with it by the library: left to it even when valid.
	if !phonenumbers.IsValidNumber(&phonenumbers.PhoneNumber{CountryCode: &tn.cc, NationalNumber: ptr(uint64(21612345))}) {
		t.Fatal("21612345 is not a valid Tunisian number: pick another for this test")
	}
	if got, ok := real.e164("21612345", "TN"); ok {
		t.Errorf(`e164("21612345", TN) = %q: a number starting with 216 is the library's to read`, got)
	}
}

func ptr[T any](v T) *T { return &v }

// TestPhoneRulesComeFromTheMetadata: the rules fastE164 goes by, as read
// from the library's metadata for regions of each kind.
func TestPhoneRulesComeFromTheMetadata(t *testing.T) {
	rules := loadPhoneRules()
	for region, want := range map[string]phoneRule{
		"TN": {cc: 216, ccDigits: "216", prefix: "", plain: true, iddZero: true},
		"FR": {cc: 33, ccDigits: "33", prefix: "0", plain: true, iddZero: true},
		"US": {cc: 1, ccDigits: "1", prefix: "1", plain: true, iddZero: true},           // international prefix 011
		"RU": {cc: 7, ccDigits: "7", prefix: "8", plain: true, iddZero: false},          // 810
		"AU": {cc: 61, ccDigits: "61", prefix: "(183[12])|0", iddZero: false},           // a pattern; 0011 or 14xx0011
		"GB": {cc: 44, ccDigits: "44", prefix: "0|180020", plain: false, iddZero: true}, // a pattern
	} {
		if got := rules.byRegion[region]; got != want {
			t.Errorf("rule for %s = %+v, want %+v", region, got, want)
		}
	}
	if _, ok := rules.byRegion["001"]; ok {
		t.Error("the non-geographic entities (all with id 001) have a rule")
	}
	if rules.byCC[1].cc != 1 || rules.byCC[1] != rules.byRegion["US"] {
		t.Errorf("+1 is read with %+v, want the main region's (US) rule", rules.byCC[1])
	}
}

func TestStartsWithZero(t *testing.T) {
	for pattern, want := range map[string]bool{
		"00": true, "0(?:0|1[0-9])": true, "00|011": true, "0[0]1": true, "(0)0": true,
		"810": false, "8~10": false, "": false, "00|1": false, "0?0": false, "[01]0": false, "(": false,
	} {
		if got := startsWithZero(pattern); got != want {
			t.Errorf("startsWithZero(%q) = %v, want %v", pattern, got, want)
		}
	}
}

// validNumber decides as IsValidNumber does for every geographic calling
// code, on every region's example numbers of every type (valid ones), the
// same numbers one digit shorter and longer and with a digit changed (often
// invalid), and random digits; and it decides with compiled patterns, not by
// asking the library, for every one of those codes.
func TestValidNumberAgreesWithIsValidNumber(t *testing.T) {
	rules := loadPhoneRules()
	rng := rand.New(rand.NewPCG(7, 11))
	types := []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
		phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER,
		phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL}
	checked, valid := 0, 0
	check := func(cc int32, nsn string) {
		t.Helper()
		if nsn == "" || nsn[0] == '0' || len(nsn) > 17 {
			return
		}
		nn, err := strconv.ParseUint(nsn, 10, 64)
		if err != nil {
			return
		}
		want := phonenumbers.IsValidNumber(&phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nn})
		if got := rules.validNumber(cc, nsn); got != want {
			t.Errorf("+%d %s: validNumber %v, IsValidNumber %v", cc, nsn, got, want)
		}
		checked++
		if want {
			valid++
		}
	}
	for code := range phonenumbers.GetSupportedCallingCodes() {
		cc := int32(code)
		if _, geographic := rules.byCC[cc]; !geographic {
			continue
		}
		if rules.compileValidity(cc) == nil {
			t.Errorf("+%d: no compiled patterns (the library would decide)", cc)
		}
		for _, region := range phonenumbers.GetRegionCodesForCountryCode(code) {
			for _, typ := range types {
				n := phonenumbers.GetExampleNumberForType(region, typ)
				if n == nil {
					continue
				}
				nsn := phonenumbers.GetNationalSignificantNumber(n)
				check(cc, nsn)
				check(cc, nsn[:len(nsn)-1])
				check(cc, nsn+"5")
				i := rng.IntN(len(nsn))
				check(cc, nsn[:i]+strconv.Itoa(rng.IntN(10))+nsn[i+1:])
			}
		}
		for range 200 {
			n := 4 + rng.IntN(11)
			b := []byte{byte('1' + rng.IntN(9))}
			for len(b) < n {
				b = append(b, byte('0'+rng.IntN(10)))
			}
			check(cc, string(b))
		}
	}
	if valid < checked/20 || valid == checked {
		t.Errorf("%d of %d numbers valid: the cases do not test both answers", valid, checked)
	}
	t.Logf("%d numbers, %d valid", checked, valid)
}

// FuzzValidNumberAgreesWithIsValidNumber: any calling code and digits.
func FuzzValidNumberAgreesWithIsValidNumber(f *testing.F) {
	f.Add(uint16(216), uint64(20123456))
	f.Add(uint16(1), uint64(2015550123))
	f.Add(uint16(44), uint64(7400123456))
	f.Fuzz(func(t *testing.T, code uint16, nn uint64) {
		rules := loadPhoneRules()
		cc := int32(code)
		if _, geographic := rules.byCC[cc]; !geographic || nn == 0 {
			return
		}
		nsn := strconv.FormatUint(nn, 10)
		if len(nsn) > 17 {
			return
		}
		want := phonenumbers.IsValidNumber(&phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nn})
		if got := rules.validNumber(cc, nsn); got != want {
			t.Fatalf("+%d %s: validNumber %v, IsValidNumber %v", cc, nsn, got, want)
		}
	})
}

// The library's rules that its current metadata rarely puts to the test,
// on made-up regions: a number's region is the first whose leading digits
// it starts with, even where another region would take it; a type's
// possible lengths bound its pattern; mobile is not tried when its patterns
// are the fixed line's.
func TestValidNumberFollowsTheLibrarysRules(t *testing.T) {
	desc := func(pattern string, lengths ...int32) *phonenumbers.PhoneNumberDesc {
		return &phonenumbers.PhoneNumberDesc{NationalNumberPattern: &pattern, PossibleLength: lengths}
	}
	region := func(leading string, same bool, fixed, mobile *phonenumbers.PhoneNumberDesc) regionValidity {
		m := &phonenumbers.PhoneMetadata{GeneralDesc: desc(`\d{4,6}`), FixedLine: fixed, Mobile: mobile, SameMobileAndFixedLinePattern: &same}
		if leading != "" {
			m.LeadingDigits = &leading
		}
		rules := &phoneRules{meta: map[string]*phonenumbers.PhoneMetadata{"XX": m}}
		return rules.compileFor([]string{"XX"}).regions[0]
	}
	cases := []struct {
		name    string
		regions []regionValidity
		nsn     string
		want    bool
	}{
		{"the region its leading digits pick refuses it", []regionValidity{
			region("5", false, desc(`6\d{3}`), nil), region("", false, desc(`5\d{3}`), nil)}, "5123", false},
		{"no region's leading digits: the first that takes it", []regionValidity{
			region("7", false, desc(`6\d{3}`), nil), region("", false, desc(`5\d{3}`), nil)}, "5123", true},
		{"a length the type does not have", []regionValidity{region("", false, desc(`\d+`, 4), nil)}, "51234", false},
		{"a length the type has", []regionValidity{region("", false, desc(`\d+`, 4, 5), nil)}, "51234", true},
		{"mobile with the fixed line's patterns is not tried", []regionValidity{
			region("", true, desc(`5\d{3}`, 4), desc(`5\d{3,4}`))}, "51234", false},
		{"mobile tried", []regionValidity{region("", false, desc(`5\d{3}`, 4), desc(`5\d{3,4}`))}, "51234", true},
	}
	for _, c := range cases {
		v := &ccValidity{regions: c.regions}
		if got := v.valid(c.nsn); got != c.want {
			t.Errorf("%s: %s valid %v, want %v", c.name, c.nsn, got, c.want)
		}
	}
}
