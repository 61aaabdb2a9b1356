package oci

import "strings"

// ParseByteRange parses an HTTP Range header for a blob of size bytes. It
// returns ok=false when the header asks for several ranges (the server may
// then ignore it and send everything), and ErrRangeInvalid when it is
// malformed or cannot be satisfied.
func ParseByteRange(h string, size int64) (start, length int64, ok bool, err error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found {
		return 0, 0, false, ErrRangeInvalid
	}
	if strings.Contains(spec, ",") {
		return 0, 0, false, nil
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, ErrRangeInvalid
	}
	switch {
	case a == "": // suffix: the last b bytes
		n, err := parseOffset(b)
		if err != nil || n == 0 || size == 0 {
			return 0, 0, false, ErrRangeInvalid
		}
		n = min(n, size)
		return size - n, n, true, nil
	default:
		s, err := parseOffset(a)
		if err != nil || s >= size {
			return 0, 0, false, ErrRangeInvalid
		}
		e := size - 1
		if b != "" {
			if e, err = parseOffset(b); err != nil || e < s {
				return 0, 0, false, ErrRangeInvalid
			}
			e = min(e, size-1)
		}
		return s, e - s + 1, true, nil
	}
}
