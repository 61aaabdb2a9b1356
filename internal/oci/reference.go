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

var (
	// nameComponent is one path component of a repository name, from the
	// distribution spec: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
	nameRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// Errors returned by the validators; callers map them to protocol errors.
var (
	ErrNameInvalid       = errors.New("invalid repository name")
	ErrTagInvalid        = errors.New("invalid tag")
	ErrDigestInvalid     = errors.New("invalid digest")
	ErrDigestUnsupported = errors.New("unsupported digest algorithm")
)

// ValidateName reports whether name is a valid repository name.
func ValidateName(name string) error {
	if len(name) == 0 || len(name) > MaxNameLength || !nameRE.MatchString(name) {
		return fmt.Errorf("%w: %q", ErrNameInvalid, truncate(name))
	}
	return nil
}

// ValidateTag reports whether tag is a valid tag.
func ValidateTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("%w: %q", ErrTagInvalid, truncate(tag))
	}
	return nil
}

// ParseDigest parses and validates s as a digest whose algorithm the registry
// supports (sha256 and sha512).
func ParseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		if errors.Is(err, digest.ErrDigestUnsupported) {
			return "", fmt.Errorf("%w: %q", ErrDigestUnsupported, truncate(s))
		}
		return "", fmt.Errorf("%w: %q", ErrDigestInvalid, truncate(s))
	}
	switch d.Algorithm() {
	case digest.SHA256, digest.SHA512:
		return d, nil
	}
	return "", fmt.Errorf("%w: %q", ErrDigestUnsupported, truncate(s))
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

// ParseReference parses s as a digest when it contains a colon and as a tag otherwise.
func ParseReference(s string) (Reference, error) {
	if strings.Contains(s, ":") {
		d, err := ParseDigest(s)
		if err != nil {
			return Reference{}, err
		}
		return Reference{Digest: d}, nil
	}
	if err := ValidateTag(s); err != nil {
		return Reference{}, err
	}
	return Reference{Tag: s}, nil
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
