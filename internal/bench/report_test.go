package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestFormatTableAligns(t *testing.T) {
	got := formatTable([][]string{
		{"SCENARIO", "RESULT", "NOTE"},
		{"pull", "666 MB/s", "digest verified"},
		{"manifest-head", "3024 req/s", ""},
	}, []bool{false, true, false})
	want := "" +
		"SCENARIO           RESULT  NOTE\n" +
		"pull             666 MB/s  digest verified\n" +
		"manifest-head  3024 req/s\n"
	if got != want {
		t.Errorf("formatTable:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteTableListsFailures(t *testing.T) {
	r := &Report{Results: []Result{
		rateResult("pull", 1, 1, 256, "MB", window{elapsed: 2e9, cpu: 0.5, hasCPU: true, clientCPU: 1.25, hasClientCPU: true}),
		{Scenario: "push-chunked", Error: "PATCH http://x/v2/r/blobs/uploads/u: 416 Requested Range Not Satisfiable"},
	}}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"128 MB/s", "512 MB/cpu-s", "0.50", "1.25", "FAILED push-chunked: PATCH", "416"} {
		if !strings.Contains(out, want) {
			t.Errorf("table does not contain %q:\n%s", want, out)
		}
	}
	if r.Failed() != 1 {
		t.Errorf("Failed() = %d, want 1", r.Failed())
	}
}

// TestMeasureClientCPU: a timed section that burns CPU in the benchmark's
// own process is charged to the client.
func TestMeasureClientCPU(t *testing.T) {
	r := &runner{}
	start, _ := clientCPU()
	w, err := r.measure(func() error {
		// Busy until 50 ms of CPU time are used, however loaded the
		// machine (give up after a minute).
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
			if now, _ := clientCPU(); now-start >= 0.05 {
				break
			}
		}
		return nil
	})
	if err != nil || !w.hasClientCPU || w.clientCPU < 0.04 {
		t.Fatalf("measure: %+v, %v; want at least the 50 ms of CPU a busy loop used", w, err)
	}
}
