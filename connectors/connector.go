// Package connectors holds the contracts between the engine and the vendor
// connectors, and the registry the engine builds instances from without
// naming any vendor.
//
// A vendor package imports this package, connectors/httpapi and lead; never
// sync, state or another vendor package.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/leadsync/leadsync/connectors/httpapi"
	"github.com/leadsync/leadsync/lead"
)

// Cursor is a source's position, opaque to the engine: the engine stores the
// bytes a Page carries and hands them back on the next run, never reading
// them. nil means "no cursor yet": read everything the vendor gives (a
// backfill window where the vendor filters by date).
//
// A cursor is saved in the same store transaction as the records of the page
// that produced it, so a cursor is never ahead of what is stored. It may be
// reused any number of times: after a crash the engine resumes from the last
// committed cursor and the source re-reads from there (minus its overlap
// window), and the engine's content hashes make the re-read records no-ops.
type Cursor []byte

// Page is one unit of staging: the engine stores its records and its cursor
// in one transaction, or neither.
type Page struct {
	// Label names the page in errors and logs ("leads page 3", "rooms offset 200").
	Label   string
	Records []lead.Record
	// Cursor is where the next run should start once this page is stored.
	// nil keeps the previous cursor (sources that always do a full scan).
	Cursor Cursor
	// Problems are per-record errors met while decoding the page (an odd date,
	// a phone that does not parse): the page is still staged, the problems are
	// logged and counted.
	Problems []error
}

// Source reads one vendor's persons and conversations.
//
// Pull reads from cursor to the end of what the vendor has now and calls emit
// once per page, in order. It must stop and return emit's error as soon as
// emit returns one. The engine stages a page while the source fetches the
// next ones: emit may return before its page is stored, and then returns an
// earlier page's staging error, if any, at one of the next two calls (a page
// is speculated while the one before it commits); the source must
// not modify a page's records after passing it to emit. After ctx is
// cancelled it must return promptly with an error wrapping ctx.Err(); pages
// already emitted stay staged.
//
// Retries of single requests (429, 5xx, timeouts, a 401 answered by renewing
// credentials) happen inside the connector's HTTP client. An error returned
// from Pull fails this run only: the engine logs it, keeps the last staged
// cursor, and tries again at the next scheduled run. A run error must name the
// page it happened on.
type Source interface {
	Pull(ctx context.Context, cursor Cursor, emit func(Page) error) error
}

// TargetLead is a lead as the target CRM holds it.
type TargetLead struct {
	ID        string // the CRM's key (an Epixel slug)
	FirstName string
	LastName  string
	Email     string
	Phone     string
	Notes     []TargetNote
}

// TargetNote is a note already attached to a CRM lead.
type TargetNote struct {
	ID   string
	Text string
}

// Target is the CRM the engine pushes merged persons into.
//
// Every method may return a *RejectedError: a permanent refusal of this
// person (a validation error, or a rule the target knows the CRM enforces and
// checks before sending). The engine moves the person to the dead-letter queue
// with the error's reason and does not retry it until an operator replays it.
// Any other error is transient: the engine keeps the person in its outbox and
// retries later with backoff.
//
// Create is not idempotent: the engine calls it only after writing a create
// intent and after Find found no match, and never calls it twice for an
// intent without a Find in between. Implementations must not retry a create
// whose request may have reached the server.
type Target interface {
	// Find returns the CRM leads that carry this email or this phone (E.164),
	// email matches first. Either argument may be empty.
	Find(ctx context.Context, email, phone string) ([]TargetLead, error)
	// Create makes a new lead for p and returns its id.
	Create(ctx context.Context, p *lead.Person) (string, error)
	// Update writes p's fields onto the lead id.
	Update(ctx context.Context, id string, p *lead.Person) error
	// Get returns the lead id with its notes.
	Get(ctx context.Context, id string) (*TargetLead, error)
	// AddNote attaches a note (at most MaxNoteLen() characters) to the lead id.
	AddNote(ctx context.Context, id, text string) (string, error)
	// MaxNoteLen is the longest note, in characters, the target accepts.
	MaxNoteLen() int
}

// Agreer is a Target that can tell, from its own record of a lead (read
// when the target instance is polled as a source, with TargetID set), whether
// updating that lead with p would change nothing: every field Update would
// send already holds the value it would send. The engine then skips the
// update. A Target that is not an Agreer is compared on names, email, phone
// and status as they are.
type Agreer interface {
	Agrees(own *lead.Record, p *lead.Person) bool
}

// RejectedError is a permanent, per-person refusal by the target.
type RejectedError struct {
	// Reason is the CRM's own words, or the rule leadsync checked.
	Reason string
	// Fields holds field-level messages, when the CRM gave them.
	Fields map[string][]string
}

func (e *RejectedError) Error() string {
	if len(e.Fields) == 0 {
		return "rejected: " + e.Reason
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("rejected:")
	if e.Reason != "" {
		b.WriteString(" " + e.Reason + ";")
	}
	for _, k := range keys {
		fmt.Fprintf(&b, " %s: %s;", k, strings.Join(e.Fields[k], " "))
	}
	return strings.TrimSuffix(b.String(), ";")
}

// IsRejected reports whether err is, or wraps, a *RejectedError.
func IsRejected(err error) bool {
	var r *RejectedError
	return errors.As(err, &r)
}

// ErrConfig marks a run failure that retrying cannot fix (403, 404, a bad
// credential): the engine reports it as a configuration error.
var ErrConfig = errors.New("configuration error")

// Metrics is what a connector may report beyond HTTP traffic (which
// connectors/httpapi reports itself). Nil-safe use: the registry passes a
// no-op implementation when metrics are off.
type Metrics interface {
	// Gauge sets a connector-specific gauge, e.g. Netcore's bot usage.
	Gauge(name string, labels map[string]string, v float64)
}

// NopMetrics discards everything.
type NopMetrics struct{}

// Gauge implements Metrics.
func (NopMetrics) Gauge(string, map[string]string, float64) {}

// ConfigError wraps err with ErrConfig when retrying cannot fix it: the
// vendor refused the credential (a static token answered 401, or a renewed
// token still got 401), or answered 403 or 404 (a wrong key, base URL or
// path prefix). Any other error comes back unchanged.
func ConfigError(err error) error {
	if err == nil || errors.Is(err, ErrConfig) {
		return err
	}
	if errors.Is(err, httpapi.ErrCredentialRefused) || httpapi.IsStatus(err, 401, 403, 404) {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return err
}
