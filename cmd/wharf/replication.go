package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/bench"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/mgmtclient"
	"github.com/wharf-dev/wharf/internal/policy"
)

const replicationUsage = `usage: wharf replication <command> [flags]

  list                     list the rules
  show ID                  show a rule (never its password)
  add [RULE FLAGS]         create a rule from the flags below, or --file FILE (JSON, - for stdin)
  update ID [RULE FLAGS]   replace a rule; a password not given again is kept
  delete ID                remove a rule, its runs and their logs
  enable ID | disable ID   turn a rule's triggers and runs on or off
  run ID [--wait]          run the whole rule now; --wait follows it to the end and prints its log
  runs [ID] [--n N]        list runs (of rule ID), newest first
  status RUN               show a run: state, totals, error
  log RUN                  show a run's log: a line per artifact, and why

rule flags:
  --name NAME --push|--pull --remote URL [--username NAME --password-stdin] [--ca-file PEM]
  --repo GLOB...           source repositories: * within a path component, ** across ("team/**")
  --exclude-repo GLOB...   minus these
  --tag PATTERN...         tags: a glob (v*), semver, semver:RANGE (semver:>=1.25 <2) or re:EXPR; none selects all
  --exclude-tag PATTERN... minus these
  --map FROM=TO...         rename: the longest matching FROM prefix becomes TO (FROM empty: every repository)
  --on-event               run on every change to a selected repository (push rules)
  --schedule DURATION      run the whole rule this often (1h, 1d)
  --deletes                propagate deletions
  --concurrency N --bandwidth SIZE (bytes/s, e.g. 50MiB) --chunk-size SIZE --disabled

Answers are JSON. See docs/replication.md.
Flags: --url URL (WHARF_URL), --token TOKEN (WHARF_TOKEN), --user NAME (WHARF_USER, with WHARF_PASSWORD).`

var errReplicationUsage = errors.New(replicationUsage)

// replicationCmd manages replication rules and runs through the management
// API.
func replicationCmd(args []string) error {
	return runReplication(context.Background(), args, os.Stdin, os.Stdout, os.Getenv)
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

// ruleFlags are the flags that describe a rule.
type ruleFlags struct {
	file, name, remote, username, caFile, schedule, bandwidth, chunk string
	push, pull, passwordStdin, onEvent, deletes, disabled            bool
	concurrency                                                      int
	repos, notRepos, tags, notTags, maps                             list
}

func (f *ruleFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.file, "file", "", "the rule as JSON (- for stdin)")
	fs.StringVar(&f.name, "name", "", "rule name")
	fs.BoolVar(&f.push, "push", false, "copy from here to the remote registry")
	fs.BoolVar(&f.pull, "pull", false, "copy from the remote registry into here")
	fs.StringVar(&f.remote, "remote", "", "remote registry URL")
	fs.StringVar(&f.username, "username", "", "remote user name")
	fs.BoolVar(&f.passwordStdin, "password-stdin", false, "read the remote password or token from stdin")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM certificate authority of the remote")
	fs.Var(&f.repos, "repo", "source repository glob (repeat)")
	fs.Var(&f.notRepos, "exclude-repo", "repository glob to leave out (repeat)")
	fs.Var(&f.tags, "tag", "tag pattern (repeat)")
	fs.Var(&f.notTags, "exclude-tag", "tag pattern to leave out (repeat)")
	fs.Var(&f.maps, "map", "FROM=TO repository mapping (repeat)")
	fs.BoolVar(&f.onEvent, "on-event", false, "run on events")
	fs.StringVar(&f.schedule, "schedule", "", "run this often")
	fs.BoolVar(&f.deletes, "deletes", false, "propagate deletions")
	fs.IntVar(&f.concurrency, "concurrency", 0, "copies at once")
	fs.StringVar(&f.bandwidth, "bandwidth", "", "bytes per second")
	fs.StringVar(&f.chunk, "chunk-size", "", "chunk size of big blobs")
	fs.BoolVar(&f.disabled, "disabled", false, "create the rule turned off")
}

// rule builds the rule the flags describe.
func (f *ruleFlags) rule(stdin io.Reader) (mgmt.ReplicationRulePut, error) {
	var in mgmt.ReplicationRulePut
	if f.file != "" {
		b, err := readFileOrStdin(f.file, stdin)
		if err != nil {
			return in, err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return in, fmt.Errorf("%s: not a replication rule: %w", f.file, err)
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&in.Name, f.name)
	set(&in.Remote.URL, f.remote)
	set(&in.Remote.Username, f.username)
	switch {
	case f.push && f.pull:
		return in, errors.New("--push and --pull: choose one")
	case f.push:
		in.Direction = "push"
	case f.pull:
		in.Direction = "pull"
	}
	if f.caFile != "" {
		b, err := os.ReadFile(f.caFile)
		if err != nil {
			return in, err
		}
		in.Remote.CACert = string(b)
	}
	if f.passwordStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return in, fmt.Errorf("read the password from stdin: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		in.Remote.Password = &pw
	}
	in.Repos = append(in.Repos, f.repos...)
	in.NotRepos = append(in.NotRepos, f.notRepos...)
	in.Tags = append(in.Tags, f.tags...)
	in.NotTags = append(in.NotTags, f.notTags...)
	for _, m := range f.maps {
		from, to, ok := strings.Cut(m, "=")
		if !ok {
			return in, fmt.Errorf("--map %q: want FROM=TO", m)
		}
		in.Mappings = append(in.Mappings, mgmt.ReplicationMapping{From: from, To: to})
	}
	if f.onEvent {
		in.Trigger.OnEvent = true
	}
	if f.schedule != "" {
		d, err := policy.ParseDuration(f.schedule)
		if err != nil {
			return in, fmt.Errorf("--schedule: %w", err)
		}
		in.Trigger.Schedule = d
	}
	in.Deletes = in.Deletes || f.deletes
	if f.concurrency != 0 {
		in.Conc = f.concurrency
	}
	for _, s := range []struct {
		flag, v string
		dst     *int64
	}{{"--bandwidth", strings.TrimSuffix(f.bandwidth, "/s"), &in.Bandwidth}, {"--chunk-size", f.chunk, &in.Chunk}} {
		if s.v == "" {
			continue
		}
		n, err := bench.ParseSize(s.v)
		if err != nil {
			return in, fmt.Errorf("%s: %w", s.flag, err)
		}
		*s.dst = n
	}
	if f.disabled {
		off := false
		in.Enabled = &off
	}
	return in, nil
}

// putOf is a stored rule as a body that replaces it unchanged (its
// password is kept by leaving it out).
func putOf(r mgmt.ReplicationRule) mgmt.ReplicationRulePut {
	enabled := r.Enabled
	return mgmt.ReplicationRulePut{Name: r.Name, Enabled: &enabled, Direction: r.Direction,
		Remote: mgmt.ReplicationRemotePut{URL: r.Remote.URL, Username: r.Remote.Username, CACert: r.Remote.CACert},
		Repos:  r.Repositories, NotRepos: r.ExcludeRepositories, Tags: r.Tags, NotTags: r.ExcludeTags, Mappings: r.Mappings,
		Trigger: r.Trigger, Deletes: r.Deletes, Conc: r.Concurrency, Bandwidth: r.BandwidthLimit, Chunk: r.ChunkSize}
}

func runReplication(ctx context.Context, args []string, stdin io.Reader, out io.Writer, env func(string) string) error {
	if helpRequested(args) {
		fmt.Fprintln(out, replicationUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("wharf replication", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	acceptJSONFlag(fs)
	client := lifecycleClient(fs, env)
	var rf ruleFlags
	rf.add(fs)
	wait := fs.Bool("wait", false, "with run: wait for the run to end")
	n := fs.Int("n", 20, "with runs: how many")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("%w\n%w", err, errReplicationUsage)
	}
	if len(pos) == 0 {
		return errReplicationUsage
	}
	c := client()
	cmd, rest := pos[0], pos[1:]
	arity := map[string][2]int{"list": {0, 0}, "show": {1, 1}, "add": {0, 0}, "update": {1, 1}, "delete": {1, 1},
		"enable": {1, 1}, "disable": {1, 1}, "run": {1, 1}, "runs": {0, 1}, "status": {1, 1}, "log": {1, 1}}
	a, ok := arity[cmd]
	if !ok || len(rest) < a[0] || len(rest) > a[1] {
		return errReplicationUsage
	}
	show := func(v any, err error) error {
		if err != nil {
			return err
		}
		return printJSON(out, v)
	}
	switch cmd {
	case "list":
		rules, err := c.ReplicationRules(ctx)
		return show(listOf(rules), err)
	case "show":
		return show(c.ReplicationRule(ctx, rest[0]))
	case "add":
		in, err := rf.rule(stdin)
		if err != nil {
			return err
		}
		return show(c.CreateReplicationRule(ctx, in))
	case "update":
		if rf.file == "" {
			old, err := c.ReplicationRule(ctx, rest[0])
			if err != nil {
				return err
			}
			// the flags given change the stored rule; lists given replace its lists
			base := putOf(old)
			in, err := rf.rule(stdin)
			if err != nil {
				return err
			}
			return show(c.UpdateReplicationRule(ctx, rest[0], merge(base, in, fs)))
		}
		in, err := rf.rule(stdin)
		if err != nil {
			return err
		}
		return show(c.UpdateReplicationRule(ctx, rest[0], in))
	case "delete":
		if err := c.DeleteReplicationRule(ctx, rest[0]); err != nil {
			return err
		}
		return printJSON(out, map[string]bool{"ok": true})
	case "enable", "disable":
		old, err := c.ReplicationRule(ctx, rest[0])
		if err != nil {
			return err
		}
		in := putOf(old)
		on := cmd == "enable"
		in.Enabled = &on
		return show(c.UpdateReplicationRule(ctx, rest[0], in))
	case "run":
		run, err := c.RunReplicationRule(ctx, rest[0])
		if err != nil || !*wait {
			return show(run, err)
		}
		return waitRun(ctx, c, strconv.FormatInt(run.ID, 10), out)
	case "runs":
		rule := ""
		if len(rest) == 1 {
			rule = rest[0]
		}
		runs, err := c.ReplicationRuns(ctx, rule, *n)
		return show(listOf(runs), err)
	case "status":
		return show(c.ReplicationRun(ctx, rest[0]))
	case "log":
		lines, err := c.ReplicationLog(ctx, rest[0])
		return show(listOf(lines), err)
	}
	return errReplicationUsage
}

// merge lays the rule flags given on the command line over base.
func merge(base, in mgmt.ReplicationRulePut, fs *flag.FlagSet) mgmt.ReplicationRulePut {
	out := base
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			out.Name = in.Name
		case "push", "pull":
			out.Direction = in.Direction
		case "remote":
			out.Remote.URL = in.Remote.URL
		case "username":
			out.Remote.Username = in.Remote.Username
		case "password-stdin":
			out.Remote.Password = in.Remote.Password
		case "ca-file":
			out.Remote.CACert = in.Remote.CACert
		case "repo":
			out.Repos = in.Repos
		case "exclude-repo":
			out.NotRepos = in.NotRepos
		case "tag":
			out.Tags = in.Tags
		case "exclude-tag":
			out.NotTags = in.NotTags
		case "map":
			out.Mappings = in.Mappings
		case "on-event":
			out.Trigger.OnEvent = in.Trigger.OnEvent
		case "schedule":
			out.Trigger.Schedule = in.Trigger.Schedule
		case "deletes":
			out.Deletes = in.Deletes
		case "concurrency":
			out.Conc = in.Conc
		case "bandwidth":
			out.Bandwidth = in.Bandwidth
		case "chunk-size":
			out.Chunk = in.Chunk
		case "disabled":
			out.Enabled = in.Enabled
		}
	})
	return out
}

// waitRun follows run id until it ends and prints it with its log; a run
// that did not succeed is an error, for scripts.
func waitRun(ctx context.Context, c *mgmtclient.Client, id string, out io.Writer) error {
	for {
		run, err := c.ReplicationRun(ctx, id)
		if err != nil {
			return err
		}
		if run.State != "queued" && run.State != "running" {
			lines, err := c.ReplicationLog(ctx, id)
			if err != nil {
				return err
			}
			if err := printJSON(out, map[string]any{"run": run, "log": lines}); err != nil {
				return err
			}
			if run.State != "succeeded" {
				return fmt.Errorf("run %s %s: %s", id, run.State, run.Error)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// readFileOrStdin reads file, or stdin for "-".
func readFileOrStdin(file string, stdin io.Reader) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(file)
}
