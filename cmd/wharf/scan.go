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
	"text/tabwriter"
	"time"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scan/sarif"
)

const scanUsage = `usage: wharf scan IMAGE [--wait DURATION] [--sbom spdx|cyclonedx] [--report] [--json | --sarif] [--fail-on SEVERITY]

Scan IMAGE (REPOSITORY:TAG or REPOSITORY@DIGEST, optionally after the
registry's host) on the server now, wait for the result (default 5m), and
print its summary per platform. --sbom stores an SBOM of it as a referrer,
--report stores the scan report as a referrer. --fail-on exits 3 when a
finding at or above SEVERITY (critical, high, medium, low) is not allowlisted.

Flags: --url URL (WHARF_URL), --token TOKEN (WHARF_TOKEN), --user NAME (WHARF_USER, with WHARF_PASSWORD).`

const vulnsUsage = `usage: wharf vulns IMAGE [--severity SEVERITY] [--json | --sarif] [--fail-on SEVERITY]

Print the vulnerabilities found in IMAGE (REPOSITORY:TAG or REPOSITORY@DIGEST):
id, package, installed and fixed versions, severity, the layer that brought
it, and whether an allowlist accepts it. --severity shows only findings at
or above it. --sarif writes SARIF 2.1.0 for code-scanning tools.

Flags: --url URL (WHARF_URL), --token TOKEN (WHARF_TOKEN), --user NAME (WHARF_USER, with WHARF_PASSWORD).`

const allowlistUsage = `usage: wharf allowlist list|add|delete [--namespace NS] ...

  list [--namespace NS]                                  the entries of NS, or the system-wide ones
  add ID --reason TEXT [--expires DURATION|DATE] [--namespace NS]   accept a vulnerability
  delete ID [--namespace NS]                             remove an entry

Without --namespace the system-wide list is meant (system administrators change it).
Flags: --url URL (WHARF_URL), --token TOKEN (WHARF_TOKEN), --user NAME (WHARF_USER, with WHARF_PASSWORD), --json.`

// errFindings is returned (exit status 3) by --fail-on.
type errFindings struct{ n int }

func (e errFindings) Error() string {
	return fmt.Sprintf("%d vulnerabilities at or above the --fail-on severity", e.n)
}

func scanCmd(args []string) error {
	return runScan(context.Background(), "scan", args, os.Stdout, os.Getenv)
}

func vulnsCmd(args []string) error {
	return runScan(context.Background(), "vulns", args, os.Stdout, os.Getenv)
}

func allowlistCmd(args []string) error {
	return runAllowlist(context.Background(), args, os.Stdout, os.Getenv)
}

// splitImage reads [HOST/]REPOSITORY(:TAG|@DIGEST); a first component
// with a dot or colon, or localhost, is the registry's host and dropped.
func splitImage(s string) (repo, ref string, err error) {
	if first, rest, ok := strings.Cut(s, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		s = rest
	}
	if r, d, ok := strings.Cut(s, "@"); ok {
		return r, d, nil
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 && !strings.Contains(s[i:], "/") {
		return s[:i], s[i+1:], nil
	}
	if s == "" {
		return "", "", errors.New("name an image: REPOSITORY:TAG or REPOSITORY@DIGEST")
	}
	return s, "latest", nil
}

func runScan(ctx context.Context, name string, args []string, out io.Writer, env func(string) string) error {
	usage := map[string]string{"scan": scanUsage, "vulns": vulnsUsage}[name]
	if helpRequested(args) {
		fmt.Fprintln(out, usage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("wharf "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	client := lifecycleClient(fs, env)
	asJSON := fs.Bool("json", false, "print the scan as JSON")
	asSARIF := fs.Bool("sarif", false, "print the findings as SARIF 2.1.0")
	failOn := fs.String("fail-on", "", "exit 3 if a finding at or above this severity is not allowlisted")
	minSev := fs.String("severity", "", "show findings at or above this severity")
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the scan")
	sbomFormat := fs.String("sbom", "", "store an SBOM (spdx or cyclonedx) as a referrer")
	report := fs.Bool("report", false, "store the scan report as a referrer")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, usage)
	}
	if len(pos) != 1 {
		return errors.New(usage)
	}
	if *asJSON && *asSARIF {
		return errors.New("--json and --sarif: choose one")
	}
	for _, s := range []string{*failOn, *minSev} {
		if s != "" && scan.ParseSeverity(s) == scan.Unknown {
			return fmt.Errorf("%q is not a severity (critical, high, medium, low)", s)
		}
	}
	repo, ref, err := splitImage(pos[0])
	if err != nil {
		return err
	}
	c := client()
	var res mgmt.ImageScan
	if name == "scan" {
		res, err = c.RequestScan(ctx, repo, ref, *wait)
	} else {
		res, err = c.Scan(ctx, repo, ref)
	}
	if err != nil {
		return err
	}
	if *sbomFormat != "" {
		r, err := c.WriteSBOM(ctx, repo, ref, *sbomFormat)
		if err != nil {
			return fmt.Errorf("SBOM: %w", err)
		}
		fmt.Fprintf(os.Stderr, "stored %s SBOM referrers %v\n", *sbomFormat, r.Digests)
	}
	if *report {
		r, err := c.WriteScanReport(ctx, repo, ref)
		if err != nil {
			return fmt.Errorf("scan report: %w", err)
		}
		fmt.Fprintf(os.Stderr, "stored scan report referrers %v\n", r.Digests)
	}
	filter(&res, scan.ParseSeverity(*minSev), *minSev != "")
	switch {
	case *asJSON:
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	case *asSARIF:
		err = writeSARIF(out, res)
	case name == "scan":
		err = printSummary(out, res)
	default:
		err = printFindings(out, res)
	}
	if err != nil || *failOn == "" {
		return err
	}
	return failures(res, scan.ParseSeverity(*failOn))
}

// filter keeps the findings at or above min.
func filter(res *mgmt.ImageScan, min scan.Severity, on bool) {
	if !on {
		return
	}
	for i := range res.Manifests {
		fs := res.Manifests[i].Findings[:0]
		for _, f := range res.Manifests[i].Findings {
			if f.Severity.Rank() >= min.Rank() {
				fs = append(fs, f)
			}
		}
		res.Manifests[i].Findings = fs
	}
}

func failures(res mgmt.ImageScan, min scan.Severity) error {
	n := 0
	for _, m := range res.Manifests {
		for _, f := range m.Findings {
			if f.Allowlisted == nil && f.Severity.Rank() >= min.Rank() {
				n++
			}
		}
	}
	if n > 0 {
		return errFindings{n}
	}
	return nil
}

func printSummary(out io.Writer, res mgmt.ImageScan) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PLATFORM\tDIGEST\tSTATUS\tCRITICAL\tHIGH\tMEDIUM\tLOW\tUNKNOWN\tFIXABLE\tALLOWLISTED\tSCANNED\tERROR")
	for _, m := range res.Manifests {
		s := m.Summary
		scanned := "-"
		if m.ScannedAt != nil {
			scanned = when(*m.ScannedAt)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", orDash(m.Platform), short(m.Digest.String()), m.Status,
			s.Critical, s.High, s.Medium, s.Low, s.Unknown, s.Fixable, m.Allowlisted, scanned, m.Error)
	}
	return w.Flush()
}

func printFindings(out io.Writer, res mgmt.ImageScan) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PLATFORM\tID\tSEVERITY\tPACKAGE\tINSTALLED\tFIXED\tLAYER\tALLOWLISTED")
	for _, m := range res.Manifests {
		if m.Status != "scanned" {
			fmt.Fprintf(w, "%s\t(%s: %s)\t\t\t\t\t\t\n", orDash(m.Platform), m.Status, m.Error)
			continue
		}
		for _, f := range m.Findings {
			id := f.ID
			if cves := f.CVEs(); len(cves) > 0 && cves[0] != f.ID {
				id += " (" + cves[0] + ")"
			}
			allowed := "-"
			if f.Allowlisted != nil {
				allowed = f.Allowlisted.Reason
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", orDash(m.Platform), id, f.Severity, f.Package.Name, f.Installed,
				orDash(f.Fixed), f.Layer, allowed)
		}
	}
	return w.Flush()
}

func writeSARIF(out io.Writer, res mgmt.ImageScan) error {
	var imgs []sarif.Image
	for _, m := range res.Manifests {
		img := sarif.Image{Name: m.Repository + "@" + m.Digest.String(), Platform: m.Platform}
		for _, f := range m.Findings {
			if f.Allowlisted == nil {
				img.Findings = append(img.Findings, f.Finding)
			}
		}
		imgs = append(imgs, img)
	}
	return sarif.Write(out, version, imgs)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

func runAllowlist(ctx context.Context, args []string, out io.Writer, env func(string) string) error {
	if helpRequested(args) {
		fmt.Fprintln(out, allowlistUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("wharf allowlist", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	client := lifecycleClient(fs, env)
	ns := fs.String("namespace", "", "the namespace's list; without it, the system-wide list")
	reason := fs.String("reason", "", "why the vulnerability is accepted")
	expires := fs.String("expires", "", "when the entry ends: a duration from now (720h) or an RFC 3339 time")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, allowlistUsage)
	}
	if len(pos) == 0 {
		return errors.New(allowlistUsage)
	}
	c := client()
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	switch verb, rest := pos[0], pos[1:]; {
	case verb == "list" && len(rest) == 0:
		l, err := c.Allowlist(ctx, *ns)
		if err != nil || *asJSON {
			if err == nil {
				err = enc.Encode(listOf(l))
			}
			return err
		}
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAMESPACE\tID\tEXPIRES\tBY\tREASON")
		for _, a := range l {
			exp := "never"
			if a.Expires != nil {
				exp = when(*a.Expires)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", orDash(a.Namespace), a.ID, exp, orDash(a.CreatedBy), a.Reason)
		}
		return w.Flush()
	case verb == "add" && len(rest) == 1:
		in := mgmt.AllowedCreate{ID: rest[0], Reason: *reason}
		if *expires != "" {
			t, err := parseExpiry(*expires)
			if err != nil {
				return err
			}
			in.Expires = &t
		}
		a, err := c.Allow(ctx, *ns, in)
		if err != nil {
			return err
		}
		if *asJSON {
			return enc.Encode(a)
		}
		fmt.Fprintf(out, "allowed %s in %s\n", a.ID, orDash(a.Namespace))
		return nil
	case verb == "delete" && len(rest) == 1:
		if err := c.Disallow(ctx, *ns, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(out, "removed %s\n", rest[0])
		return nil
	}
	return errors.New(allowlistUsage)
}

func parseExpiry(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--expires %q is neither a duration (720h) nor a time (2027-01-31 or RFC 3339)", s)
}
