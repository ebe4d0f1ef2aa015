package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"tuplebroker"
	"tuplebroker/space"
)

func spaceCommand() *cli.Command {
	with := func(extra ...cli.Flag) []cli.Flag { return append(connFlags(), extra...) }
	return &cli.Command{
		Name:  "space",
		Usage: "inspect the tuplespace",
		Description: `The tuplespace is reached through --nats, or through --data-dir: if a
broker runs on the data dir, through the URL in DIR/nats.url; if none
runs, by opening the store in-process (read the data of a stopped broker).
The connection flags may be given before or after the subcommand.`,
		Flags:           connFlags(),
		HideHelpCommand: true,
		Subcommands: hideHelp([]*cli.Command{
			{
				Name:   "count",
				Usage:  "count tuples of each kind and open transactions",
				Flags:  with(),
				Action: spaceAction(noArgs, runCount),
			},
			{
				Name:  "list",
				Usage: "list stored tuples (claimed ones included)",
				Flags: with(
					&cli.StringFlag{Name: "kind", Usage: "only tuples of this kind (" + kindList(tuplebroker.Kinds) + ")"},
					&cli.BoolFlag{Name: "json", Usage: "one JSON object per line"},
				),
				Action: spaceAction(kindArg, runList),
			},
			{
				Name:      "show",
				Usage:     "print one stored tuple as JSON",
				ArgsUsage: "KEY",
				Flags:     with(),
				Action:    spaceAction(checkShow, runShow),
			},
			{
				Name:   "watch",
				Usage:  "print tuples as they are written, as JSON lines, until interrupted",
				Flags:  with(&cli.StringFlag{Name: "kind", Usage: "only tuples of this kind (" + kindList(tuplebroker.Kinds) + ")"}),
				Action: spaceAction(kindArg, runWatch),
			},
			{
				Name:   "txns",
				Usage:  "list open transactions",
				Flags:  with(),
				Action: spaceAction(noArgs, runTxns),
			},
		}),
	}
}

// hideHelp drops the "help" subcommand urfave/cli adds to each command:
// --help does the same.
func hideHelp(cmds []*cli.Command) []*cli.Command {
	for _, c := range cmds {
		c.HideHelpCommand = true
	}
	return cmds
}

// spaceAction makes a `space` subcommand's action: check validates the
// command line before anything is opened, run then works on the open space.
func spaceAction(check func(*cli.Context) error, run func(*cli.Context, *space.Space) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if check != nil {
			if err := check(c); err != nil {
				return fmt.Errorf("space %s: %w", c.Command.Name, err)
			}
		}
		log, err := logger(c)
		if err != nil {
			return err
		}
		sp, done, err := openSpace(c, log)
		if err != nil {
			return fmt.Errorf("space %s: %w", c.Command.Name, err)
		}
		defer done()
		if err := run(c, sp); err != nil {
			return fmt.Errorf("space %s: %w", c.Command.Name, err)
		}
		return nil
	}
}

func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", c.Args().Slice())
	}
	return nil
}

func kindArg(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	_, err := parseKinds(c.String("kind"))
	return err
}

func runCount(c *cli.Context, sp *space.Space) error {
	counts := countByKind(sp)
	tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
	for _, k := range tuplebroker.Kinds {
		fmt.Fprintf(tw, "%s\t%d\n", k, counts[k])
	}
	fmt.Fprintf(tw, "txn\t%d\n", len(sp.Transactions()))
	return tw.Flush()
}

func runList(c *cli.Context, sp *space.Space) error {
	kinds, _ := parseKinds(c.String("kind"))
	var entries []space.Entry
	for _, k := range kinds {
		tmpl, _ := templateFor(k)
		entries = append(entries, sp.Entries(tmpl)...)
	}
	slices.SortFunc(entries, func(a, b space.Entry) int { return strings.Compare(a.Key, b.Key) })
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		for _, e := range entries {
			if err := enc.Encode(toJSON(e)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tREV\tEXPIRES\tCLAIMED-BY\tTUPLE")
	for _, e := range entries {
		claim := e.ClaimedBy
		if claim == "" {
			claim = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", e.Key, e.Revision, formatExpiry(e.Expires), claim, summary(e.Tuple))
	}
	return tw.Flush()
}

func checkShow(c *cli.Context) error {
	if c.NArg() > 1 && strings.HasPrefix(c.Args().Get(1), "-") {
		return errors.New("flags go before KEY")
	}
	if c.NArg() != 1 {
		return errors.New("want exactly one argument, the tuple's KEY (see `space list`)")
	}
	return nil
}

func runShow(c *cli.Context, sp *space.Space) error {
	key := c.Args().First()
	e, ok := sp.Lookup(key)
	if !ok {
		return fmt.Errorf("no tuple with key %q", key)
	}
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(toJSON(e))
}

func runWatch(c *cli.Context, sp *space.Space) error {
	kinds, _ := parseKinds(c.String("kind"))
	return watch(c.Context, sp, kinds, c.App.Writer, c.App.ErrWriter)
}

func runTxns(c *cli.Context, sp *space.Space) error {
	ids := sp.Transactions()
	slices.Sort(ids)
	for _, id := range ids {
		if _, err := fmt.Fprintln(c.App.Writer, id); err != nil {
			return err
		}
	}
	return nil
}

// watch prints each tuple of kinds written from now on as a JSON line on
// out, until ctx ends. It tells stderr once it is watching.
func watch(ctx context.Context, sp *space.Space, kinds []tuplebroker.Kind, out, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chans := make([]<-chan tuplebroker.Tuple, 0, len(kinds))
	for _, k := range kinds {
		tmpl, _ := templateFor(k)
		ch, err := sp.Notify(ctx, tmpl)
		if err != nil {
			return fmt.Errorf("watch %s: %w", k, err)
		}
		chans = append(chans, ch)
	}
	fmt.Fprintf(stderr, "watching %s (interrupt to stop)\n", kindList(kinds))

	var (
		mu     sync.Mutex
		enc    = json.NewEncoder(out)
		errOut error
		wg     sync.WaitGroup
	)
	for _, ch := range chans {
		wg.Go(func() {
			for t := range ch {
				key, _ := space.Key(t)
				mu.Lock()
				if errOut == nil {
					if errOut = enc.Encode(eventJSON{Kind: t.Kind(), Key: key, Tuple: t}); errOut != nil {
						cancel() // the reader is gone
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errOut
}

func kindList(kinds []tuplebroker.Kind) string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
