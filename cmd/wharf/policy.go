package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/wharf-dev/wharf/internal/bench"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/mgmtclient"
)

const policyUsage = `usage: wharf policy <command> [flags]

  immutable list NAMESPACE            list a namespace's immutability rules
  immutable add NAMESPACE PATTERN     make tags matching PATTERN immutable
  immutable delete NAMESPACE ID       remove a rule
  retention list                      list the retention policies you manage
  retention show ID                   show a policy
  retention add FILE                  create a policy from a JSON file (- for stdin)
  retention update ID FILE            replace a policy
  retention delete ID                 remove a policy
  retention preview ID|FILE           what a stored policy, or one in a file, would delete now
  retention run [--dry-run]           run every policy now (system administrators)
  quota list                          list every quota (system administrators)
  quota show NAMESPACE                show a namespace's quota
  quota set NAMESPACE SIZE            set a quota, e.g. 50GiB (system administrators)
  quota delete NAMESPACE              remove a quota
  image show NAMESPACE                show a namespace's image policy (what a pull must pass)
  image set NAMESPACE FILE            set it from a JSON file (- for stdin); see docs/trust.md
  image delete NAMESPACE              remove it: every rule off
  check IMAGE [--namespace NS]        why IMAGE (REPO[:TAG] or REPO@DIGEST) would be refused before it is,
                                      under its namespace's policy or NS's; exits 1 if it would be

Patterns: a glob (v*), semver, or re:EXPR; see docs/lifecycle.md. Answers are JSON,
but check's, which is text unless --json is given.
Flags: --url URL (WHARF_URL), --token TOKEN (WHARF_TOKEN), --user NAME (WHARF_USER, with WHARF_PASSWORD).`

var errPolicyUsage = errors.New(policyUsage)

// policyCmd manages immutability rules, retention policies and quotas
// through the management API.
func policyCmd(args []string) error {
	return runPolicy(context.Background(), args, os.Stdin, os.Stdout, os.Getenv)
}

// lifecycleClient adds the connection flags to fs and returns the client
// they configure once fs is parsed.
func lifecycleClient(fs *flag.FlagSet, env func(string) string) func() *mgmtclient.Client {
	url := fs.String("url", envOr(env, "WHARF_URL", "http://localhost:5000"), "server URL")
	token := fs.String("token", env("WHARF_TOKEN"), "access token")
	user := fs.String("user", env("WHARF_USER"), "user name, for Basic authentication")
	return func() *mgmtclient.Client {
		return &mgmtclient.Client{URL: *url, Token: *token, Username: *user, Password: env("WHARF_PASSWORD")}
	}
}

func runPolicy(ctx context.Context, args []string, stdin io.Reader, out io.Writer, env func(string) string) error {
	if helpRequested(args) {
		fmt.Fprintln(out, policyUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("wharf policy", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	client := lifecycleClient(fs, env)
	dryRun := fs.Bool("dry-run", false, "with retention run: report, delete nothing")
	checkNS := fs.String("namespace", "", "with check: apply this namespace's policy")
	asJSON := fs.Bool("json", false, "with check: answer in JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("%w\n%w", err, errPolicyUsage)
	}
	if len(pos) < 2 {
		return errPolicyUsage
	}
	c := client()
	if pos[0] == "check" {
		if len(pos) != 2 {
			return errPolicyUsage
		}
		return checkImage(ctx, c, pos[1], *checkNS, *asJSON, out)
	}
	cmd, rest := pos[0]+" "+pos[1], pos[2:]
	n := map[string]int{
		"immutable list": 1, "immutable add": 2, "immutable delete": 2,
		"retention list": 0, "retention show": 1, "retention add": 1, "retention update": 2,
		"retention delete": 1, "retention preview": 1, "retention run": 0,
		"quota list": 0, "quota show": 1, "quota set": 2, "quota delete": 1,
		"image show": 1, "image set": 2, "image delete": 1,
	}
	want, ok := n[cmd]
	if !ok || len(rest) != want {
		return errPolicyUsage
	}
	show := func(v any, err error) error {
		if err != nil {
			return err
		}
		return printJSON(out, v)
	}
	list := func(err error, items any) error {
		if err != nil {
			return err
		}
		return printJSON(out, map[string]any{"items": items})
	}
	done := func(err error) error {
		if err != nil {
			return err
		}
		return printJSON(out, map[string]bool{"ok": true})
	}
	switch cmd {
	case "immutable list":
		rules, err := c.ImmutabilityRules(ctx, rest[0])
		return list(err, listOf(rules).Items)
	case "immutable add":
		return show(c.AddImmutabilityRule(ctx, rest[0], rest[1]))
	case "immutable delete":
		return done(c.DeleteImmutabilityRule(ctx, rest[0], rest[1]))
	case "retention list":
		ps, err := c.RetentionPolicies(ctx)
		return list(err, listOf(ps).Items)
	case "retention show":
		return show(c.RetentionPolicy(ctx, rest[0]))
	case "retention add":
		p, err := readPolicy(rest[0], stdin)
		if err != nil {
			return err
		}
		return show(c.CreateRetentionPolicy(ctx, p))
	case "retention update":
		p, err := readPolicy(rest[1], stdin)
		if err != nil {
			return err
		}
		return show(c.UpdateRetentionPolicy(ctx, rest[0], p))
	case "retention delete":
		return done(c.DeleteRetentionPolicy(ctx, rest[0]))
	case "retention preview":
		if isID(rest[0]) {
			return show(c.PreviewRetentionPolicy(ctx, rest[0]))
		}
		p, err := readPolicy(rest[0], stdin)
		if err != nil {
			return err
		}
		return show(c.PreviewRetention(ctx, p))
	case "retention run":
		return show(c.RunRetention(ctx, *dryRun))
	case "quota list":
		qs, err := c.Quotas(ctx)
		return list(err, listOf(qs).Items)
	case "quota show":
		return show(c.Quota(ctx, rest[0]))
	case "quota set":
		size, err := bench.ParseSize(rest[1])
		if err != nil {
			return err
		}
		return show(c.SetQuota(ctx, rest[0], size))
	case "quota delete":
		return done(c.DeleteQuota(ctx, rest[0]))
	case "image show":
		return show(c.ImagePolicy(ctx, rest[0]))
	case "image set":
		b, err := readFile(rest[1], stdin)
		if err != nil {
			return err
		}
		if !json.Valid(b) {
			return fmt.Errorf("%s: not JSON", rest[1])
		}
		return show(c.SetImagePolicy(ctx, rest[0], json.RawMessage(b)))
	case "image delete":
		return done(c.DeleteImagePolicy(ctx, rest[0]))
	}
	return errPolicyUsage
}

func isID(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// readPolicy reads a policy's JSON from file, or stdin for "-", refusing
// fields a policy does not have; the server checks the rest.
func readPolicy(file string, stdin io.Reader) (mgmt.RetentionPolicy, error) {
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return mgmt.RetentionPolicy{}, err
	}
	var p mgmt.RetentionPolicy
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return mgmt.RetentionPolicy{}, fmt.Errorf("%s: not a retention policy: %w", file, err)
	}
	return p, nil
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
