//go:build !unix

package bench

// clientCPU is unknown here.
func clientCPU() (float64, bool) { return 0, false }
