package epixeltest

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The messages are the seed's error table, word for word.
const (
	msgRequired = "This field is required."
	msgBlank    = "This field may not be blank."
	msgTooLong  = "Ensure this field has no more than 255 characters."
	msgEmail    = "Invalid email."
	msgPhone    = "Phone number must be entered in the format: '999999999'. Up to 15 digits allowed."
	msgAssignee = "Assignee not found."
)

var phoneRE = regexp.MustCompile(`^[0-9]{1,15}$`)

func runeLen(s string) int { return utf8.RuneCountInString(s) }

func blankOrRequired(in url.Values, key string) string {
	if _, ok := in[key]; ok {
		return msgBlank
	}
	return msgRequired
}

// validate applies the CRM's serializer rules to a create (every required
// field must be there) or an update (only the fields sent are checked). The
// caller holds f.mu.
func (f *Fake) validate(in url.Values, create bool) errs {
	e := errs{}
	add := func(k, msg string) { e[k] = append(e[k], msg) }
	for _, k := range []string{"first_name", "last_name", "email", "phone"} {
		v, sent := in[k]
		switch {
		case !sent:
			if create {
				add(k, msgRequired)
			}
			continue
		case strings.TrimSpace(v[0]) == "":
			add(k, msgBlank)
			continue
		case runeLen(strings.TrimSpace(v[0])) > 255:
			add(k, msgTooLong)
		}
		val := strings.TrimSpace(v[0])
		if k == "email" && !validEmail(val) {
			add(k, msgEmail)
		}
		if k == "phone" && !phoneRE.MatchString(val) {
			add(k, msgPhone)
		}
	}
	for _, k := range []string{"location", "message"} {
		if v, ok := in[k]; ok && runeLen(strings.TrimSpace(v[0])) > 255 {
			add(k, msgTooLong)
		}
	}
	if v, ok := in["status"]; ok && !slices.Contains(Statuses, strings.TrimSpace(v[0])) {
		add("status", fmt.Sprintf("%q is not a valid choice.", v[0]))
	}
	if v, ok := in["source"]; ok && !slices.Contains(f.sources, strings.TrimSpace(v[0])) {
		add("source", fmt.Sprintf("%q is not a valid choice.", v[0]))
	}
	if v, ok := in["assignee"]; ok {
		switch a := strings.TrimSpace(v[0]); {
		case a == "":
			add("assignee", msgBlank)
		case !slices.Contains(f.assignees, a):
			add("assignee", msgAssignee)
		}
	}
	return e
}

// validEmail approximates Django's EmailValidator: one plain address, a
// dotted domain, no spaces.
func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || strings.ContainsFunc(s, unicode.IsSpace) {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.HasSuffix(s, ".")
}

// apply copies the sent fields onto l, trimmed as DRF's CharField trims.
func apply(l *Lead, in url.Values) {
	set := func(k string, dst *string) {
		if v, ok := in[k]; ok {
			*dst = strings.TrimSpace(v[0])
		}
	}
	set("first_name", &l.FirstName)
	set("last_name", &l.LastName)
	set("email", &l.Email)
	set("phone", &l.Phone)
	set("status", &l.Status)
	set("source", &l.Source)
	set("location", &l.Location)
	set("message", &l.Message)
	set("assignee", &l.Assignee)
}

// newSlug makes a slug the way a Django slug field would: the name in ASCII
// lowercase words, plus a sequence number that keeps it unique. The caller
// holds f.mu.
func (f *Fake) newSlug(first, last string) string {
	f.seq++
	var b strings.Builder
	for _, r := range strings.ToLower(first + " " + last) {
		switch {
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	base := strings.Trim(b.String(), "-")
	if base == "" {
		base = "lead"
	}
	return fmt.Sprintf("%s-%04d", base, f.seq)
}
