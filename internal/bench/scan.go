package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/wharf-dev/wharf/internal/scan/extract"
	"github.com/wharf-dev/wharf/internal/scan/osv"
	"github.com/wharf-dev/wharf/internal/scan/sbom"
)

// scanRuns is how many times the scan scenario scans its image; it reports
// the median.
const scanRuns = 5

// scanScenario measures wharf's scanner in this process, with no registry:
// extraction of a realistic image (see scanFixture) and matching against
// an in-memory advisory index, then writing its SPDX and CycloneDX SBOMs.
// Building the image and the index is setup, not timed.
func (r *runner) scanScenario(ctx context.Context) ([]Result, error) {
	tmp := r.opts.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	fx, err := buildScanFixture(tmp)
	if err != nil {
		return nil, err
	}
	defer fx.remove()
	idx := osv.NewIndex(fx.advisories)
	r.logf("scan: image of %d files (%.1f MB) and a %.1f MB Go binary, %.1f MB stored; %d advisories",
		fx.files, float64(fx.rootfs)/1e6, float64(fx.binary)/1e6, float64(fx.stored)/1e6, idx.Len())
	var scans, sboms []time.Duration
	var cpus []float64
	var pkgs, findings int
	self := serverCPU{pids: []int{os.Getpid()}}
	for range scanRuns {
		before, err := self.ticks()
		if err != nil {
			return nil, err
		}
		start := time.Now()
		res, err := extract.Image(ctx, fx.layers, extract.Options{ScratchDir: tmp})
		if err != nil {
			return nil, err
		}
		fs := idx.Match(res.Packages)
		scans = append(scans, time.Since(start))
		after, err := self.ticks()
		if err != nil {
			return nil, err
		}
		cpus = append(cpus, float64(after-before)/userHZ)
		pkgs, findings = len(res.Packages), len(fs)

		start = time.Now()
		img := sbom.Image{Repository: "bench/scan", Digest: "sha256:" + fmt.Sprintf("%064d", 0)}
		if err := sbom.WriteSPDX(io.Discard, img, res.Packages, sbom.Options{Created: start}); err != nil {
			return nil, err
		}
		if err := sbom.WriteCycloneDX(io.Discard, img, res.Packages, sbom.Options{Created: start}); err != nil {
			return nil, err
		}
		sboms = append(sboms, time.Since(start))
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	slices.Sort(cpus)
	cpu := cpus[len(cpus)/2]
	note := fmt.Sprintf("%d packages, %d findings; %d-file %.0f MB rootfs + %.0f MB Go binary; median of %d; CPU-s are the scanner's (it runs in the server)",
		pkgs, findings, fx.files, float64(fx.rootfs)/1e6, float64(fx.binary)/1e6, scanRuns)
	return []Result{
		{Scenario: "scan", Value: median(scans).Seconds(), Unit: "s", Ops: int64(pkgs), Seconds: median(scans).Seconds(), ServerCPU: &cpu, Note: note},
		{Scenario: "scan-sbom", Value: median(sboms).Seconds(), Unit: "s", Ops: int64(pkgs), Seconds: median(sboms).Seconds(), Note: "SPDX 2.3 and CycloneDX 1.6 of the scanned packages"},
	}, nil
}
