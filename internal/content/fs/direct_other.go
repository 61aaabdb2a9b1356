//go:build !linux

package fs

import (
	"errors"
	"os"
)

// openDirect reports that this platform has no direct I/O wharf uses.
func openDirect(string) (*os.File, error) { return nil, errors.ErrUnsupported }
