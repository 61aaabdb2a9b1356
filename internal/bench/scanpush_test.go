package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestParseScanBacklog(t *testing.T) {
	exp := `# HELP wharf_scan_backlog Images waiting to be scanned.
# TYPE wharf_scan_backlog gauge
wharf_scan_backlog{state="noted"} 12
wharf_scan_backlog{state="queued"} 3456
wharf_scan_backlog{state="running"} 2
wharf_scans_total{result="scanned"} 9
`
	b, err := parseScanBacklog(exp)
	if err != nil || b != (backlog{noted: 12, queued: 3456, running: 2}) || b.empty() {
		t.Fatalf("parseScanBacklog = %+v, %v", b, err)
	}
	if b, err := parseScanBacklog(strings.NewReplacer("12", "0", "3456", "0", "} 2", "} 0").Replace(exp)); err != nil || !b.empty() {
		t.Fatalf("drained backlog = %+v, %v; want empty", b, err)
	}
	// A server without scanning on push (or an older wharf) exports none:
	// waiting for it would measure nothing.
	if _, err := parseScanBacklog("wharf_scans_total{result=\"scanned\"} 9\n"); err == nil || !strings.Contains(err.Error(), "scanning.onPush") {
		t.Fatalf("no backlog exported: %v", err)
	}
}

func TestScanPushSummary(t *testing.T) {
	cpu := func(f float64) *float64 { return &f }
	// ABBA: off, on, on, off.
	rounds := []Result{
		{Ops: 1000, ServerCPU: cpu(2)}, {Ops: 900, ServerCPU: cpu(2)},
		{Ops: 800, ServerCPU: cpu(2)}, {Ops: 1000, ServerCPU: cpu(2)},
	}
	rates := []float64{100, 90, 80, 100}
	drained := []Result{{Ops: 900, ServerCPU: cpu(9)}, {Ops: 800, ServerCPU: cpu(8)}}
	res := scanPushSummary(rounds, rates, drained)
	if res.Value != 85 || res.Unit != "% on/off" {
		t.Fatalf("summary = %v %s, want 85 %% on/off", res.Value, res.Unit)
	}
	for _, want := range []string{"rounds 2/1 90%, 3/4 80%", "off 2.00 ms, on 2.35 ms (+18%)", "then 10.00 ms per image scanned"} {
		if !strings.Contains(res.Note, want) {
			t.Errorf("note %q lacks %q", res.Note, want)
		}
	}
	// Without the PIDs there is no CPU to compare.
	res = scanPushSummary(make([]Result, 4), rates, make([]Result, 2))
	if strings.Contains(res.Note, "CPU") || strings.Contains(res.Note, "then") {
		t.Errorf("note without CPU figures = %q", res.Note)
	}
}

func TestCheckScannedFailsOnAnImageNotScanned(t *testing.T) {
	done, queued := digest.FromString("done"), digest.FromString("queued")
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		status := "scanned"
		if strings.HasSuffix(r.URL.Path, queued.String()) {
			status = "queued"
		}
		if r.URL.Path != "/api/v1/repositories/bench/a/scans/"+done.String() && r.URL.Path != "/api/v1/repositories/bench/a/scans/"+queued.String() {
			t.Errorf("asked %s", r.URL.Path)
		}
		fmt.Fprintf(w, `{"manifests":[{"status":%q}]}`, status)
	})
	if n, err := c.checkScanned(context.Background(), map[string][]digest.Digest{"bench/a": {done}}); err != nil || n != 1 {
		t.Fatalf("checkScanned = %d, %v; want 1 scanned", n, err)
	}
	_, err := c.checkScanned(context.Background(), map[string][]digest.Digest{"bench/a": {done, queued}})
	if err == nil || !strings.Contains(err.Error(), "queued:1") || !strings.Contains(err.Error(), queued.String()) {
		t.Fatalf("checkScanned with an image queued: %v", err)
	}
}
