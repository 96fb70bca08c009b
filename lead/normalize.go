package lead

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// NormalizeEmail trims and lowercases an address and checks its shape. It
// returns "" and an error for anything that is not a plausible address.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", errors.New("empty email")
	}
	// Invalid UTF-8 decodes to U+FFFD: two different garbled addresses
	// would become one match key, so neither is an address.
	if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
		return "", errors.New("invalid email: not valid UTF-8")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", fmt.Errorf("invalid email %q", Mask(s))
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || !strings.Contains(s[at+1:], ".") {
		return "", fmt.Errorf("invalid email %q", Mask(s))
	}
	return s, nil
}

// NormalizePhone parses a phone number written in any common way and returns
// it in E.164 ("+21620123456"). A number written without a country code is
// read in region (an ISO 3166 code such as "TN"). A number that does not
// parse, or parses but is not a valid number, is an error.
func NormalizePhone(raw, region string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("empty phone")
	}
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	region = strings.ToUpper(region)
	if e, ok := fastE164(s, region); ok {
		return e, nil
	}
	n, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", fmt.Errorf("phone %q: %w", Mask(raw), err)
	}
	if !phonenumbers.IsValidNumber(n) {
		return "", fmt.Errorf("phone %q is not a valid number", Mask(raw))
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// CleanName trims a name and collapses inner whitespace; Unicode letters and
// marks are kept as written.
func CleanName(s string) string {
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// SplitName splits a one-string name into first name (the first token) and
// last name (the rest). A single word gives an empty last name: the target
// decides what stands in for it.
func SplitName(full string) (first, last string) {
	f := strings.FieldsFunc(full, unicode.IsSpace)
	switch len(f) {
	case 0:
		return "", ""
	case 1:
		return f[0], ""
	}
	return f[0], strings.Join(f[1:], " ")
}

// AddContacts normalises raw emails and phones onto r: valid values go to
// Emails and Phones (deduplicated), phones that do not parse to OtherPhones.
// It returns the problems it met, one per bad value, for the caller to log;
// a bad contact never fails the record.
func (r *Record) AddContacts(region string, emails, phones []string) []error {
	var errs []error
	for _, e := range emails {
		if strings.TrimSpace(e) == "" {
			continue
		}
		n, err := NormalizeEmail(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.Emails = appendUnique(r.Emails, n)
	}
	for _, p := range phones {
		if strings.TrimSpace(p) == "" {
			continue
		}
		n, err := NormalizePhone(p, region)
		if err != nil {
			errs = append(errs, err)
			r.OtherPhones = appendUnique(r.OtherPhones, strings.TrimSpace(p))
			continue
		}
		r.Phones = appendUnique(r.Phones, n)
	}
	return errs
}

func appendUnique(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

// Mask hides most of an email or phone for logs: "jo***@ex***.com",
// "+2162***56". Operators see enough to tell records apart, never the value.
func Mask(s string) string {
	r := []rune(s)
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		local, domain := []rune(s[:at]), []rune(s[at+1:])
		dot := strings.LastIndexByte(string(domain), '.')
		tld := ""
		if dot >= 0 {
			tld = string(domain)[dot:]
		}
		return keep(local, 2) + "***@" + keep(domain, 2) + "***" + tld
	}
	if len(r) <= 4 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:len(r)/2-1]) + "***" + string(r[len(r)-2:])
}

func keep(r []rune, n int) string {
	if len(r) < n {
		n = len(r)
	}
	return string(r[:n])
}
