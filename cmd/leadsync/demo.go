package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/leadsync/leadsync/config"
	"github.com/leadsync/leadsync/internal/demo"
	"github.com/leadsync/leadsync/state"
	lsync "github.com/leadsync/leadsync/sync"
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := flags("demo", "leadsync demo: starts the fake vendors in-process with sample data, syncs them into the fake CRM,\nand prints the CRM's leads. Needs no account anywhere.", stderr)
	keep := fs.String("dir", "", "keep the state and config in this directory (default: a temporary one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := *keep
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	} else {
		d, err := os.MkdirTemp("", "leadsync-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	env, err := demo.Start(0, time.Now())
	if err != nil {
		return err
	}
	defer env.Close()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(env.Config(filepath.Join(dir, "leadsync.db"), "@every 5m")), 0o600); err != nil {
		return err
	}
	c, eng, st, err := openEngine(cfgPath, stderr)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer st.Close()
	fmt.Fprintf(stdout, "fake vendors on 127.0.0.1; syncing %d sources into the fake CRM (config: %s)\n\n", len(eng.Sources()), cfgPath)
	sum, err := eng.Once(ctx, "", nil)
	printSummary(stdout, sum, st)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	return printCRM(stdout, env, st, c)
}

func printCRM(w io.Writer, env *demo.Env, st *state.Store, c *config.Config) error {
	persons, err := lsync.ListPersons(st, lsync.NewSurvivorship(c))
	if err != nil {
		return err
	}
	from := map[string][]string{}
	for _, p := range persons {
		if p.TargetID != "" {
			from[p.TargetID] = p.Merged.SourceInstances
		}
	}
	leads := env.CRM.Leads()
	notes := 0
	fmt.Fprintf(w, "the fake CRM now holds %d leads:\n", len(leads))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tNAME\tEMAIL\tPHONE\tSOURCE\tMERGED FROM\tNOTES")
	for _, l := range leads {
		notes += len(l.Notes)
		origin := strings.Join(from[l.Slug], "+")
		if origin == "" {
			origin = "(typed into the CRM)"
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\t%d\n", l.Slug, l.FirstName, l.LastName, orDash(l.Email), orDash(l.Phone), orDash(l.Source), origin, len(l.Notes))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d notes in all\n", notes)
	var dlq []state.DLQEntry
	st.View(func(tx *state.Tx) error { dlq, err = tx.DLQ(); return err })
	if len(dlq) > 0 {
		fmt.Fprintf(w, "\nthe DLQ holds %d persons the CRM would refuse (leadsync dlq list):\n", len(dlq))
		for _, e := range dlq {
			fmt.Fprintf(w, "  %s  %s  %s\n", e.ID, strings.Join(append(append([]string{}, e.Emails...), e.Phones...), " "), oneLine(e.Reason))
		}
	}
	return nil
}
