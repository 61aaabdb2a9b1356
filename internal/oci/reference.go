package oci

import (
	// go-digest recognises an algorithm only when its hash is linked in.
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// MaxNameLength bounds a repository name. The distribution spec asks registries to
// accept at least 255 characters including the host name; we count the path alone.
const MaxNameLength = 255

// MaxTagLength bounds a tag, as the distribution spec's tag grammar does.
const MaxTagLength = 128

var (
	// nameComponentRE is one path component of a repository name, from the
	// distribution spec: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
	nameComponentRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$`)
	// algorithmRE is the digest algorithm grammar of the image spec.
	algorithmRE = regexp.MustCompile(`^[a-z0-9]+([+._-][a-z0-9]+)*$`)
	hexRE       = regexp.MustCompile(`^[0-9a-fA-F]+$`)
)

// Errors returned by the validators; callers map them to protocol errors.
// Each is wrapped with a message that says which rule was broken.
var (
	ErrNameInvalid       = errors.New("invalid repository name")
	ErrTagInvalid        = errors.New("invalid tag")
	ErrDigestInvalid     = errors.New("invalid digest")
	ErrDigestUnsupported = errors.New("unsupported digest algorithm")
)

// The rules, as the errors state them.
const (
	nameRule   = "components are lower-case letters and digits, separated by '.', '_', '__' or dashes, and start and end with a letter or digit"
	tagRule    = "a tag is 1 to 128 letters, digits, '_', '.' and '-', and starts with a letter, digit or '_'"
	digestRule = "a digest is ALGORITHM:HEX, e.g. sha256: and 64 lower-case hex digits"
)

// ValidateName reports whether name is a valid repository name, and if not,
// which rule it breaks.
func ValidateName(name string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrNameInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case name == "":
		return bad("the repository name is empty")
	case len(name) > MaxNameLength:
		return bad("the repository name is %d characters long; the limit is %d", len(name), MaxNameLength)
	}
	for c := range strings.SplitSeq(name, "/") {
		switch {
		case c == "":
			return bad("%q has an empty path component (a leading, trailing or doubled '/')", truncate(name))
		case nameComponentRE.MatchString(c):
		case strings.ToLower(c) != c:
			return bad("%q has upper-case letters; repository names are lower case", truncate(name))
		default:
			return bad("component %q of %q breaks the rule: %s", truncate(c), truncate(name), nameRule)
		}
	}
	return nil
}

// ValidateTag reports whether tag is a valid tag, and if not, which rule it
// breaks.
func ValidateTag(tag string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrTagInvalid, fmt.Sprintf(format, args...))
	}
	if tag == "" {
		return bad("the tag is empty")
	}
	if len(tag) > MaxTagLength {
		return bad("the tag is %d characters long; the limit is %d", len(tag), MaxTagLength)
	}
	for i, c := range tag {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		case i == 0:
			return bad("%q starts with %q; %s", truncate(tag), c, tagRule)
		default:
			return bad("%q has %q at position %d; %s", truncate(tag), c, i+1, tagRule)
		}
	}
	return nil
}

// ParseDigest parses and validates s as a digest whose algorithm the registry
// supports (sha256 and sha512). Its errors say which rule s breaks.
func ParseDigest(s string) (digest.Digest, error) {
	alg, enc, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		return "", fmt.Errorf("%w: %q has no algorithm; %s", ErrDigestInvalid, truncate(s), digestRule)
	case !algorithmRE.MatchString(alg):
		return "", fmt.Errorf("%w: %q: %q is not a digest algorithm; %s", ErrDigestInvalid, truncate(s), truncate(alg), digestRule)
	case alg != string(digest.SHA256) && alg != string(digest.SHA512):
		return "", fmt.Errorf("%w: %q: the registry supports sha256 and sha512, not %s", ErrDigestUnsupported, truncate(s), truncate(alg))
	}
	want := digest.Algorithm(alg).Size() * 2
	switch {
	case len(enc) != want:
		return "", fmt.Errorf("%w: %q: a %s digest has %d hex digits, not %d", ErrDigestInvalid, truncate(s), alg, want, len(enc))
	case !hexRE.MatchString(enc):
		return "", fmt.Errorf("%w: %q: the part after %s: must be hex digits", ErrDigestInvalid, truncate(s), alg)
	case strings.ToLower(enc) != enc:
		return "", fmt.Errorf("%w: %q: hex digits must be lower case", ErrDigestInvalid, truncate(s))
	}
	d := digest.Digest(s)
	if err := d.Validate(); err != nil { // the library's word is final
		return "", fmt.Errorf("%w: %q: %v", ErrDigestInvalid, truncate(s), err)
	}
	return d, nil
}

// Reference is the last path element of a manifest URL: a tag or a digest.
type Reference struct {
	Tag    string
	Digest digest.Digest
}

// String returns the tag or the digest.
func (r Reference) String() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}

// ParseReference parses s as a tag or a digest. Something with a colon is a
// digest when it reads like one (a known algorithm, or an algorithm-shaped
// word before a long run of hex digits): its errors are the digest's. Anything
// else with a colon, such as "Bad:Tag", is an invalid tag whose error also
// says what a digest looks like.
func ParseReference(s string) (Reference, error) {
	alg, enc, ok := strings.Cut(s, ":")
	if !ok {
		if err := ValidateTag(s); err != nil {
			return Reference{}, err
		}
		return Reference{Tag: s}, nil
	}
	if looksLikeDigest(alg, enc) {
		d, err := ParseDigest(s)
		if err != nil {
			return Reference{}, err
		}
		return Reference{Digest: d}, nil
	}
	return Reference{}, fmt.Errorf("%w: %q is neither a tag nor a digest: ':' is not allowed in a tag (%s), and %q is not a digest algorithm (%s)",
		ErrTagInvalid, truncate(s), tagRule, truncate(alg), digestRule)
}

func looksLikeDigest(alg, enc string) bool {
	switch digest.Algorithm(alg) {
	case digest.SHA256, digest.SHA384, digest.SHA512, "blake3":
		return true
	}
	return algorithmRE.MatchString(alg) && len(enc) >= 32 && hexRE.MatchString(enc)
}

func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
