package fs

import (
	"os"
	"syscall"
)

// openDirect opens the upload file at p for direct writes.
func openDirect(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_WRONLY|syscall.O_DIRECT, 0)
}
