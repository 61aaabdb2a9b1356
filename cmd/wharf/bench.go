package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/bench"
)

// benchCmd measures a registry, wharf or any other, through the OCI
// distribution HTTP API and prints a table (or JSON) of the results.
func benchCmd(args []string) error {
	fs := newFlagSet("bench", "[flags]", "Measure a registry, wharf or any other, through the OCI distribution API (docs/performance.md).")
	opts := bench.Options{Size: 1 << 30, Log: os.Stderr}
	var only string
	var asJSON bool
	fs.StringVar(&opts.URL, "url", "http://127.0.0.1:5000", "registry base `URL`; a comma-separated list of replicas is used round-robin")
	pids := func(to *[]int) func(string) error {
		return func(s string) error {
			for _, f := range strings.Split(s, ",") {
				pid, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || pid <= 0 {
					return fmt.Errorf("not a process id: %q", f)
				}
				*to = append(*to, pid)
			}
			return nil
		}
	}
	fs.Func("pid", "server process `ids`, comma-separated (one per replica), to report their CPU seconds per scenario (Linux /proc)", pids(&opts.PIDs))
	fs.Func("scan-on-push-pid", "process `ids` of the --scan-on-push-url wharf, comma-separated, to report their CPU seconds in the scan-push scenario", pids(&opts.ScanOnPushPIDs))
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	fs.Func("size", "big blob `size` for push and pull, such as 256MiB (default 1GiB)", func(s string) error {
		n, err := bench.ParseSize(s)
		opts.Size = n
		return err
	})
	fs.DurationVar(&opts.Duration, "duration", 5*time.Second, "length of each request-rate measurement")
	fs.StringVar(&only, "only", "", "comma-separated `scenarios` to run: "+strings.Join(bench.ScenarioNames(), ", "))
	fs.StringVar(&opts.RepoPrefix, "repo-prefix", "bench", "first path component of the repositories the benchmark writes")
	fs.StringVar(&opts.Username, "username", "", "basic auth user name")
	fs.StringVar(&opts.Password, "password", "", "basic auth password")
	fs.StringVar(&opts.GCCommand, "gc-command", "", "shell `command` that runs one garbage collection and prints its JSON report, e.g. \"wharf gc --json --config wharf.yaml\"; the gc scenario runs only with it")
	fs.StringVar(&opts.ReplicateTo, "replicate-to", "", "base `URL` of a registry the replicate scenario copies an image of --size to, from the wharf under test (whose --username must be a system administrator); the scenario runs only with it")
	fs.StringVar(&opts.ReplicateUsername, "replicate-username", "", "user name at the --replicate-to registry")
	fs.StringVar(&opts.ReplicatePassword, "replicate-password", "", "password at the --replicate-to registry")
	fs.StringVar(&opts.ScanOnPushURL, "scan-on-push-url", "", "base `URL` of a second wharf like the one under test but with scanning.onPush; the scan-push scenario compares their push rates (waiting for its scan backlog, wharf_scan_backlog, to drain before each window), and runs only with it")
	fs.DurationVar(&opts.GCWait, "gc-wait", 2*time.Second, "how long the gc scenario waits for its garbage to become due (the server's gc.unreferencedGrace)")
	fs.StringVar(&opts.UpstreamURL, "upstream-url", "", "base `URL` of the registry that --proxy-namespace mirrors; the proxy-pull scenario runs only with both")
	fs.StringVar(&opts.ProxyNamespace, "proxy-namespace", "", "the proxy `namespace` (a pull-through cache of --upstream-url) of the registry measured")
	fs.StringVar(&opts.UpstreamUsername, "upstream-username", "", "basic auth user name at the upstream")
	fs.StringVar(&opts.UpstreamPassword, "upstream-password", "", "basic auth password at the upstream")
	fs.StringVar(&opts.WebhookListen, "webhook-listen", "", "`address` (such as 127.0.0.1:0) for the webhook-push scenario's receivers, which the server must be allowed to reach (events.webhooks.allowNetworks); the scenario runs only with it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for s := range strings.SplitSeq(only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			opts.Only = append(opts.Only, s)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	report, err := bench.Run(ctx, opts)
	if report != nil {
		if asJSON {
			if werr := report.WriteJSON(os.Stdout); werr != nil {
				return werr
			}
		} else if werr := report.WriteTable(os.Stdout); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	if n := report.Failed(); n > 0 {
		return fmt.Errorf("%d scenario(s) failed", n)
	}
	return nil
}
