package policy

import (
	"fmt"
	"regexp"
)

// schemaTagRE is the tag schema of artifacts that refer to another
// manifest by their tag alone: the subject's digest with ":" written as "-",
// and for cosign a suffix naming the kind (sha256-<hex>.sig, .att, .sbom).
// The bare form is the OCI 1.1 referrers tag schema, an index of the
// subject's referrers kept by clients when a registry lacks the referrers
// API. Other suffixes are taken as artifacts too: the tag names its
// subject's digest, and nothing else gives a tag such a name.
var schemaTagRE = regexp.MustCompile(`^(sha256)-([0-9a-f]{64})(\.[a-z0-9]+)?$|^(sha512)-([0-9a-f]{128})(\.[a-z0-9]+)?$`)

// SchemaSubject returns the digest a tag of the artifact tag schema names
// ("sha256-<hex>.sig" names "sha256:<hex>") and the suffix after it (".sig",
// or "" for the bare OCI referrers tag), and whether tag has that form.
func SchemaSubject(tag string) (digest, suffix string, ok bool) {
	m := schemaTagRE.FindStringSubmatch(tag)
	switch {
	case m == nil:
		return "", "", false
	case m[1] != "":
		return m[1] + ":" + m[2], m[3], true
	}
	return m[4] + ":" + m[5], m[6], true
}

// artifactTag is a tag that belongs to another manifest of the repository,
// its subject: it names an artifact whose manifest has that subject, or its
// name is the subject's digest in the artifact tag schema. Such a tag
// follows its subject: kept while the subject is kept, removed with it.
type artifactTag struct {
	subject string
	what    string // "cosign signature", "referrer", ...
}

// artifactTags returns the tags of repo that belong to another manifest
// present in it, by the manifest's subject or by the tag schema.
func artifactTags(repo Repository, manifests map[string]*Manifest) map[string]artifactTag {
	out := map[string]artifactTag{}
	for _, t := range repo.Tags {
		if m := manifests[t.Digest]; m != nil && m.Subject != "" && m.Subject != t.Digest && manifests[m.Subject] != nil {
			out[t.Name] = artifactTag{subject: m.Subject, what: "referrer"}
			continue
		}
		d, suffix, ok := SchemaSubject(t.Name)
		if !ok || d == t.Digest || manifests[d] == nil {
			continue
		}
		out[t.Name] = artifactTag{subject: d, what: schemaKind(suffix)}
	}
	return out
}

// schemaKind names what a tag-schema suffix holds, for reasons.
func schemaKind(suffix string) string {
	switch suffix {
	case ".sig":
		return "cosign signature"
	case ".att":
		return "cosign attestation"
	case ".sbom":
		return "cosign SBOM"
	case "":
		return "referrers index"
	}
	return fmt.Sprintf("artifact (%s)", suffix)
}
