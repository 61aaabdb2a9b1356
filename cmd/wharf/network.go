package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const networkUsage = `usage: wharf network show NAMESPACE
       wharf network set NAMESPACE [--pull CIDRS] [--push CIDRS]

A namespace's network rules: the CIDRs (or addresses), comma-separated, that
pulls and that pushes, deletes and promotions into it must come from. 'set'
replaces both lists; an empty or missing list allows every address. The
registry-wide lists are network.pull and network.push (docs/configuration.md).

Flags: --url URL (WHARF_URL), --token TOKEN (WHARF_TOKEN), --user NAME (WHARF_USER, with WHARF_PASSWORD).`

func networkCmd(args []string) error {
	return runNetwork(context.Background(), args, os.Stdout, os.Getenv)
}

func runNetwork(ctx context.Context, args []string, out io.Writer, env func(string) string) error {
	if helpRequested(args) {
		fmt.Fprintln(out, networkUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("wharf network", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	acceptJSONFlag(fs)
	client := lifecycleClient(fs, env)
	pull := fs.String("pull", "", "CIDRs pulls must come from, comma-separated")
	push := fs.String("push", "", "CIDRs pushes must come from, comma-separated")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, networkUsage)
	}
	var b json.RawMessage
	switch {
	case len(pos) == 2 && pos[0] == "show":
		b, err = client().NetworkRules(ctx, pos[1])
	case len(pos) == 2 && pos[0] == "set":
		b, err = client().SetNetworkRules(ctx, pos[1], splitList(*pull), splitList(*push))
	default:
		return errors.New(networkUsage)
	}
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	return printJSON(out, v)
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
