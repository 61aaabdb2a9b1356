package fs

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openDirectRead opens the blob at p for direct reads.
func openDirectRead(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_RDONLY|unix.O_DIRECT, 0)
}

// adviseWillNeed asks the kernel to read [off, off+n) of f into the page
// cache now, without waiting for it.
func adviseWillNeed(f *os.File, off, n int64) {
	_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_WILLNEED)
}

// residency says which pages of a range of a file the page cache holds,
// by mincore(2) over a mapping of the range that is never touched. (Linux
// answers for a file's pages only to a process that may write the file or
// owns it, as wharf does its blobs; to others every page looks absent,
// and the send reads directly.)
type residency struct {
	mem   []byte
	start int64 // file offset of mem[0], page-aligned
	vec   []byte
}

func newResidency(f *os.File, off, n int64) (*residency, error) {
	page := int64(os.Getpagesize())
	start := off &^ (page - 1)
	length := off + n - start
	mem, err := unix.Mmap(int(f.Fd()), start, int(length), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return &residency{mem: mem, start: start, vec: make([]byte, (length+page-1)/page)}, nil
}

// mostly reports whether the page cache holds at least half of the pages
// of [off, off+n), which must lie within the range the residency covers.
func (r *residency) mostly(off, n int64) bool {
	page := int64(os.Getpagesize())
	from := (off - r.start) / page
	to := (off + n - r.start + page - 1) / page
	vec := r.vec[from:to]
	mem := r.mem[from*page : min(to*page, int64(len(r.mem)))]
	// x/sys/unix has no mincore wrapper on Linux.
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return false
	}
	held := 0
	for _, v := range vec {
		held += int(v & 1)
	}
	return 2*held >= len(vec)
}

func (r *residency) close() { _ = unix.Munmap(r.mem) }
