package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"
)

const usageUsage = "usage: wharf usage NAMESPACE [--json] [--url URL] [--token TOKEN | --user NAME]"

// usageCmd prints what a namespace and its repositories hold.
func usageCmd(args []string) error {
	return runUsage(context.Background(), args, os.Stdout, os.Getenv)
}

func runUsage(ctx context.Context, args []string, out io.Writer, env func(string) string) error {
	if helpRequested(args) {
		fmt.Fprintln(out, usageUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("wharf usage", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	client := lifecycleClient(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, usageUsage)
	}
	if len(pos) != 1 {
		return fmt.Errorf("%s", usageUsage)
	}
	u, err := client().Usage(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out, u)
	}
	limit := "no quota"
	if u.LimitBytes != nil {
		limit = "of " + formatSize(*u.LimitBytes)
	}
	fmt.Fprintf(out, "namespace %s: %s %s, %d blobs, %d manifests, %d tags\n  last push %s, last pull %s\n",
		u.Namespace, formatSize(u.Bytes), limit, u.Blobs, u.Manifests, u.Tags, at(u.LastPush), at(u.LastPull))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "REPOSITORY\tBYTES\tBLOBS\tMANIFESTS\tTAGS\tLAST PUSH\tLAST PULL\t")
	for _, r := range u.Repositories {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t\n", r.Repository, formatSize(r.Bytes), r.Blobs, r.Manifests, r.Tags, at(r.LastPush), at(r.LastPull))
	}
	return tw.Flush()
}

// at writes an optional time, "never" when absent.
func at(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// formatSize writes n bytes in binary units.
func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}
