package policy

import (
	"errors"
	"fmt"
	"time"
)

// RetentionPolicy says which tags and manifests of the repositories in
// Scope to keep. Its tag rules retain: a tag is kept when any rule keeps it
// and removed otherwise, so a policy with at least one tag rule removes
// every tag that no rule names. A policy without tag rules removes no tags.
// A manifest goes when it has lost all its tags to the policy, or was
// untagged and idle for longer than UntaggedAfter; its referrers
// (signatures, SBOMs) and the children only it listed go with it, and so do
// the tags of its artifacts (cosign's sha256-<hex>.sig, .att and .sbom, or a
// tag of a manifest whose subject it is), which the tag rules neither keep
// nor count: they are kept exactly as long as the manifest they belong to.
type RetentionPolicy struct {
	ID    int64  `json:"id"`
	Scope string `json:"scope"` // "team-a" or "team-a/app*"
	// KeepLast keeps, per rule, the Count most recently pushed tags that
	// match Pattern.
	KeepLast []KeepLast `json:"keepLast,omitempty"`
	// KeepWithin keeps tags pushed or pulled within this long; 0 is no rule.
	KeepWithin Duration `json:"keepWithin,omitempty"`
	// Keep keeps every tag matching one of these patterns.
	Keep []string `json:"keep,omitempty"`
	// UntaggedAfter removes untagged manifests neither pushed, pulled nor
	// left by a tag for this long; 0 leaves untagged manifests alone.
	UntaggedAfter Duration `json:"untaggedAfter,omitempty"`
}

// KeepLast keeps the Count newest tags matching Pattern.
type KeepLast struct {
	Pattern string `json:"pattern"`
	Count   int    `json:"count"`
}

// Validate reports everything wrong with p, naming each field.
func (p RetentionPolicy) Validate() error {
	var errs []error
	bad := func(field string, err error) { errs = append(errs, fmt.Errorf("%s: %w", field, err)) }
	if err := validateScope(p.Scope); err != nil {
		bad("scope", err)
	}
	for i, k := range p.KeepLast {
		if _, err := ParsePattern(k.Pattern); err != nil {
			bad(fmt.Sprintf("keepLast[%d].pattern", i), err)
		}
		if k.Count < 1 {
			bad(fmt.Sprintf("keepLast[%d].count", i), fmt.Errorf("must be at least 1, got %d", k.Count))
		}
	}
	for i, k := range p.Keep {
		if _, err := ParsePattern(k); err != nil {
			bad(fmt.Sprintf("keep[%d]", i), err)
		}
	}
	if p.KeepWithin < 0 {
		bad("keepWithin", fmt.Errorf("must not be negative, got %s", p.KeepWithin))
	}
	if p.UntaggedAfter < 0 {
		bad("untaggedAfter", fmt.Errorf("must not be negative, got %s", p.UntaggedAfter))
	}
	if !p.hasTagRules() && p.UntaggedAfter == 0 {
		errs = append(errs, errors.New("the policy has no rules: set keepLast, keepWithin, keep or untaggedAfter"))
	}
	return errors.Join(errs...)
}

func (p RetentionPolicy) hasTagRules() bool {
	return len(p.KeepLast) > 0 || len(p.Keep) > 0 || p.KeepWithin > 0
}

// Tag is a tag as retention sees it.
type Tag struct {
	Name     string
	Digest   string
	PushedAt time.Time // when the tag was last pointed at Digest
}

// Manifest is a manifest as retention sees it.
type Manifest struct {
	Digest     string
	Subject    string   // the manifest it refers to, "" if none
	Children   []string // the manifests an index lists
	CreatedAt  time.Time
	PulledAt   time.Time // zero if never pulled
	UntaggedAt time.Time // when a tag last left it; zero if none did
}

// Repository is what retention evaluates: one repository's tags and
// manifests.
type Repository struct {
	Name      string
	Tags      []Tag
	Manifests []Manifest
}

// The kinds of [Deletion].
const (
	KindTag      = "tag"
	KindManifest = "manifest"
)

// Deletion is one thing retention removes, and why.
type Deletion struct {
	Kind       string `json:"kind"` // KindTag or KindManifest
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest"`
	Reason     string `json:"reason"`
	// Subject is, for the tag of an artifact (a signature, an attestation,
	// an SBOM), the manifest it belongs to and is removed with.
	Subject string `json:"subject,omitempty"`
}

// Kept is a tag retention keeps, and the first reason it found.
type Kept struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
	Reason     string `json:"reason"`
}

// Plan is what retention does to one repository.
type Plan struct {
	Deletions []Deletion `json:"deletions"`
	Kept      []Kept     `json:"kept"`
}

// Applicable returns the policies whose scope holds repo.
func Applicable(policies []RetentionPolicy, repo string) []RetentionPolicy {
	var out []RetentionPolicy
	for _, p := range policies {
		if ScopeMatches(p.Scope, repo) {
			out = append(out, p)
		}
	}
	return out
}
