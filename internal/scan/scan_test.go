package scan_test

import (
	"slices"
	"testing"

	"github.com/wharf-dev/wharf/internal/scan"
)

func TestSeverity(t *testing.T) {
	for in, want := range map[string]scan.Severity{
		"CRITICAL": scan.Critical, "important": scan.High, "Moderate": scan.Medium, "medium": scan.Medium,
		"unimportant": scan.Low, "negligible": scan.Low, "not yet assigned": scan.Unknown, "": scan.Unknown,
	} {
		if got := scan.ParseSeverity(in); got != want {
			t.Errorf("ParseSeverity(%q) = %s, want %s", in, got, want)
		}
	}
	fs := []scan.Finding{
		{ID: "DSA-1", Aliases: []string{"CVE-2024-1", "GHSA-x"}, Severity: scan.High, Fixed: "1.1"},
		{ID: "CVE-2024-2", Severity: scan.Critical},
		{ID: "X", Severity: scan.Unknown, Fixed: "2"},
	}
	if s := scan.Summarize(fs); s != (scan.Summary{Critical: 1, High: 1, Unknown: 1, Fixable: 2}) {
		t.Errorf("summary %+v", s)
	}
	if h := scan.Highest(fs); h != scan.Critical {
		t.Errorf("highest %s", h)
	}
	if scan.Highest(nil) != "" {
		t.Error("highest of nothing")
	}
	if got := fs[0].CVEs(); !slices.Equal(got, []string{"CVE-2024-1"}) {
		t.Errorf("CVEs %q", got)
	}
}
