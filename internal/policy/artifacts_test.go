package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSchemaSubject(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	hex128 := strings.Repeat("cd", 64)
	tests := []struct {
		tag, digest, suffix string
		ok                  bool
	}{
		{"sha256-" + hex64 + ".sig", "sha256:" + hex64, ".sig", true},
		{"sha256-" + hex64 + ".att", "sha256:" + hex64, ".att", true},
		{"sha256-" + hex64 + ".sbom", "sha256:" + hex64, ".sbom", true},
		{"sha256-" + hex64, "sha256:" + hex64, "", true},
		{"sha512-" + hex128 + ".sig", "sha512:" + hex128, ".sig", true},
		{"sha256-" + hex64[:63] + ".sig", "", "", false},    // short
		{"sha256-" + strings.ToUpper(hex64), "", "", false}, // digests are lower case
		{"sha512-" + hex64 + ".sig", "", "", false},         // wrong length for the algorithm
		{"sha256-" + hex64 + ".", "", "", false},            // empty suffix
		{"sha256-" + hex64 + ".sig.sig", "", "", false},     // one suffix
		{"v1.2.3", "", "", false},
		{"latest", "", "", false},
	}
	for _, tt := range tests {
		d, s, ok := SchemaSubject(tt.tag)
		if d != tt.digest || s != tt.suffix || ok != tt.ok {
			t.Errorf("SchemaSubject(%q) = %q, %q, %v; want %q, %q, %v", tt.tag, d, s, ok, tt.digest, tt.suffix, tt.ok)
		}
	}
}

// digestOf makes a digest that the tag schema can name.
func digestOf(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

// schemaTag is the tag-schema tag of digest d with suffix.
func schemaTag(d, suffix string) string { return strings.Replace(d, ":", "-", 1) + suffix }

// cosignRepo is a repository as cosign leaves it: images "keep" (v1.0.0)
// and "drop" (pr-7), each with a signature, an attestation and an SBOM in
// the tag schema, the attestation itself signed; and a tagged OCI 1.1
// referrer of each (with a subject).
func cosignRepo() Repository {
	keep, drop := digestOf('1'), digestOf('2')
	r := Repository{Name: "team/app"}
	add := func(tag, digest, subject string, age int) {
		r.Tags = append(r.Tags, Tag{Name: tag, Digest: digest, PushedAt: daysAgo(age)})
		r.Manifests = append(r.Manifests, Manifest{Digest: digest, Subject: subject, CreatedAt: daysAgo(age)})
	}
	add("v1.0.0", keep, "", 100)
	add("pr-7", drop, "", 1)
	add(schemaTag(keep, ".sig"), "sig-keep", "", 100)
	add(schemaTag(keep, ".att"), digestOf('a'), "", 100)
	add(schemaTag(digestOf('a'), ".sig"), "sig-of-att-keep", "", 100) // the attestation's signature
	add(schemaTag(keep, ".sbom"), "sbom-keep", "", 100)
	add("sbom-keep-oci", "ref-keep", keep, 100) // a tagged referrer
	add(schemaTag(drop, ".sig"), "sig-drop", "", 1)
	add(schemaTag(drop, ".att"), digestOf('b'), "", 1)
	add(schemaTag(digestOf('b'), ".sig"), "sig-of-att-drop", "", 1)
	add(schemaTag(drop, ".sbom"), "sbom-drop", "", 1)
	add("sbom-drop-oci", "ref-drop", drop, 1)
	return r
}

// The example policy of docs/lifecycle.md keeps the semver image, and with
// it every signature, attestation and SBOM of it, by tag schema or by
// subject, and the signature of its attestation; the image it does not keep
// goes with all of its artifacts. Fails before artifact tags followed their
// subject: the .sig, .att and .sbom tags of v1.0.0 were "no retention rule
// keeps it".
func TestEvaluateArtifactTagsFollowSubject(t *testing.T) {
	r := cosignRepo()
	keep, drop := digestOf('1'), digestOf('2')
	docs := RetentionPolicy{ID: 1, KeepLast: []KeepLast{{"re:[0-9a-f]{40}", 50}}, Keep: []string{"latest", "semver"}}
	p := Evaluate(r, []RetentionPolicy{docs}, nil, now)
	want := []string{
		"+v1.0.0", "+" + schemaTag(keep, ".sig"), "+" + schemaTag(keep, ".att"), "+" + schemaTag(digestOf('a'), ".sig"),
		"+" + schemaTag(keep, ".sbom"), "+sbom-keep-oci",
		"-pr-7", "-" + schemaTag(drop, ".sig"), "-" + schemaTag(drop, ".att"), "-" + schemaTag(digestOf('b'), ".sig"),
		"-" + schemaTag(drop, ".sbom"), "-sbom-drop-oci",
		"-@" + drop, "-@sig-drop", "-@" + digestOf('b'), "-@sig-of-att-drop", "-@sbom-drop", "-@ref-drop",
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, summary(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	for _, k := range p.Kept {
		if k.Tag == schemaTag(keep, ".sig") && k.Reason != "cosign signature of "+keep+", which is kept" {
			t.Errorf("kept reason = %q", k.Reason)
		}
		if k.Tag == "sbom-keep-oci" && k.Reason != "referrer of "+keep+", which is kept" {
			t.Errorf("kept reason = %q", k.Reason)
		}
	}
	for _, d := range p.Deletions {
		if d.Tag == schemaTag(drop, ".att") && (d.Reason != "cosign attestation of "+drop+", which is removed" || d.Subject != drop) {
			t.Errorf("deletion %+v", d)
		}
	}
}

// Tag rules neither keep nor count artifact tags: keepLast of "*" keeps the
// newest images, not their signatures in their place, and keeping every
// tag does not keep the signature of an image that goes.
func TestEvaluateArtifactTagsAreNotRuled(t *testing.T) {
	r := cosignRepo()
	// The drop image's artifacts are the newest tags; "*" counted them
	// before, and kept them instead of v1.0.0.
	p := Evaluate(r, []RetentionPolicy{{ID: 1, KeepLast: []KeepLast{{"*", 1}}}}, nil, now)
	got := summary(p)
	if !slices.Contains(got, "+pr-7") || !slices.Contains(got, "-v1.0.0") || !slices.Contains(got, "-"+schemaTag(digestOf('1'), ".sig")) {
		t.Errorf("keepLast * 1: %v", got)
	}

	// An untagged image that goes after untaggedAfter takes its signature
	// with it, though a rule keeps every tag.
	old := digestOf('3')
	r.Manifests = append(r.Manifests, Manifest{Digest: old, CreatedAt: daysAgo(30)}, Manifest{Digest: "sig-old", CreatedAt: daysAgo(30)})
	r.Tags = append(r.Tags, Tag{Name: schemaTag(old, ".sig"), Digest: "sig-old", PushedAt: daysAgo(30)})
	p = Evaluate(r, []RetentionPolicy{{ID: 1, Keep: []string{"*"}, UntaggedAfter: Duration(7 * 24 * time.Hour)}}, nil, now)
	got = summary(p)
	for _, w := range []string{"-@" + old, "-" + schemaTag(old, ".sig"), "-@sig-old", "+v1.0.0", "+pr-7"} {
		if !slices.Contains(got, w) {
			t.Errorf("keep * with untaggedAfter: %v lacks %s", got, w)
		}
	}
	// A policy with only untaggedAfter removes no tags but those.
	p = Evaluate(r, []RetentionPolicy{{ID: 1, UntaggedAfter: Duration(7 * 24 * time.Hour)}}, nil, now)
	var tags []string
	for _, d := range p.Deletions {
		if d.Kind == KindTag {
			tags = append(tags, d.Tag)
		}
	}
	if !slices.Equal(tags, []string{schemaTag(old, ".sig")}) {
		t.Errorf("untaggedAfter alone removes tags %v", tags)
	}
}

// An immutable artifact tag stays even when its subject goes; a tag-schema
// name whose digest is not in the repository (the image was deleted, or is
// elsewhere) is an ordinary tag the rules judge.
func TestEvaluateArtifactTagsEdges(t *testing.T) {
	r := cosignRepo()
	drop := digestOf('2')
	rules := []ImmutabilityRule{{ID: 3, Namespace: "team", Pattern: "*.sig"}}
	p := Evaluate(r, []RetentionPolicy{{ID: 1, Keep: []string{"semver"}}}, rules, now)
	if got := summary(p); !slices.Contains(got, "+"+schemaTag(drop, ".sig")) || !slices.Contains(got, "-@"+drop) {
		t.Errorf("immutable signature: %v", got)
	}

	absent := digestOf('9')
	r = Repository{Name: "team/app", Tags: []Tag{
		{Name: schemaTag(absent, ".sig"), Digest: "s1", PushedAt: daysAgo(1)},
		{Name: schemaTag(absent, ".att"), Digest: "s2", PushedAt: daysAgo(1)},
	}, Manifests: []Manifest{{Digest: "s1", CreatedAt: daysAgo(1)}, {Digest: "s2", CreatedAt: daysAgo(1)}}}
	p = Evaluate(r, []RetentionPolicy{{ID: 1, Keep: []string{"*.sig"}}}, nil, now)
	want := []string{"+" + schemaTag(absent, ".sig"), "-" + schemaTag(absent, ".att"), "-@s2"}
	slices.Sort(want)
	if diff := cmp.Diff(want, summary(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}
