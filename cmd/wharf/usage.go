package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

const usageUsage = `usage: wharf usage [NAMESPACE | REPOSITORY | --repository NAME] [--json] [--url URL] [--token TOKEN | --user NAME]

Without an argument, what the whole registry and each namespace hold (system
administrators). With a namespace, what it and each of its repositories hold
and served; with a repository (a name with a slash, or --repository for a
one-segment name), what it holds and served and the pulls of each tag.
Pulls count images (a platform's manifest fetched through its index is part
of the index's pull); "30d" is the last 30 UTC days, today included.`

// usageCmd prints what the registry, a namespace or a repository holds and
// served.
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
	repo := fs.String("repository", "", "a repository, also one whose name has no slash")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, usageUsage)
	}
	switch {
	case len(pos) > 1, len(pos) == 1 && *repo != "":
		return fmt.Errorf("%s", usageUsage)
	case len(pos) == 1 && strings.Contains(pos[0], "/"):
		*repo = pos[0]
	}
	var v any
	var show func(io.Writer) error
	switch {
	case *repo != "":
		u, err := client().RepositoryUsage(ctx, *repo)
		v, show = u, func(w io.Writer) error { return showRepositoryUsage(w, u) }
		if err != nil {
			return err
		}
	case len(pos) == 1:
		u, err := client().Usage(ctx, pos[0])
		v, show = u, func(w io.Writer) error { return showNamespaceUsage(w, u) }
		if err != nil {
			return err
		}
	default:
		u, err := client().StorageUsage(ctx)
		v, show = u, func(w io.Writer) error { return showStorageUsage(w, u) }
		if err != nil {
			return err
		}
	}
	if *asJSON {
		return printJSON(out, v)
	}
	return show(out)
}

func showNamespaceUsage(out io.Writer, u mgmt.NamespaceUsage) error {
	limit := "no quota"
	if u.LimitBytes != nil {
		limit = "of " + formatSize(*u.LimitBytes)
	}
	fmt.Fprintf(out, "namespace %s: %s %s, %d blobs, %d manifests, %d tags\n", u.Namespace, formatSize(u.Bytes), limit, u.Blobs, u.Manifests, u.Tags)
	showServed(out, u.Usage)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "REPOSITORY\tBYTES\tBLOBS\tMANIFESTS\tTAGS\tPULLS\tPULLS 30D\tSERVED\tSERVED 30D\tLAST PUSH\tLAST PULL\t")
	for _, r := range u.Repositories {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", r.Repository, formatSize(r.Bytes), r.Blobs, r.Manifests, r.Tags,
			r.Pulls, r.PullsLast30Days, formatSize(r.BytesServed), formatSize(r.BytesServedLast30Days), at(r.LastPush), at(r.LastPull))
	}
	return tw.Flush()
}

func showRepositoryUsage(out io.Writer, u mgmt.RepositoryUsageDetail) error {
	fmt.Fprintf(out, "repository %s: %s, %d blobs, %d manifests, %d tags\n", u.Repository, formatSize(u.Bytes), u.Blobs, u.Manifests, u.Tags)
	showServed(out, u.Usage)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TAG\tDIGEST\tPULLS\tPULLS 30D\tLAST PUSH\tLAST PULL\t")
	for _, t := range u.ByTag {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t\n", t.Name, shortDigest(t.Digest.String()), t.Pulls, t.PullsLast30Days, at(&t.UpdatedAt), at(t.LastPull))
	}
	return tw.Flush()
}

func showStorageUsage(out io.Writer, u mgmt.StorageUsage) error {
	fmt.Fprintf(out, "registry: %s in %d blobs, %d repositories, %d tags\n", formatSize(u.Bytes), u.Blobs, u.Repositories, u.Tags)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "NAMESPACE\tBYTES\tQUOTA\t")
	for _, n := range u.Namespaces {
		quota := "-"
		if n.LimitBytes != nil {
			quota = formatSize(*n.LimitBytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", n.Namespace, formatSize(n.Bytes), quota)
	}
	return tw.Flush()
}

// showServed writes the last push and pull and what was served.
func showServed(out io.Writer, u mgmt.Usage) {
	fmt.Fprintf(out, "  last push %s, last pull %s\n  %d pulls (%d in the last 30 days), %s served (%s in the last 30 days)\n",
		at(u.LastPush), at(u.LastPull), u.Pulls, u.PullsLast30Days, formatSize(u.BytesServed), formatSize(u.BytesServedLast30Days))
}

// shortDigest is a digest cut to its algorithm and 12 hex digits.
func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
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
