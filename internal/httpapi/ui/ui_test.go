package ui

import (
	"testing"
)

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]target{
		"team/app":                        {Repo: "team/app"},
		"team/app/":                       {Repo: "team/app"},
		"a/b/c/-/tags/v1":                 {Repo: "a/b/c", Tag: "v1"},
		"a/b/c/-/tags/v1/delete":          {Repo: "a/b/c", Tag: "v1", Action: "delete"},
		"app/-/manifests/sha256:" + hex64: {Repo: "app", Digest: "sha256:" + hex64},
		"app/-/manifests/sha256:" + hex64 + "/delete": {Repo: "app", Digest: "sha256:" + hex64, Action: "delete"},
	} {
		got, err := parseTarget(in)
		if err != nil || got != want {
			t.Errorf("parseTarget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "UPPER/case", "app/-/tags/bad tag", "app/-/tags", "app/-/blobs/x", "app/-/tags/v1/rename",
		"app/-/manifests/sha256:short", "../etc/-/tags/v1", "<script>"} {
		if got, err := parseTarget(bad); err == nil {
			t.Errorf("parseTarget(%q) = %+v, want an error", bad, got)
		}
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestSafeReturn(t *testing.T) {
	for in, want := range map[string]string{
		"/r/app": "/r/app", "": "/", "//evil.example": "/", "/\\evil": "/", "https://evil.example/": "/",
		"/x\r\nSet-Cookie: a=b": "/", "/-/login?return_to=/": "/",
	} {
		if got := safeReturn(in); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPagesParse(t *testing.T) {
	p := parsePages()
	for _, name := range []string{"home.html", "login.html", "repo.html", "image.html", "namespace.html", "delete.html",
		"account.html", "users.html", "audit.html", "search.html", "problem.html"} {
		if p[name] == nil {
			t.Errorf("page %s is missing", name)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
