//go:build unix

package bench

import "syscall"

// clientCPU returns the user plus system CPU seconds this process (the
// benchmark client) has used so far.
func clientCPU() (float64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9, true
}
