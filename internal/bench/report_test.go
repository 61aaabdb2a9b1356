package bench

import (
	"bytes"
	"strings"
	"testing"
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
		rateResult("pull", 1, 1, 256, "MB", window{elapsed: 2e9, cpu: 0.5, hasCPU: true}),
		{Scenario: "push-chunked", Error: "PATCH http://x/v2/r/blobs/uploads/u: 416 Requested Range Not Satisfiable"},
	}}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"128 MB/s", "512 MB/cpu-s", "0.50", "FAILED push-chunked: PATCH", "416"} {
		if !strings.Contains(out, want) {
			t.Errorf("table does not contain %q:\n%s", want, out)
		}
	}
	if r.Failed() != 1 {
		t.Errorf("Failed() = %d, want 1", r.Failed())
	}
}
