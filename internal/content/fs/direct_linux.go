package fs

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// openDirect opens the upload file at p for direct writes.
func openDirect(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_WRONLY|syscall.O_DIRECT, 0)
}

// pwritev writes bufs to f at off with one system call.
func pwritev(f *os.File, bufs [][]byte, off int64) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var werr error
	if err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = unix.Pwritev(int(fd), bufs, off)
			if !errors.Is(werr, unix.EINTR) {
				return true
			}
		}
	}); err != nil {
		return 0, err
	}
	if werr != nil {
		return n, &os.PathError{Op: "pwritev", Path: f.Name(), Err: werr}
	}
	return n, nil
}
