package proxy

import (
	"errors"
	"testing"
)

func TestConfigValidateURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want string // canonical form; empty when refused
	}{
		{"docker.io", "https://registry-1.docker.io"},
		{"https://ghcr.io/", "https://ghcr.io"},
		{"http://127.0.0.1:5000", "http://127.0.0.1:5000"},
		{"http://[::1]:65535", "http://[::1]:65535"},
		{"http://[::1]:99999", ""},
		{"http://host:0", ""},
		{"http://host:http", ""},
		{"ftp://host", ""},
		{"https://host/path", ""},
		{"https://host?x=1", ""},
		{"https://user:pw@host", ""},
		{"", ""},
	} {
		got, err := normalizeURL(tc.url)
		if tc.want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("normalizeURL(%q) = %q, %v; want ErrInvalid", tc.url, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("normalizeURL(%q) = %q, %v; want %q", tc.url, got, err, tc.want)
		}
	}
}
