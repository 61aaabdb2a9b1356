package oci

import (
	"errors"
	"strconv"
	"strings"
)

// ErrRangeInvalid is returned for a malformed or unsatisfiable range.
var ErrRangeInvalid = errors.New("invalid range")

// ParseContentRange parses the Content-Range header of an upload PATCH. The
// distribution spec writes it as "<start>-<end>" (inclusive, no unit); clients
// also send "bytes <start>-<end>/<size|*>", which we accept too.
func ParseContentRange(s string) (start, end int64, err error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "bytes"); ok {
		s = strings.TrimLeft(rest, " =")
		if i := strings.IndexByte(s, '/'); i >= 0 {
			s = s[:i]
		}
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, ErrRangeInvalid
	}
	start, err1 := parseOffset(a)
	end, err2 := parseOffset(b)
	if err1 != nil || err2 != nil || end < start {
		return 0, 0, ErrRangeInvalid
	}
	return start, end, nil
}

func parseOffset(s string) (int64, error) {
	if s == "" || len(s) > 19 || s[0] == '+' || s[0] == '-' {
		return 0, ErrRangeInvalid
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, ErrRangeInvalid
	}
	return n, nil
}
