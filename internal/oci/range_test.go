package oci

import (
	"errors"
	"testing"
)

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in         string
		start, end int64
		ok         bool
	}{
		{"0-99", 0, 99, true},
		{"100-100", 100, 100, true},
		{"bytes 0-9/10", 0, 9, true},
		{"bytes=5-9/*", 5, 9, true},
		{"9-0", 0, 0, false},
		{"-1-5", 0, 0, false},
		{"a-b", 0, 0, false},
		{"5", 0, 0, false},
		{"", 0, 0, false},
		{"+1-5", 0, 0, false},
		{"0-99999999999999999999", 0, 0, false},
	} {
		s, e, err := ParseContentRange(tc.in)
		if tc.ok != (err == nil) || (tc.ok && (s != tc.start || e != tc.end)) {
			t.Errorf("ParseContentRange(%q) = %d, %d, %v", tc.in, s, e, err)
		}
		if err != nil && !errors.Is(err, ErrRangeInvalid) {
			t.Errorf("ParseContentRange(%q) error %v is not ErrRangeInvalid", tc.in, err)
		}
	}
}

func TestParseByteRange(t *testing.T) {
	const size = 100
	for _, tc := range []struct {
		in            string
		start, length int64
		single, ok    bool
	}{
		{"bytes=0-9", 0, 10, true, true},
		{"bytes=90-", 90, 10, true, true},
		{"bytes=90-1000", 90, 10, true, true},
		{"bytes=-10", 90, 10, true, true},
		{"bytes=-1000", 0, 100, true, true},
		{"bytes=0-0", 0, 1, true, true},
		{"bytes=0-1,5-6", 0, 0, false, true},
		{"bytes=100-", 0, 0, false, false},
		{"bytes=5-4", 0, 0, false, false},
		{"bytes=-0", 0, 0, false, false},
		{"items=0-1", 0, 0, false, true},   // an unknown unit is ignored (RFC 9110 14.2)
		{"Bytes=0-9", 0, 10, true, true},   // units are case-insensitive
		{"it ems=0-1", 0, 0, false, false}, // not a unit at all
		{"0-1", 0, 0, false, false},
		{"bytes=x-1", 0, 0, false, false},
	} {
		s, n, single, err := ParseByteRange(tc.in, size)
		if tc.ok != (err == nil) || single != tc.single || (single && (s != tc.start || n != tc.length)) {
			t.Errorf("ParseByteRange(%q) = %d, %d, %v, %v", tc.in, s, n, single, err)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"0-99", "bytes 0-9/10", "9-0", "", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, err := ParseContentRange(s)
		if err == nil && (start < 0 || end < start) {
			t.Fatalf("%q gave start %d end %d", s, start, end)
		}
	})
}

func FuzzParseByteRange(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=-5", "bytes=5-", "bytes=1-2,3-4", "bytes="} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, s string, size int64) {
		if size < 0 {
			return
		}
		start, n, single, err := ParseByteRange(s, size)
		if err == nil && single && (start < 0 || n <= 0 || start+n > size) {
			t.Fatalf("%q over %d bytes gave start %d length %d", s, size, start, n)
		}
	})
}
