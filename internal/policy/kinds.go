package policy

import "time"

// KindDefaults are the policies a namespace of a scoped kind starts with:
// ordinary policies, stored like any other, visible and editable. The kind
// picks them once, when the namespace is created.
type KindDefaults struct {
	Immutable []string         // immutability rule patterns
	Retention *RetentionPolicy // nil for none
	Image     *ImagePolicy     // nil for none
}

// DefaultsOf returns the defaults of namespace ns of kind; the zero
// KindDefaults for general, proxy and unknown kinds.
//   - sandbox: retention removes what was neither pushed nor pulled in 14
//     days (tags, then untagged manifests); nothing immutable.
//   - ci: tags that are commit SHAs (7 to 64 hex digits, optionally
//     "sha-" first) are immutable; retention keeps the last 50 tags and
//     removes untagged manifests after 7 days.
//   - prod: every tag is immutable; the image policy requires a signature
//     by a trusted key, enforced (pulls of unsigned images are refused
//     until the namespace trusts a key).
//   - archive: every tag is immutable.
func DefaultsOf(kind, ns string) KindDefaults {
	const day = 24 * time.Hour
	switch kind {
	case "sandbox":
		return KindDefaults{Retention: &RetentionPolicy{Scope: ns, KeepWithin: Duration(14 * day), UntaggedAfter: Duration(14 * day)}}
	case "ci":
		return KindDefaults{
			Immutable: []string{`re:^(sha-)?[0-9a-f]{7,64}$`},
			Retention: &RetentionPolicy{Scope: ns, KeepLast: []KeepLast{{Pattern: "*", Count: 50}}, UntaggedAfter: Duration(7 * day)},
		}
	case "prod":
		return KindDefaults{Immutable: []string{"*"}, Image: &ImagePolicy{RequireSignature: SignatureRule{Mode: ModeEnforce}}}
	case "archive":
		return KindDefaults{Immutable: []string{"*"}}
	}
	return KindDefaults{}
}
