package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/leadsync/leadsync/lead"
	"github.com/leadsync/leadsync/state"
	lsync "github.com/leadsync/leadsync/sync"
)

const stateHelp = `leadsync state SUB --config FILE
  show QUERY          a person (by email, phone, person id, CRM id or instance:source_id): its source
                      records, the merged result, which record won each field, the CRM id and notes sent
  cursors             every source instance's cursor
  reset-cursor --connector NAME --yes
                      forget an instance's cursor: its next run reads everything again (backfill)
  conflicts           records that would join two persons the CRM knows under different ids,
                      and persons left with a second CRM lead (key t:SLUG of that lead)
  compact             copy the store into a new file and swap it in (daemon stopped)
  check               bbolt's consistency check`

func cmdState(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, stateHelp)
			return nil
		}
		return &exitError{2, errors.New("usage: " + strings.SplitN(stateHelp, "\n", 2)[0] + " (see --help)")}
	}
	sub := args[0]
	fs, path := flags("state "+sub, stateHelp, stderr)
	conn := fs.String("connector", "", "with reset-cursor: the instance")
	yes := fs.Bool("yes", false, "with reset-cursor: really reset")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	lockTimeout := time.Duration(c.State.LockTimeout)
	if sub == "compact" {
		before, after, err := state.Compact(c.State.Path, lockTimeout)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "compacted %s: %d -> %d bytes\n", c.State.Path, before, after)
		return nil
	}
	st, err := openStore(c)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "check":
		if err := st.Check(); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "state file consistent")
		return nil
	case "cursors":
		return st.View(func(tx *state.Tx) error {
			curs, err := tx.Cursors()
			names := make([]string, 0, len(curs))
			for n := range curs {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				fmt.Fprintf(stdout, "%s\t%s\tsaved %s\n", n, curs[n].Cursor, curs[n].SavedAt.Format(time.RFC3339))
			}
			return err
		})
	case "reset-cursor":
		if *conn == "" {
			return &exitError{2, errors.New("reset-cursor needs --connector NAME")}
		}
		if !*yes {
			return &exitError{2, fmt.Errorf("reset-cursor makes %s read everything again: add --yes", *conn)}
		}
		if err := st.Update(func(tx *state.Tx) error { return tx.DeleteCursor(*conn) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cursor of %s reset\n", *conn)
		return nil
	case "conflicts":
		return st.View(func(tx *state.Tx) error {
			cs, err := tx.Conflicts()
			for _, cf := range cs {
				fmt.Fprintf(stdout, "%s\trecord=%s\tpersons=%s\tkey=%s\n", cf.At.Format(time.RFC3339),
					strings.ReplaceAll(cf.Record, "\x00", ":"), strings.Join(cf.Persons, ","), cf.Key)
			}
			return err
		})
	case "show":
		if len(pos) != 1 {
			return &exitError{2, errors.New("show needs one QUERY (email, phone, person id, CRM id or instance:source_id)")}
		}
		v, err := lsync.ShowPerson(st, lsync.NewSurvivorship(c), c.DefaultRegion, pos[0])
		if err != nil {
			return err
		}
		printPerson(stdout, v)
		return nil
	}
	return &exitError{2, fmt.Errorf("unknown state command %q (see --help)", sub)}
}

func printPerson(w io.Writer, v *lsync.PersonView) {
	m := v.Merged
	fmt.Fprintf(w, "person %s  CRM id: %s\n", m.ID, orDash(v.TargetID))
	fmt.Fprintln(w, "merged:")
	field := func(name, val string) {
		fmt.Fprintf(w, "  %-11s %-40s from %s\n", name, orDash(val), orDash(m.Won[name]))
	}
	field("first_name", m.FirstName)
	field("last_name", m.LastName)
	field("email", m.Email())
	field("phone", m.Phone())
	field("status", m.Status)
	fmt.Fprintf(w, "  %-11s %s\n", "emails", strings.Join(m.Emails, ", "))
	fmt.Fprintf(w, "  %-11s %s\n", "phones", strings.Join(m.Phones, ", "))
	fmt.Fprintf(w, "  %-11s %s\n", "channels", strings.Join(m.Channels, ", "))
	fmt.Fprintln(w, "source records:")
	for _, r := range v.Records {
		b, _ := json.Marshal(struct {
			First, Last   string
			Emails        []string
			Phones, Other []string
			Updated       time.Time
			Messages      int
		}{r.FirstName, r.LastName, r.Emails, r.Phones, r.OtherPhones, r.UpdatedAt, countMessages(r)})
		fmt.Fprintf(w, "  %s:%s %s\n", r.Source, r.SourceID, b)
	}
	sent := 0
	for k := range v.Notes {
		if strings.HasPrefix(k, "m:") && !strings.Contains(k, "\x00part") {
			sent++
		}
	}
	fmt.Fprintf(w, "notes: %d messages written to the CRM\n", sent)
	if v.Outbox != nil {
		fmt.Fprintf(w, "outbox: attempts %d, next %s, last error %s\n", v.Outbox.Attempts, v.Outbox.NextAt.Format(time.RFC3339), orDash(v.Outbox.LastError))
	}
	fmt.Fprintf(w, "pushed: %v\n", v.Person.PushedHash == v.Person.Hash)
}

func countMessages(r lead.Record) int {
	n := 0
	for _, c := range r.Conversations {
		n += len(c.Messages)
	}
	return n
}
