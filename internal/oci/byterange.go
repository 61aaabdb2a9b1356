package oci

import "strings"

// ParseByteRange parses an HTTP Range header for a blob of size bytes. It
// returns ok=false when the header is to be ignored and the whole blob sent:
// a range unit other than bytes, which RFC 9110 (section 14.2) says a server
// must ignore, or several ranges, which a server may. It returns
// ErrRangeInvalid when a byte range is malformed or cannot be satisfied.
func ParseByteRange(h string, size int64) (start, length int64, ok bool, err error) {
	unit, spec, found := strings.Cut(strings.TrimSpace(h), "=")
	if !found {
		return 0, 0, false, ErrRangeInvalid
	}
	if !strings.EqualFold(unit, "bytes") {
		if !isToken(unit) {
			return 0, 0, false, ErrRangeInvalid
		}
		return 0, 0, false, nil // a unit we do not know: ignored
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

// isToken reports whether s is an RFC 9110 token, the grammar of a range unit.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
