package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"text/tabwriter"
	"time"
)

// usageReport is the answer of GET /api/v1/namespaces/{namespace}/usage.
type usageReport struct {
	Namespace  string `json:"namespace"`
	LimitBytes *int64 `json:"limitBytes"`
	usageFigures
	Repositories []struct {
		Repository string `json:"repository"`
		usageFigures
	} `json:"repositories"`
}

type usageFigures struct {
	Bytes     int64      `json:"bytes"`
	Blobs     int64      `json:"blobs"`
	Manifests int64      `json:"manifests"`
	Tags      int64      `json:"tags"`
	LastPush  *time.Time `json:"lastPush"`
	LastPull  *time.Time `json:"lastPull"`
}

// usageCmd prints what a namespace and its repositories hold.
func usageCmd(args []string) error {
	return runUsage(args, os.Stdout, os.Getenv)
}

func runUsage(args []string, stdout io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("usage", flag.ContinueOnError)
	c := mgmtFlags(fs, getenv)
	asJSON := fs.Bool("json", false, "print the API's JSON")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: wharf usage NAMESPACE [--json] [--url URL] [--token TOKEN | --user NAME --password PASSWORD]")
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	var u usageReport
	if err := c.do("GET", "/api/v1/namespaces/"+url.PathEscape(pos[0])+"/usage", nil, &u); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, u)
	}
	limit := "no quota"
	if u.LimitBytes != nil {
		limit = "of " + formatSize(*u.LimitBytes)
	}
	fmt.Fprintf(stdout, "namespace %s: %s %s, %d blobs, %d manifests, %d tags\n  last push %s, last pull %s\n",
		u.Namespace, formatSize(u.Bytes), limit, u.Blobs, u.Manifests, u.Tags, when(u.LastPush), when(u.LastPull))
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "REPOSITORY\tBYTES\tBLOBS\tMANIFESTS\tTAGS\tLAST PUSH\tLAST PULL\t")
	for _, r := range u.Repositories {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t\n", r.Repository, formatSize(r.Bytes), r.Blobs, r.Manifests, r.Tags, when(r.LastPush), when(r.LastPull))
	}
	return tw.Flush()
}

func when(t *time.Time) string {
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
