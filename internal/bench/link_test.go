package bench

import (
	"net/url"
	"testing"
)

func TestNextLink(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:5000/v2/_catalog?n=1000")
	tests := []struct {
		name, header, want string
	}{
		{"none", "", ""},
		{"distribution", `</v2/_catalog?last=bench%2Fr0999&n=1000>; rel="next"`, "http://127.0.0.1:5000/v2/_catalog?last=bench%2Fr0999&n=1000"},
		{"unquoted rel", `</v2/_catalog?last=a&n=2>; rel=next`, "http://127.0.0.1:5000/v2/_catalog?last=a&n=2"},
		{"absolute target", `<https://mirror.example/v2/_catalog?last=a>; rel="next"`, "https://mirror.example/v2/_catalog?last=a"},
		{"relative path", `<_catalog?last=b>; rel="next"`, "http://127.0.0.1:5000/v2/_catalog?last=b"},
		{"next among others", `</v2/_catalog?n=2>; rel="first", </v2/_catalog?last=c&n=2>; rel="next"`, "http://127.0.0.1:5000/v2/_catalog?last=c&n=2"},
		{"rel list", `</v2/_catalog?last=d>; title="a, b"; rel="prefetch next"`, "http://127.0.0.1:5000/v2/_catalog?last=d"},
		{"comma in target", `</v2/_catalog?last=a,b>; rel="next"`, "http://127.0.0.1:5000/v2/_catalog?last=a,b"},
		{"case-insensitive", `</v2/_catalog?last=e>; REL="Next"`, "http://127.0.0.1:5000/v2/_catalog?last=e"},
		{"only prev", `</v2/_catalog?last=a>; rel="prev"`, ""},
		{"no brackets", `/v2/_catalog?last=a; rel="next"`, ""},
		{"no params", `</v2/_catalog?last=a>`, ""},
		{"nextpage is not next", `</v2/_catalog?last=a>; rel="nextpage"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := nextLink(base, tt.header)
			if err != nil {
				t.Fatalf("nextLink(%q): %v", tt.header, err)
			}
			gotS := ""
			if got != nil {
				gotS = got.String()
			}
			if gotS != tt.want {
				t.Errorf("nextLink(%q) = %q, want %q", tt.header, gotS, tt.want)
			}
		})
	}
}

func TestNextLinkBadTarget(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:5000/v2/_catalog")
	if _, err := nextLink(base, `<http://[::1>; rel="next"`); err == nil {
		t.Error("nextLink accepted an unparseable target")
	}
}

func FuzzNextLink(f *testing.F) {
	f.Add(`</v2/_catalog?last=a&n=2>; rel="next"`)
	f.Add(`<a>; rel="x\"y", <b>; rel=next`)
	base, _ := url.Parse("http://127.0.0.1:5000/v2/_catalog")
	f.Fuzz(func(t *testing.T, header string) {
		u, err := nextLink(base, header)
		if err == nil && u != nil && u.String() == "" {
			t.Errorf("nextLink(%q) returned an empty URL", header)
		}
	})
}
