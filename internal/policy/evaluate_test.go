package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func daysAgo(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }

func sha(i int) string { return fmt.Sprintf("%040x", i) }

// repoOf builds a repository where tag i names manifest "m:<tag>", pushed
// days[i] days ago.
func repoOf(tags map[string]int) Repository {
	r := Repository{Name: "team/app"}
	for name, age := range tags {
		d := "m:" + name
		r.Tags = append(r.Tags, Tag{Name: name, Digest: d, PushedAt: daysAgo(age)})
		r.Manifests = append(r.Manifests, Manifest{Digest: d, CreatedAt: daysAgo(age)})
	}
	return r
}

// summary is a plan as "-tag", "-@digest" and "+tag" strings, sorted.
func summary(p Plan) []string {
	var out []string
	for _, d := range p.Deletions {
		if d.Kind == KindTag {
			out = append(out, "-"+d.Tag)
		} else {
			out = append(out, "-@"+d.Digest)
		}
	}
	for _, k := range p.Kept {
		out = append(out, "+"+k.Tag)
	}
	slices.Sort(out)
	return out
}

func TestEvaluateTagRules(t *testing.T) {
	shas := map[string]int{sha(1): 1, sha(2): 2, sha(3): 3, sha(4): 40}
	tests := []struct {
		name     string
		tags     map[string]int
		policies []RetentionPolicy
		want     []string
	}{
		{
			name:     "keep the 2 newest commit SHAs",
			tags:     shas,
			policies: []RetentionPolicy{{ID: 1, KeepLast: []KeepLast{{"re:[0-9a-f]{40}", 2}}}},
			want:     []string{"+" + sha(1), "+" + sha(2), "-" + sha(3), "-" + sha(4), "-@m:" + sha(3), "-@m:" + sha(4)},
		},
		{
			name:     "a tag no rule names is removed",
			tags:     map[string]int{"latest": 100, sha(1): 1},
			policies: []RetentionPolicy{{ID: 1, KeepLast: []KeepLast{{"re:[0-9a-f]{40}", 5}}}},
			want:     []string{"+" + sha(1), "-latest", "-@m:latest"},
		},
		{
			name:     "always keep latest and semver",
			tags:     map[string]int{"latest": 100, "v1.2.3": 300, "v1.2.3-rc.1": 301, "dev": 1},
			policies: []RetentionPolicy{{ID: 1, Keep: []string{"latest", "semver"}}},
			want:     []string{"+latest", "+v1.2.3", "+v1.2.3-rc.1", "-dev", "-@m:dev"},
		},
		{
			name:     "keep within 30 days of push",
			tags:     map[string]int{"a": 29, "b": 30, "c": 31},
			policies: []RetentionPolicy{{ID: 1, KeepWithin: Duration(30 * 24 * time.Hour)}},
			want:     []string{"+a", "+b", "-c", "-@m:c"},
		},
		{
			name:     "rules of two policies add up",
			tags:     map[string]int{"latest": 100, "old": 90, "new": 1},
			policies: []RetentionPolicy{{ID: 1, Keep: []string{"latest"}}, {ID: 2, KeepWithin: Duration(7 * 24 * time.Hour)}},
			want:     []string{"+latest", "+new", "-old", "-@m:old"},
		},
		{
			name:     "no tag rules remove no tags",
			tags:     map[string]int{"a": 1000},
			policies: []RetentionPolicy{{ID: 1, UntaggedAfter: Duration(time.Hour)}},
			want:     []string{"+a"},
		},
		{
			name: "no policies at all",
			tags: map[string]int{"a": 1000},
			want: []string{"+a"},
		},
		{
			name:     "keepLast ties on push time break by name, newest name first",
			tags:     map[string]int{"b1": 5, "b2": 5, "b3": 5},
			policies: []RetentionPolicy{{ID: 1, KeepLast: []KeepLast{{"b*", 2}}}},
			want:     []string{"+b2", "+b3", "-b1", "-@m:b1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summary(Evaluate(repoOf(tt.tags), tt.policies, nil, now))
			slices.Sort(tt.want)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateKeepsPulledTags(t *testing.T) {
	r := repoOf(map[string]int{"pulled": 100, "idle": 100})
	r.Manifests[slices.IndexFunc(r.Manifests, func(m Manifest) bool { return m.Digest == "m:pulled" })].PulledAt = daysAgo(2)
	p := Evaluate(r, []RetentionPolicy{{ID: 1, KeepWithin: Duration(7 * 24 * time.Hour)}}, nil, now)
	want := []string{"+pulled", "-@m:idle", "-idle"}
	if diff := cmp.Diff(want, summary(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if k := p.Kept[0]; !strings.Contains(k.Reason, "pushed or pulled within 7d") {
		t.Errorf("reason = %q", k.Reason)
	}
}

func TestEvaluateImmutableTagsStay(t *testing.T) {
	r := repoOf(map[string]int{"v1.0.0": 1000, "dev": 1000})
	rules := []ImmutabilityRule{{ID: 7, Namespace: "team", Pattern: "v*"}}
	p := Evaluate(r, []RetentionPolicy{{ID: 1, KeepLast: []KeepLast{{"nomatch", 1}}}}, rules, now)
	want := []string{"+v1.0.0", "-@m:dev", "-dev"}
	if diff := cmp.Diff(want, summary(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if !strings.Contains(p.Kept[0].Reason, "immutability rule 7") {
		t.Errorf("reason = %q", p.Kept[0].Reason)
	}
}

// An image index, its children, and a signature and SBOM of the index: the
// referrers and children go with the index, children another kept index
// lists stay.
func TestEvaluateReferrersAndChildrenFollow(t *testing.T) {
	r := Repository{
		Name: "team/app",
		Tags: []Tag{
			{Name: "old", Digest: "idx1", PushedAt: daysAgo(100)},
			{Name: "new", Digest: "idx2", PushedAt: daysAgo(1)},
		},
		Manifests: []Manifest{
			{Digest: "idx1", Children: []string{"amd64-1", "shared"}, CreatedAt: daysAgo(100)},
			{Digest: "idx2", Children: []string{"amd64-2", "shared"}, CreatedAt: daysAgo(1)},
			{Digest: "amd64-1", CreatedAt: daysAgo(100)},
			{Digest: "amd64-2", CreatedAt: daysAgo(1)},
			{Digest: "shared", CreatedAt: daysAgo(100)},
			{Digest: "sig1", Subject: "idx1", CreatedAt: daysAgo(100)},
			{Digest: "sbom1", Subject: "idx1", CreatedAt: daysAgo(100)},
			{Digest: "sig-of-sig1", Subject: "sig1", CreatedAt: daysAgo(100)},
			{Digest: "sig2", Subject: "idx2", CreatedAt: daysAgo(1)},
		},
	}
	p := Evaluate(r, []RetentionPolicy{{ID: 1, KeepLast: []KeepLast{{"*", 1}}}}, nil, now)
	want := []string{"+new", "-@amd64-1", "-@idx1", "-@sbom1", "-@sig-of-sig1", "-@sig1", "-old"}
	slices.Sort(want)
	if diff := cmp.Diff(want, summary(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	reasons := map[string]string{}
	for _, d := range p.Deletions {
		reasons[d.Digest+d.Tag] = d.Reason
	}
	for key, want := range map[string]string{
		"idx1":    "all its tags are removed",
		"sig1":    "referrer of idx1",
		"amd64-1": "listed only by idx1",
		"idx1old": "no retention rule keeps it",
	} {
		if !strings.Contains(reasons[key], want) {
			t.Errorf("reason for %s = %q; want %q", key, reasons[key], want)
		}
	}
}

func TestEvaluateUntagged(t *testing.T) {
	r := Repository{
		Name: "team/app",
		Tags: []Tag{{Name: "kept", Digest: "tagged", PushedAt: daysAgo(50)}},
		Manifests: []Manifest{
			{Digest: "tagged", CreatedAt: daysAgo(50)},
			{Digest: "old", CreatedAt: daysAgo(10)},
			{Digest: "old-but-pulled", CreatedAt: daysAgo(10), PulledAt: daysAgo(1)},
			{Digest: "old-but-just-untagged", CreatedAt: daysAgo(100), UntaggedAt: daysAgo(2)},
			{Digest: "old-untagged-long-ago", CreatedAt: daysAgo(100), UntaggedAt: daysAgo(8)},
			{Digest: "young", CreatedAt: daysAgo(1)},
			{Digest: "old-index", Children: []string{"old-child"}, CreatedAt: daysAgo(10)},
			{Digest: "old-child", CreatedAt: daysAgo(1)},
			{Digest: "old-sig-of-tagged", Subject: "tagged", CreatedAt: daysAgo(10)},
			{Digest: "orphan-sig", Subject: "absent", CreatedAt: daysAgo(10)},
		},
	}
	week := Duration(7 * 24 * time.Hour)
	p := Evaluate(r, []RetentionPolicy{{ID: 1, UntaggedAfter: week}, {ID: 2, UntaggedAfter: 4 * week}}, nil, now)
	want := []string{"+kept", "-@old", "-@old-child", "-@old-index", "-@old-untagged-long-ago", "-@orphan-sig"}
	if diff := cmp.Diff(want, summary(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	for _, d := range p.Deletions {
		if d.Digest == "old" && !strings.Contains(d.Reason, "more than 7d") {
			t.Errorf("reason = %q", d.Reason)
		}
	}
	// Without an untagged rule nothing untagged goes.
	if p := Evaluate(r, []RetentionPolicy{{ID: 1, Keep: []string{"kept"}}}, nil, now); len(p.Deletions) != 0 {
		t.Errorf("deletions without an untagged rule: %v", p.Deletions)
	}
}

func TestRetentionPolicyValidate(t *testing.T) {
	tests := []struct {
		p    RetentionPolicy
		want []string // nil: valid
	}{
		{RetentionPolicy{Scope: "team", KeepLast: []KeepLast{{"re:[0-9a-f]{40}", 50}}, Keep: []string{"latest", "semver"}}, nil},
		{RetentionPolicy{Scope: "team/app-*", UntaggedAfter: Duration(time.Hour)}, nil},
		{RetentionPolicy{Scope: "team", KeepLast: []KeepLast{{"*", -1}}}, []string{"keepLast[0].count: must be at least 1, got -1"}},
		{RetentionPolicy{Scope: "team", KeepLast: []KeepLast{{"*", 0}}}, []string{"keepLast[0].count"}},
		{RetentionPolicy{Scope: "team", KeepLast: []KeepLast{{"re:[", 1}}}, []string{"keepLast[0].pattern: invalid tag pattern"}},
		{RetentionPolicy{Scope: "team", Keep: []string{"ok", ""}}, []string{"keep[1]: invalid tag pattern"}},
		{RetentionPolicy{Scope: "team", KeepWithin: Duration(-time.Hour)}, []string{"keepWithin: must not be negative"}},
		{RetentionPolicy{Scope: "team", UntaggedAfter: Duration(-time.Hour)}, []string{"untaggedAfter: must not be negative"}},
		{RetentionPolicy{Scope: "team"}, []string{"the policy has no rules"}},
		{RetentionPolicy{Scope: "", Keep: []string{"x"}}, []string{"scope: must not be empty"}},
		{RetentionPolicy{Scope: "Team/App", Keep: []string{"x"}}, []string{"scope:"}},
		{RetentionPolicy{Scope: "team", KeepLast: []KeepLast{{"", -2}}}, []string{"keepLast[0].pattern", "keepLast[0].count"}},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if tt.want == nil {
			if err != nil {
				t.Errorf("%+v.Validate() = %v", tt.p, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%+v.Validate() = nil; want %q", tt.p, tt.want)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v.Validate() = %v; want it to say %q", tt.p, err, w)
			}
		}
	}
}

func TestApplicable(t *testing.T) {
	ps := []RetentionPolicy{{ID: 1, Scope: "team"}, {ID: 2, Scope: "team/web*"}, {ID: 3, Scope: "other"}}
	var ids []int64
	for _, p := range Applicable(ps, "team/web-ui") {
		ids = append(ids, p.ID)
	}
	if !slices.Equal(ids, []int64{1, 2}) {
		t.Errorf("Applicable = %v", ids)
	}
}
