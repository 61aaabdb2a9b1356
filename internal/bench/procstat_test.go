package bench

import (
	"os"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name         string
		line         string
		utime, stime uint64
		bad          bool
	}{
		{
			name:  "registry",
			line:  "25454 (registry) S 1 25453 25453 0 -1 4194560 21315 0 0 0 1234 567 0 0 20 0 9 0 170238 1335566336 9713 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0",
			utime: 1234, stime: 567,
		},
		{
			name:  "spaces and parens in the command name",
			line:  "42 (my (odd) server) R 1 42 42 0 -1 0 0 0 0 0 15 16 0 0 20 0 1 0 1 1 1",
			utime: 15, stime: 16,
		},
		{name: "no command name", line: "42 registry S 1 2 3", bad: true},
		{name: "too few fields", line: "42 (registry) S 1 42 42 0 -1 0 0 0 0 0 15", bad: true},
		{name: "utime not a number", line: "42 (registry) S 1 42 42 0 -1 0 0 0 0 0 x 16 0", bad: true},
		{name: "stime negative", line: "42 (registry) S 1 42 42 0 -1 0 0 0 0 0 15 -16 0", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			utime, stime, err := parseProcStat([]byte(tt.line))
			if tt.bad {
				if err == nil {
					t.Errorf("parseProcStat = %d, %d; want an error", utime, stime)
				}
				return
			}
			if err != nil || utime != tt.utime || stime != tt.stime {
				t.Errorf("parseProcStat = %d, %d, %v; want %d, %d", utime, stime, err, tt.utime, tt.stime)
			}
		})
	}
}

// TestServerCPUSelf reads this test process's own CPU time, which must be
// positive after the work of starting up and must not run backwards.
func TestServerCPUSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	cpu := serverCPU{pids: []int{os.Getpid()}}
	before, err := cpu.ticks()
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := range 50_000_000 {
		x ^= i * i
	}
	after, err := cpu.ticks()
	if err != nil {
		t.Fatal(err)
	}
	if after < before || after == 0 {
		t.Errorf("cpu ticks went from %v to %v (x=%d)", before, after, x)
	}
}

func TestServerCPUNoProcess(t *testing.T) {
	if _, err := (serverCPU{pids: []int{-1}}).ticks(); err == nil {
		t.Error("ticks() for pid -1 succeeded")
	}
}
