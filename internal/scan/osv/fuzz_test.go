package osv_test

import (
	"encoding/json"
	"testing"

	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scan/osv"
)

// FuzzMatch matches arbitrary versions against arbitrary range events in
// several ecosystems: an answer, never a panic.
func FuzzMatch(f *testing.F) {
	f.Add("Debian:12", "1:2.3-4~rc1", `[{"introduced":"0"},{"fixed":"1:2.3-4"}]`)
	f.Add("PyPI", "2.0.0rc1", `[{"introduced":"1.0"},{"last_affected":"2.0.0"}]`)
	f.Add("Maven", "1.0-SNAPSHOT", `[{"introduced":"0"},{"limit":"2"}]`)
	f.Add("Alpine:v3.19", "1.2.3-r4", `[{"introduced":"x"},{"fixed":""}]`)
	f.Fuzz(func(t *testing.T, eco, version, events string) {
		var evs []osv.Event
		if json.Unmarshal([]byte(events), &evs) != nil {
			return
		}
		a := &osv.Advisory{ID: "X", Severity: []osv.Severity{{Type: "CVSS_V3", Score: version}},
			Affected: []osv.Affected{{Package: osv.Package{Ecosystem: eco, Name: "p"}, Versions: []string{version},
				Ranges: []osv.Range{{Type: "ECOSYSTEM", Events: evs}, {Type: "SEMVER", Events: evs}}}}}
		a.Compact()
		osv.NewIndex([]*osv.Advisory{a}).Match([]scan.Package{{Name: "p", Version: version, Ecosystem: eco}})
	})
}
