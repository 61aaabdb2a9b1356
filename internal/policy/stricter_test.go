package policy

import (
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/scan"
)

func TestStricter(t *testing.T) {
	system := ImagePolicy{
		RequireSignature: SignatureRule{Mode: ModeEnforce},
		Vulnerabilities:  VulnerabilityRule{Mode: ModeWarn, Severity: scan.Critical, IgnoreUnfixed: true},
		RequireScan:      ScanRule{Mode: ModeWarn, ScanTimeout: Duration(30 * time.Second)},
	}
	ns := ImagePolicy{
		RequireSignature: SignatureRule{Mode: ModeOff},
		Vulnerabilities:  VulnerabilityRule{Mode: ModeWarn, Severity: scan.High},
		RequireScan:      ScanRule{Mode: ModeWarn, ScanFirst: true},
		RequireSBOM:      SBOMRule{Mode: ModeEnforce},
	}
	for name, got := range map[string]ImagePolicy{"system first": Stricter(system, ns), "namespace first": Stricter(ns, system)} {
		want := ImagePolicy{
			RequireSignature: SignatureRule{Mode: ModeEnforce},                                           // a namespace cannot turn it off
			Vulnerabilities:  VulnerabilityRule{Mode: ModeWarn, Severity: scan.High},                     // the lower severity; unfixed counted since one counts them
			RequireScan:      ScanRule{Mode: ModeWarn, ScanFirst: true, ScanTimeout: DefaultScanTimeout}, // scan first, the longer wait
			RequireSBOM:      SBOMRule{Mode: ModeEnforce},
		}
		if got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
	}

	// A rule enforced on one side is taken whole, with its own settings.
	got := Stricter(ImagePolicy{Vulnerabilities: VulnerabilityRule{Mode: ModeEnforce, Severity: scan.Critical}},
		ImagePolicy{Vulnerabilities: VulnerabilityRule{Mode: ModeWarn, Severity: scan.Low}, EnforceOnPushers: true})
	if got.Vulnerabilities != (VulnerabilityRule{Mode: ModeEnforce, Severity: scan.Critical}) || !got.EnforceOnPushers {
		t.Errorf("enforce over warn: %+v", got)
	}
	if Stricter(ImagePolicy{}, ImagePolicy{}).Active() {
		t.Error("two empty policies make an active one")
	}
}
