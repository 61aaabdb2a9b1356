//go:build !linux

package fs

import (
	"errors"
	"os"
)

// Elsewhere blobs are always sent with sendfile or its equivalent: there
// is no direct I/O wharf uses and no way to ask the page cache.

func openDirectRead(string) (*os.File, error) { return nil, errors.ErrUnsupported }

func adviseWillNeed(*os.File, int64, int64) {}

type residency struct{}

func newResidency(*os.File, int64, int64) (*residency, error) { return nil, errors.ErrUnsupported }

func (*residency) mostly(int64, int64) bool { return true }

func (*residency) close() {}
