package oci

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"library/ubuntu", true},
		{"team-a/app.v2/sub_x__y", true},
		{"a--b", true},
		{"", false},
		{"A", false},
		{"a/", false},
		{"/a", false},
		{"a//b", false},
		{"a/../b", false},
		{"a/./b", false},
		{"-a", false},
		{"a-", false},
		{"a___b", false},
		{"a b", false},
		{"a%2fb", false},
		{strings.Repeat("a", 255), true},
		{strings.Repeat("a", 256), false},
	} {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrNameInvalid) {
			t.Errorf("ValidateName(%q) error %v is not ErrNameInvalid", tc.name, err)
		}
	}
}

func TestParseReference(t *testing.T) {
	const d256 = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	for _, tc := range []struct {
		in      string
		tag     string
		digest  string
		wantErr error
	}{
		{"latest", "latest", "", nil},
		{"_x.1-2", "_x.1-2", "", nil},
		{strings.Repeat("t", 128), strings.Repeat("t", 128), "", nil},
		{strings.Repeat("t", 129), "", "", ErrTagInvalid},
		{".x", "", "", ErrTagInvalid},
		{"-x", "", "", ErrTagInvalid},
		{d256, "", d256, nil},
		{"sha256:abc", "", "", ErrDigestInvalid},
		{"sha256:" + strings.ToUpper(d256[7:]), "", "", ErrDigestInvalid},
		{"md5:d41d8cd98f00b204e9800998ecf8427e", "", "", ErrDigestUnsupported},
		{"sha512:" + strings.Repeat("a", 128), "", "sha512:" + strings.Repeat("a", 128), nil},
	} {
		ref, err := ParseReference(tc.in)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("ParseReference(%q) error = %v, want %v", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || ref.Tag != tc.tag || ref.Digest.String() != tc.digest {
			t.Errorf("ParseReference(%q) = %+v, %v; want tag %q digest %q", tc.in, ref, err, tc.tag, tc.digest)
		}
	}
}

// TestErrorsNameTheRule checks that every refusal says which rule was
// broken, not just that something is invalid.
func TestErrorsNameTheRule(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
		says []string
	}{
		{"Bad:Tag", refErr("Bad:Tag"), ErrTagInvalid, []string{"neither a tag nor a digest", "':' is not allowed in a tag", `"Bad" is not a digest algorithm`}},
		{"129-character tag", refErr(strings.Repeat("t", 129)), ErrTagInvalid, []string{"129 characters", "limit is 128"}},
		{"tag with a slash", refErr("a/b"), ErrTagInvalid, []string{`'/' at position 2`, "letters, digits"}},
		{"tag starting with a dot", refErr(".x"), ErrTagInvalid, []string{`starts with '.'`}},
		{"empty tag", refErr(""), ErrTagInvalid, []string{"empty"}},
		{"short sha256", refErr("sha256:abc"), ErrDigestInvalid, []string{"64 hex digits, not 3"}},
		{"upper-case hex", refErr("sha256:" + strings.Repeat("A", 64)), ErrDigestInvalid, []string{"lower case"}},
		{"not hex", refErr("sha256:" + strings.Repeat("g", 64)), ErrDigestInvalid, []string{"must be hex digits"}},
		{"md5", refErr("md5:d41d8cd98f00b204e9800998ecf8427e"), ErrDigestUnsupported, []string{"sha256 and sha512, not md5"}},
		{"digest without algorithm", digestErr(strings.Repeat("a", 64)), ErrDigestInvalid, []string{"no algorithm", "ALGORITHM:HEX"}},
		{"digest with a bad algorithm", digestErr("SHA256:" + strings.Repeat("a", 64)), ErrDigestInvalid, []string{`"SHA256" is not a digest algorithm`}},
		{"long name", ValidateName(strings.Repeat("a", 256)), ErrNameInvalid, []string{"256 characters", "limit is 255"}},
		{"upper-case name", ValidateName("Team/app"), ErrNameInvalid, []string{"upper-case"}},
		{"empty component", ValidateName("a//b"), ErrNameInvalid, []string{"empty path component"}},
		{"bad component", ValidateName("a/b..c"), ErrNameInvalid, []string{`component "b..c"`, "separated by"}},
		{"empty name", ValidateName(""), ErrNameInvalid, []string{"empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.want) {
				t.Fatalf("error %v, want %v", tc.err, tc.want)
			}
			for _, s := range tc.says {
				if !strings.Contains(tc.err.Error(), s) {
					t.Errorf("error %q does not say %q", tc.err, s)
				}
			}
		})
	}
}

func refErr(s string) error {
	_, err := ParseReference(s)
	return err
}

func digestErr(s string) error {
	_, err := ParseDigest(s)
	return err
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"latest", "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "a:b", ":", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseReference(s)
		if err != nil {
			if !errors.Is(err, ErrTagInvalid) && !errors.Is(err, ErrDigestInvalid) && !errors.Is(err, ErrDigestUnsupported) {
				t.Fatalf("%q: error of no known kind: %v", s, err)
			}
			return
		}
		if ref.String() != s {
			t.Fatalf("round trip: %q -> %q", s, ref.String())
		}
		if ref.Digest != "" {
			if err := ref.Digest.Validate(); err != nil {
				t.Fatalf("accepted invalid digest %q: %v", s, err)
			}
		} else if ValidateTag(ref.Tag) != nil {
			t.Fatalf("accepted invalid tag %q", s)
		}
	})
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"a", "library/ubuntu", "a/../b", "a__b", "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateName(s) != nil {
			return
		}
		if len(s) > MaxNameLength || strings.Contains(s, "..") || strings.Contains(s, "//") ||
			strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.ToLower(s) != s {
			t.Fatalf("accepted %q", s)
		}
	})
}
