//go:build !linux

package fs

import (
	"errors"
	"os"
)

// openDirect reports that this platform has no direct I/O wharf uses.
func openDirect(string) (*os.File, error) { return nil, errors.ErrUnsupported }

// pwritev writes bufs to f at off, one after the other.
func pwritev(f *os.File, bufs [][]byte, off int64) (int, error) {
	var n int
	for _, b := range bufs {
		m, err := f.WriteAt(b, off+int64(n))
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
