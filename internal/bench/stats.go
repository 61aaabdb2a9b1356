package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest sample with at least p% of the samples at
// or below it. It does not interpolate, so p99 is always a latency some request
// actually saw.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// latencySummary sorts lat in place and returns its p50 and p99 in milliseconds.
func latencySummary(lat []time.Duration) (p50, p99 float64) {
	slices.Sort(lat)
	return ms(percentile(lat, 50)), ms(percentile(lat, 99))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ParseSize parses a byte count such as "1GiB", "256MiB", "64KiB", "1G" or
// "1048576". Binary suffixes (Ki, Mi, Gi, Ti, with or without B) are powers
// of 1024; decimal ones (K, M, G, T, with or without B) are powers of 1000.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, suffix := t, ""
	if i >= 0 {
		num, suffix = t[:i], strings.TrimSpace(t[i:])
	}
	mult, ok := sizeSuffixes[strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(suffix, "B"), "b"))]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q", s, suffix)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("size %q: not a non-negative number", s)
	}
	n := v * float64(mult)
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return int64(n), nil
}

var sizeSuffixes = map[string]int64{
	"":  1,
	"k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12,
	"ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40,
}
