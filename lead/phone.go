package lead

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	gosync "sync"

	"github.com/nyaruka/phonenumbers"
)

// The common spellings of a phone number are read here without the
// library's parser, which runs a dozen regular expressions (half of its
// time goes to looking for an extension) and took ~10 µs a number, the
// largest single cost of normalising a record. fastE164 takes only what it
// can read exactly as phonenumbers.Parse does; anything else goes to the
// library (NormalizePhone), so that the two do not disagree:
//
//   - at most 250 bytes (Parse refuses more) of ASCII digits with spaces,
//     dashes or dots between them, after a '+' (not followed by 0) or
//     written in the default region. No letters, parentheses or other
//     marks, so no extension, "tel:" form, alpha number or second number
//     (Parse reads those), and normalising is dropping the separators;
//   - a national number that does not start with 0 (Parse would keep
//     leading zeros as Italian-style zeros) nor with the national prefix of
//     the region it is read in, in a region whose national prefix for parsing
//     is a plain string of digits (or none) with no transform rule (so
//     nothing else could be stripped or rewritten);
//   - written in the region: a region whose international dialling prefix
//     always starts with 0 (so a number not starting with 0 has none), and a
//     number that does not start with the region's own country code (Parse
//     may take that as the country code);
//   - and the result is valid as the library's IsValidNumber decides it
//     (validNumber: the same patterns of the same metadata, compiled once
//     and tried in an order that settles the common numbers first). An
//     invalid one goes to the library too, for its error.
//
// The rules come from the library's own metadata (MetadataCollection), read
// once. TestFastPhoneAgreesWithTheLibrary compares the two on every
// region's example numbers written in several ways and on random numbers;
// FuzzFastPhoneAgreesWithTheLibrary goes on from there.

// phoneRule is what fastE164 needs of a region's metadata.
type phoneRule struct {
	cc       int32
	ccDigits string
	// prefix is the national prefix for parsing ("" when there is none).
	prefix string
	// plain: the national prefix for parsing is a plain string of digits
	// (or none) with no transform rule.
	plain bool
	// iddZero: every international dialling prefix of the region starts
	// with 0.
	iddZero bool
}

type phoneRules struct {
	byRegion map[string]phoneRule
	// byCC holds the rule of each calling code's main region (the one
	// Parse reads a "+" number with); codes of non-geographic entities have
	// none. codes holds every calling code the library knows.
	byCC  map[int32]phoneRule
	codes map[int32]bool

	// meta is each geographic region's metadata, for validNumber, which
	// compiles what a calling code needs on its first number (validity).
	meta     map[string]*phonenumbers.PhoneMetadata
	validity gosync.Map // int32 calling code -> *ccValidity (nil: the library decides)
}

var loadPhoneRules = gosync.OnceValue(func() *phoneRules {
	r := &phoneRules{byRegion: map[string]phoneRule{}, byCC: map[int32]phoneRule{}, codes: map[int32]bool{},
		meta: map[string]*phonenumbers.PhoneMetadata{}}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return r // no rules: every number goes to the library
	}
	for _, m := range coll.GetMetadata() {
		if m.GetId() == "001" {
			continue // a non-geographic entity's (all share this id)
		}
		prefix := m.GetNationalPrefixForParsing()
		rule := phoneRule{
			cc:       m.GetCountryCode(),
			ccDigits: strconv.Itoa(int(m.GetCountryCode())),
			prefix:   prefix,
			plain:    m.GetNationalPrefixTransformRule() == "" && allDigits(prefix),
			iddZero:  startsWithZero(m.GetInternationalPrefix()),
		}
		r.byRegion[m.GetId()] = rule
		r.meta[m.GetId()] = m
	}
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		r.codes[int32(cc)] = true
		if rule, ok := r.byRegion[phonenumbers.GetRegionCodeForCountryCode(cc)]; ok {
			r.byCC[int32(cc)] = rule
		}
	}
	return r
})

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// startsWithZero tells whether every string the pattern matches starts
// with '0'. It answers false when it cannot tell (and for a pattern that
// matches the empty string).
func startsWithZero(pattern string) bool {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return false
	}
	return firstIsZero(re.Simplify())
}

func firstIsZero(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) > 0 && re.Rune[0] == '0'
	case syntax.OpCapture:
		return firstIsZero(re.Sub[0])
	case syntax.OpConcat:
		return len(re.Sub) > 0 && firstIsZero(re.Sub[0])
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if !firstIsZero(s) {
				return false
			}
		}
		return len(re.Sub) > 0
	}
	return false
}

// maxPhoneDigits bounds what fastE164 reads: a country code of up to 3
// digits and a national number of up to 17 (the library's limits).
const maxPhoneDigits = 20

// fastE164 returns s in E.164 when it can read it exactly as the library
// would, and ok false when the library must (see above). s is trimmed, with
// a leading "00" already turned into "+".
func fastE164(s, region string) (e164 string, ok bool) {
	return loadPhoneRules().e164(s, region)
}

func (rules *phoneRules) e164(s, region string) (string, bool) {
	if s == "" || len(s) > phonenumbers.MAX_INPUT_STRING_LENGTH {
		return "", false // the library refuses the longer ones
	}
	plus := s[0] == '+'
	if plus {
		s = s[1:]
	}
	var buf [maxPhoneDigits]byte
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if n == len(buf) {
				return "", false
			}
			buf[n] = c
			n++
		case c == ' ' || c == '-' || c == '.':
			if n == 0 {
				return "", false // a separator before the first digit
			}
		default:
			return "", false
		}
	}
	digits := buf[:n]
	var rule phoneRule
	var national []byte
	if plus {
		if len(digits) == 0 || digits[0] == '0' {
			return "", false // calling codes never start with 0 ("+01..." is not "+1...")
		}
		found := false
		for i := 1; i <= 3 && i < len(digits); i++ {
			cc, _ := strconv.Atoi(string(digits[:i]))
			if !rules.codes[int32(cc)] {
				continue
			}
			// Calling codes are prefix-free: this one is the number's.
			if rule, found = rules.byCC[int32(cc)]; !found {
				return "", false // a non-geographic entity's code
			}
			national = digits[i:]
			break
		}
		if !found {
			return "", false
		}
	} else {
		var known bool
		if rule, known = rules.byRegion[region]; !known || !rule.iddZero {
			return "", false
		}
		national = digits
		if len(national) >= len(rule.ccDigits) && string(national[:len(rule.ccDigits)]) == rule.ccDigits {
			return "", false
		}
	}
	if !rule.plain || len(national) < 3 || len(national) > phonenumbers.MAX_LENGTH_FOR_NSN || national[0] == '0' {
		return "", false
	}
	if rule.prefix != "" && len(national) >= len(rule.prefix) && string(national[:len(rule.prefix)]) == rule.prefix {
		return "", false
	}
	// national is its national significant number: digits, no leading zero.
	nsn := string(national)
	if !rules.validNumber(rule.cc, nsn) {
		return "", false
	}
	return "+" + rule.ccDigits + nsn, true
}

// validNumber is phonenumbers.IsValidNumber for the number nsn (its
// national significant number, no leading zero) with calling code cc, a
// geographic one. The library finds the number's region among the calling
// code's regions (by their leading digits, or else the first where the
// number has a type), then accepts it when it matches the region's general
// description and that of a number type. Each of its checks builds the
// pattern's string and looks it up in a locked cache, and matches it twice:
// that was most of the fast path's time. Here the same patterns are compiled
// once per calling code, and the types most numbers are (fixed line,
// mobile) are tried first: which type matches does not change validity.
func (rules *phoneRules) validNumber(cc int32, nsn string) bool {
	// Looked up without a lock on every number; compiled once per calling
	// code (two callers racing on a new one may both compile it).
	cached, ok := rules.validity.Load(cc)
	if !ok {
		cached, _ = rules.validity.LoadOrStore(cc, rules.compileValidity(cc))
	}
	v := cached.(*ccValidity)
	if v == nil { // rules without the metadata it needs: the library decides
		nn, err := strconv.ParseUint(nsn, 10, 64)
		return err == nil && phonenumbers.IsValidNumber(&phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nn})
	}
	return v.valid(nsn)
}

// ccValidity is what validNumber needs of a calling code: its regions, in
// the library's order.
type ccValidity struct{ regions []regionValidity }

type regionValidity struct {
	leading *regexp.Regexp // the region's leading digits (nil: none)
	general descMatcher
	types   []descMatcher // every type but mobile, fixed line first
	mobile  descMatcher
	same    bool // the same patterns for mobile and fixed line: mobile is not tried
}

// descMatcher is a number description: possible lengths (none: any) and
// the national number pattern, matched whole (nil: matches nothing, as an
// empty pattern does).
type descMatcher struct {
	lengths []int32
	re      *regexp.Regexp
}

// newDescMatcher compiles d; ok is false when its pattern does not compile.
func newDescMatcher(d *phonenumbers.PhoneNumberDesc) (m descMatcher, ok bool) {
	if d == nil || d.GetNationalNumberPattern() == "" {
		return descMatcher{}, true
	}
	re, err := regexp.Compile("^(?:" + d.GetNationalNumberPattern() + ")$")
	if err != nil {
		return descMatcher{}, false
	}
	return descMatcher{lengths: d.PossibleLength, re: re}, true
}

func (d descMatcher) match(nsn string) bool {
	if d.re == nil || len(d.lengths) > 0 && !slices.Contains(d.lengths, int32(len(nsn))) {
		return false
	}
	return d.re.MatchString(nsn)
}

// compileValidity returns nil when a region of cc has no metadata here, or
// a pattern does not compile (then the library decides).
func (rules *phoneRules) compileValidity(cc int32) *ccValidity {
	return rules.compileFor(phonenumbers.GetRegionCodesForCountryCode(int(cc)))
}

// compileFor is compileValidity for a calling code's regions.
func (rules *phoneRules) compileFor(regions []string) *ccValidity {
	v := &ccValidity{}
	for _, id := range regions {
		m, ok := rules.meta[id]
		if !ok {
			return nil
		}
		r := regionValidity{same: m.GetSameMobileAndFixedLinePattern()}
		var ok1, ok2 bool
		r.general, ok1 = newDescMatcher(m.GetGeneralDesc())
		r.mobile, ok2 = newDescMatcher(m.GetMobile())
		if !ok1 || !ok2 {
			return nil
		}
		for _, d := range []*phonenumbers.PhoneNumberDesc{m.GetFixedLine(), m.GetPremiumRate(), m.GetTollFree(), m.GetSharedCost(),
			m.GetVoip(), m.GetPersonalNumber(), m.GetPager(), m.GetUan(), m.GetVoicemail()} {
			dm, ok := newDescMatcher(d)
			if !ok {
				return nil
			}
			r.types = append(r.types, dm)
		}
		if ld := m.GetLeadingDigits(); ld != "" {
			re, err := regexp.Compile("^(?:" + ld + ")")
			if err != nil {
				return nil
			}
			r.leading = re
		}
		v.regions = append(v.regions, r)
	}
	return v
}

func (v *ccValidity) valid(nsn string) bool {
	if len(v.regions) == 1 {
		return v.regions[0].valid(nsn)
	}
	for i := range v.regions {
		r := &v.regions[i]
		if r.leading != nil {
			if r.leading.MatchString(nsn) {
				return r.valid(nsn) // the number's region
			}
		} else if r.valid(nsn) {
			return true // the number's region, where it is valid
		}
	}
	return false // no region: the library finds none, and calls it invalid
}

func (r *regionValidity) valid(nsn string) bool {
	if !r.general.match(nsn) {
		return false
	}
	for _, d := range r.types {
		if d.match(nsn) {
			return true
		}
	}
	return !r.same && r.mobile.match(nsn)
}
