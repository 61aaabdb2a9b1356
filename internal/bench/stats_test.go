package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ten := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i + 1)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample p50", []time.Duration{7}, 50, 7},
		{"one sample p99", []time.Duration{7}, 99, 7},
		{"ten p50 is the 5th", ten, 50, 5},
		{"ten p90 is the 9th", ten, 90, 9},
		{"ten p99 is the max", ten, 99, 10},
		{"ten p100 is the max", ten, 100, 10},
		{"ten tiny p is the min", ten, 0.1, 1},
		{"hundred p50", hundred, 50, 50},
		{"hundred p99", hundred, 99, 99},
		{"two p50 is the lower", []time.Duration{1, 2}, 50, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestLatencySummarySorts(t *testing.T) {
	lat := []time.Duration{5 * time.Millisecond, time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}
	p50, p99 := latencySummary(lat)
	if p50 != 3 || p99 != 5 {
		t.Errorf("latencySummary = %v, %v; want 3, 5", p50, p99)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "1048576", want: 1 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "256MiB", want: 256 << 20},
		{in: "256Mi", want: 256 << 20},
		{in: "64 KiB", want: 64 << 10},
		{in: "1G", want: 1e9},
		{in: "1GB", want: 1e9},
		{in: "1.5GiB", want: 3 << 29},
		{in: "10B", want: 10},
		{in: "0", want: 0},
		{in: "", bad: true},
		{in: "GiB", bad: true},
		{in: "12XB", bad: true},
		{in: "-1", bad: true},
		{in: "1..2M", bad: true},
		{in: "99999999999TiB", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}
