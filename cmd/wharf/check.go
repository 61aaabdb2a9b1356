package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/mgmtclient"
)

// checkImage prints what an image policy makes of image, and fails when
// a pull of it would be refused, so that a script can stop on it.
func checkImage(ctx context.Context, c *mgmtclient.Client, image, ns string, asJSON bool, out io.Writer) error {
	repo, reference, err := splitImage(image)
	if err != nil {
		return err
	}
	pc, err := c.CheckImage(ctx, repo, reference, ns)
	if err != nil {
		return err
	}
	if asJSON {
		err = printJSON(out, pc)
	} else {
		err = printCheck(out, pc)
	}
	if err != nil {
		return err
	}
	if !pc.Allowed {
		return fmt.Errorf("%s would be refused by namespace %s's image policy", image, pc.Namespace)
	}
	return nil
}

// printCheck writes a check for people.
func printCheck(out io.Writer, pc mgmt.PolicyCheck) error {
	w := &errWriter{w: out}
	name := pc.Repository + ":" + pc.Reference
	if strings.Contains(pc.Reference, ":") {
		name = pc.Repository + "@" + pc.Reference
	}
	w.printf("%s\n  digest %s\n  %s\n", name, pc.Digest, pc.MediaType)
	switch {
	case pc.Exempt != "":
		w.printf("served: %s\n", pc.Exempt)
		return w.err
	case !pc.Allowed:
		w.printf("REFUSED by the image policy of namespace %s:\n  %s\n", pc.Namespace, pc.Refusal)
	case len(pc.Warnings) > 0:
		w.printf("served WITH WARNINGS by the image policy of namespace %s:\n", pc.Namespace)
		for _, m := range pc.Warnings {
			w.printf("  %s\n", m)
		}
	default:
		w.printf("served: the image passes the image policy of namespace %s\n", pc.Namespace)
	}
	w.printf("\nrules:\n")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, r := range pc.Rules {
		verdict := "passed"
		switch {
		case r.Mode == "off":
			verdict = "-"
		case !r.Passed:
			verdict = "BROKEN: " + strings.TrimPrefix(r.Message, "policy "+pc.Namespace+"/"+r.Rule+": ")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Rule, r.Mode, verdict)
	}
	w.err = tw.Flush()
	w.printf("\nsignatures (the namespace trusts %s):\n", pc.KeySet)
	if len(pc.Signatures) == 0 {
		w.printf("  none\n")
	}
	for _, v := range pc.Signatures {
		w.printf("  %s\n", verdictLine(v.Format, v.Signature, v.Tag, v.Valid, v.Signer, v.Reason, v.Message))
	}
	if pc.SignedIndex != "" {
		w.printf("  signed through index %s, which lists it\n", pc.SignedIndex)
	}
	for _, ps := range pc.PlatformSignatures {
		state := "unsigned"
		if ps.Verified {
			state = "signed"
		}
		w.printf("  platform image %s: %s\n", ps.Digest, state)
		for _, v := range ps.Signatures {
			w.printf("    %s\n", verdictLine(v.Format, v.Signature, v.Tag, v.Valid, v.Signer, v.Reason, v.Message))
		}
	}
	if len(pc.Scans) > 0 {
		w.printf("\nscans:\n")
	}
	for _, s := range pc.Scans {
		where := s.Digest.String()
		if s.Platform != "" {
			where = s.Platform + " " + where
		}
		line := fmt.Sprintf("  %s: %s", where, s.Status)
		if s.ScannedAt != nil {
			line += " " + s.ScannedAt.Format(time.RFC3339)
		}
		if s.Status == "scanned" {
			line += fmt.Sprintf(", critical %d, high %d, medium %d, low %d, unknown %d (%d fixable)",
				s.Summary.Critical, s.Summary.High, s.Summary.Medium, s.Summary.Low, s.Summary.Unknown, s.Summary.Fixable)
		}
		if s.Error != "" {
			line += ": " + s.Error
		}
		w.printf("%s\n", line)
	}
	sbom := "none"
	if pc.SBOM {
		sbom = "stored"
	}
	w.printf("\nSBOM: %s\n", sbom)
	if pc.ValidUntil != nil {
		w.printf("this verdict holds until %s\n", pc.ValidUntil.Format(time.RFC3339))
	}
	return w.err
}

func verdictLine(format any, sig, tag string, valid bool, signer fmt.Stringer, reason, message string) string {
	where := sig
	if tag != "" {
		where += " (tag " + tag + ")"
	}
	if valid {
		return fmt.Sprintf("%s %s: valid, signed by %s", format, where, signer)
	}
	return fmt.Sprintf("%s %s: %s: %s", format, where, reason, message)
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
