package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Report is the outcome of one run of the benchmark.
type Report struct {
	URL      string    `json:"url"`
	PIDs     []int     `json:"pids,omitempty"`
	Size     int64     `json:"size_bytes"`
	Duration string    `json:"duration"`
	Started  time.Time `json:"started"`
	Results  []Result  `json:"results"`
}

// Result is one measurement: a scenario at one concurrency. MB are 10^6 bytes.
type Result struct {
	Scenario    string  `json:"scenario"`
	Concurrency int     `json:"concurrency,omitempty"`
	Value       float64 `json:"value"`
	Unit        string  `json:"unit"`
	P50Ms       float64 `json:"p50_ms,omitempty"`
	P99Ms       float64 `json:"p99_ms,omitempty"`
	Ops         int64   `json:"ops,omitempty"`     // requests, images or listings completed
	Seconds     float64 `json:"seconds,omitempty"` // client wall time of the timed part
	// ServerCPU is the server's user+system CPU seconds over the timed part,
	// present when the run was given the server's PID.
	ServerCPU *float64 `json:"server_cpu_seconds,omitempty"`
	// PerCPU is the work done per server CPU-second, in PerCPUUnit.
	PerCPU     *float64 `json:"per_server_cpu_second,omitempty"`
	PerCPUUnit string   `json:"per_server_cpu_second_unit,omitempty"`
	// ClientCPU is the benchmark's own user+system CPU seconds over the
	// timed part.
	ClientCPU *float64 `json:"client_cpu_seconds,omitempty"`
	Note      string   `json:"note,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// rateResult builds the Result of a timed window that did amount of work
// (megabytes, requests, images) in ops operations; unit is amount's unit.
func rateResult(name string, conc int, ops int64, amount float64, unit string, w window) Result {
	res := Result{Scenario: name, Concurrency: conc, Ops: ops, Seconds: w.elapsed.Seconds(), Unit: unit + "/s"}
	if w.elapsed > 0 {
		res.Value = amount / w.elapsed.Seconds()
	}
	res.setCPU(amount, unit, w)
	return res
}

// setCPU records the window's client and server CPU time and amount per
// server CPU-second.
func (res *Result) setCPU(amount float64, unit string, w window) {
	if w.hasClientCPU {
		c := w.clientCPU
		res.ClientCPU = &c
	}
	if !w.hasCPU {
		return
	}
	cpu := w.cpu
	res.ServerCPU = &cpu
	res.PerCPUUnit = unit + "/cpu-s"
	if cpu > 0 {
		per := amount / cpu
		res.PerCPU = &per
	}
}

// Failed returns how many scenarios failed.
func (r *Report) Failed() int {
	n := 0
	for _, res := range r.Results {
		if res.Error != "" {
			n++
		}
	}
	return n
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as an aligned text table, failures last.
func (r *Report) WriteTable(w io.Writer) error {
	rows := [][]string{{"SCENARIO", "CONC", "RESULT", "P50 ms", "P99 ms", "OPS", "SECS", "SERVER CPU-s", "PER SERVER CPU-s", "CLIENT CPU-s", "NOTE"}}
	var failures []string
	for _, res := range r.Results {
		if res.Error != "" {
			rows = append(rows, []string{res.Scenario, "", "FAILED", "", "", "", "", "", "", "", "see below"})
			failures = append(failures, res.Scenario+": "+res.Error)
			continue
		}
		rows = append(rows, []string{
			res.Scenario, intOrBlank(int64(res.Concurrency)), number(res.Value) + " " + res.Unit,
			optional(res.P50Ms), optional(res.P99Ms), intOrBlank(res.Ops), fmt.Sprintf("%.2f", res.Seconds),
			cpuSeconds(res.ServerCPU), perCPU(res.PerCPU, res.PerCPUUnit), cpuSeconds(res.ClientCPU), res.Note,
		})
	}
	right := []bool{false, true, true, true, true, true, true, true, true, true, false}
	if _, err := io.WriteString(w, formatTable(rows, right)); err != nil {
		return err
	}
	for _, f := range failures {
		if _, err := fmt.Fprintf(w, "\nFAILED %s\n", f); err != nil {
			return err
		}
	}
	return nil
}

// formatTable pads each column to its widest cell, aligning the cells of the
// columns marked in right to the right.
func formatTable(rows [][]string, right []bool) string {
	width := make([]int, len(right))
	for _, row := range rows {
		for i, cell := range row {
			width[i] = max(width[i], len(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		var line strings.Builder
		for i, cell := range row {
			pad := strings.Repeat(" ", width[i]-len(cell))
			if i > 0 {
				line.WriteString("  ")
			}
			if right[i] {
				line.WriteString(pad + cell)
			} else {
				line.WriteString(cell + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	return b.String()
}

// number formats v with about three significant digits, more for large values.
func number(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func optional(v float64) string {
	if v == 0 {
		return ""
	}
	return number(v)
}

func intOrBlank(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func cpuSeconds(v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%.2f", *v)
}

func perCPU(v *float64, unit string) string {
	if v == nil {
		if unit != "" {
			return "-" // the server used less CPU than /proc can show
		}
		return ""
	}
	return number(*v) + " " + unit
}
