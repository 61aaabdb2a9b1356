package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Evaluate returns what the policies (those that apply to repo.Name, already
// validated) do to repo at time now. Where several policies apply, their
// rules add up: a tag is kept if any rule of any of them keeps it, and
// untagged manifests go after the shortest UntaggedAfter. Tags matching an
// immutability rule are always kept. A manifest is kept while a kept tag
// names it, an index that is kept lists it, or, for a referrer, its subject
// is kept; an untagged manifest with neither parent nor subject in the
// repository is kept until it has been idle (neither pushed, pulled nor
// left by a tag) for UntaggedAfter. The tag of an artifact of a manifest in
// the repository (by the manifest's subject or by cosign's tag schema) is
// kept while that manifest is kept and removed with it, whatever the tag
// rules say, unless it is immutable.
//
// Deletions come tags first, then manifests, each sorted, so a plan reads
// the same every time.
func Evaluate(repo Repository, policies []RetentionPolicy, immutable []ImmutabilityRule, now time.Time) Plan {
	var plan Plan
	manifests := make(map[string]*Manifest, len(repo.Manifests))
	for i := range repo.Manifests {
		manifests[repo.Manifests[i].Digest] = &repo.Manifests[i]
	}
	artifacts := artifactTags(repo, manifests)
	keptTags := keepTags(repo, policies, immutable, now, manifests, artifacts)

	tagged := map[string]bool{}  // manifests with tags before the plan
	roots := map[string]string{} // manifests kept on their own, and why
	for _, t := range repo.Tags {
		tagged[t.Digest] = true
		if _, ok := keptTags[t.Name]; ok {
			roots[t.Digest] = "tagged"
		}
	}

	// Manifests that depend on another: children of an index, referrers of
	// a subject present in the repository.
	parents := map[string][]string{}
	for _, m := range repo.Manifests {
		for _, c := range m.Children {
			parents[c] = append(parents[c], m.Digest)
		}
	}
	untaggedAfter := shortestUntagged(policies)
	for _, m := range repo.Manifests {
		if tagged[m.Digest] || len(parents[m.Digest]) > 0 || manifests[m.Subject] != nil {
			continue
		}
		if untaggedAfter == 0 || idleFor(m, now) <= time.Duration(untaggedAfter) {
			roots[m.Digest] = "untagged"
		}
	}

	live := closure(repo, roots, manifests)
	// Artifact tags follow their subject. A kept artifact can be the
	// subject of another (the signature of an attestation), so repeat
	// until nothing more is kept; chains are a level or two deep.
	for changed := true; changed; {
		changed = false
		for _, t := range repo.Tags {
			a, ok := artifacts[t.Name]
			if _, kept := keptTags[t.Name]; !ok || kept || !live[a.subject] {
				continue
			}
			keptTags[t.Name] = fmt.Sprintf("%s of %s, which is kept", a.what, a.subject)
			roots[t.Digest] = "tagged"
			changed = true
		}
		if changed {
			live = closure(repo, roots, manifests)
		}
	}
	for _, t := range repo.Tags {
		if reason, ok := keptTags[t.Name]; ok {
			plan.Kept = append(plan.Kept, Kept{Repository: repo.Name, Tag: t.Name, Digest: t.Digest, Reason: reason})
			continue
		}
		d := Deletion{Kind: KindTag, Repository: repo.Name, Tag: t.Name, Digest: t.Digest, Reason: "no retention rule keeps it"}
		if a, ok := artifacts[t.Name]; ok {
			d.Reason = fmt.Sprintf("%s of %s, which is removed", a.what, a.subject)
			d.Subject = a.subject
		}
		plan.Deletions = append(plan.Deletions, d)
	}

	var gone []Deletion
	for _, m := range repo.Manifests {
		if live[m.Digest] {
			continue
		}
		gone = append(gone, Deletion{
			Kind: KindManifest, Repository: repo.Name, Digest: m.Digest,
			Reason: whyGone(m, tagged, parents, manifests, untaggedAfter, now),
		})
	}
	slices.SortFunc(plan.Deletions, func(a, b Deletion) int { return strings.Compare(a.Tag, b.Tag) })
	slices.SortFunc(gone, func(a, b Deletion) int { return strings.Compare(a.Digest, b.Digest) })
	slices.SortFunc(plan.Kept, func(a, b Kept) int { return strings.Compare(a.Tag, b.Tag) })
	plan.Deletions = append(plan.Deletions, gone...)
	return plan
}

// keepTags returns the tags to keep, each with the first reason found. With
// no tag rules in any policy, every tag is kept.
//
// Artifact tags (see [artifactTags]) are left to follow their subject: tag
// rules neither keep nor count them, so signatures do not take the places
// of images in keepLast. Only immutability keeps them here.
func keepTags(repo Repository, policies []RetentionPolicy, immutable []ImmutabilityRule, now time.Time, manifests map[string]*Manifest, artifacts map[string]artifactTag) map[string]string {
	kept := map[string]string{}
	keep := func(tag, format string, args ...any) {
		if _, ok := kept[tag]; !ok {
			kept[tag] = fmt.Sprintf(format, args...)
		}
	}
	for _, t := range repo.Tags {
		if r, ok := Immutable(immutable, t.Name); ok {
			keep(t.Name, "immutable by %s", r)
		}
	}
	var ruled []Tag // the tags the rules judge
	for _, t := range repo.Tags {
		if _, ok := artifacts[t.Name]; !ok {
			ruled = append(ruled, t)
		}
	}
	anyTagRules := false
	for _, p := range policies {
		if !p.hasTagRules() {
			continue
		}
		anyTagRules = true
		for _, k := range p.Keep {
			pat, err := ParsePattern(k)
			if err != nil {
				continue
			}
			for _, t := range ruled {
				if pat.Match(t.Name) {
					keep(t.Name, "policy %d keeps tags matching %q", p.ID, k)
				}
			}
		}
		if p.KeepWithin > 0 {
			for _, t := range ruled {
				var pulled time.Time
				if m := manifests[t.Digest]; m != nil {
					pulled = m.PulledAt
				}
				if now.Sub(laterOf(t.PushedAt, pulled)) <= time.Duration(p.KeepWithin) {
					keep(t.Name, "policy %d keeps tags pushed or pulled within %s", p.ID, p.KeepWithin)
				}
			}
		}
		for _, k := range p.KeepLast {
			pat, err := ParsePattern(k.Pattern)
			if err != nil {
				continue
			}
			var match []Tag
			for _, t := range ruled {
				if pat.Match(t.Name) {
					match = append(match, t)
				}
			}
			slices.SortStableFunc(match, func(a, b Tag) int {
				return cmp.Or(b.PushedAt.Compare(a.PushedAt), strings.Compare(b.Name, a.Name))
			})
			for _, t := range match[:min(k.Count, len(match))] {
				keep(t.Name, "policy %d keeps the %d newest tags matching %q", p.ID, k.Count, k.Pattern)
			}
		}
	}
	if !anyTagRules {
		for _, t := range ruled {
			keep(t.Name, "no retention policy here has tag rules")
		}
	}
	return kept
}

func shortestUntagged(policies []RetentionPolicy) Duration {
	var d Duration
	for _, p := range policies {
		if p.UntaggedAfter > 0 && (d == 0 || p.UntaggedAfter < d) {
			d = p.UntaggedAfter
		}
	}
	return d
}

// closure is every manifest reachable from roots through index children and
// from a subject to its referrers.
func closure(repo Repository, roots map[string]string, manifests map[string]*Manifest) map[string]bool {
	referrers := map[string][]string{}
	for _, m := range repo.Manifests {
		if m.Subject != "" {
			referrers[m.Subject] = append(referrers[m.Subject], m.Digest)
		}
	}
	live := map[string]bool{}
	var stack []string
	for d := range roots {
		stack = append(stack, d)
	}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if live[d] {
			continue
		}
		live[d] = true
		if m := manifests[d]; m != nil {
			stack = append(stack, m.Children...)
		}
		stack = append(stack, referrers[d]...)
	}
	return live
}

func whyGone(m Manifest, tagged map[string]bool, parents map[string][]string, manifests map[string]*Manifest, untaggedAfter Duration, now time.Time) string {
	switch {
	case tagged[m.Digest]:
		return "all its tags are removed"
	case manifests[m.Subject] != nil:
		return fmt.Sprintf("referrer of %s, which is removed", m.Subject)
	case len(parents[m.Digest]) > 0:
		return fmt.Sprintf("listed only by %s, which is removed", strings.Join(parents[m.Digest], ", "))
	}
	return fmt.Sprintf("untagged, and neither pushed, pulled nor untagged for %s (more than %s)", idleFor(m, now).Truncate(time.Second), untaggedAfter)
}

// idleFor is how long ago untagged manifest m was last pushed, pulled or
// left by a tag.
func idleFor(m Manifest, now time.Time) time.Duration {
	return now.Sub(laterOf(laterOf(m.CreatedAt, m.PulledAt), m.UntaggedAt))
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
