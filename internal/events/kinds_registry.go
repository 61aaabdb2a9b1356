package events

import (
	"fmt"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
)

// reference names a manifest of repo for the audit log: repo:tag when a tag
// named it, repo@digest otherwise.
func reference(repo, tag string, d digest.Digest) string {
	if tag != "" {
		return repo + ":" + tag
	}
	return repo + "@" + d.String()
}

// Platform is a platform an index lists.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
	OSVersion    string `json:"osVersion,omitempty"`
}

// ArtifactPushed: a manifest was pushed into the repository (stored, or
// stored again), under Tags if it was pushed by tag.
type ArtifactPushed struct {
	Digest       digest.Digest `json:"digest"`
	MediaType    string        `json:"mediaType"`
	ArtifactType string        `json:"artifactType,omitempty"`
	Size         int64         `json:"size"`
	Tags         []string      `json:"tags,omitempty"`
	// Platforms are those an index lists; an image manifest's platform
	// is in its config, which a push does not read.
	Platforms []Platform    `json:"platforms,omitempty"`
	Subject   digest.Digest `json:"subject,omitempty"` // the manifest it refers to, for a referrer
}

func (ArtifactPushed) Kind() Kind { return KindArtifactPushed }

func (d ArtifactPushed) Audit(e *Event) Audit {
	tag := ""
	if len(d.Tags) > 0 {
		tag = d.Tags[0]
	}
	return Audit{Action: "push", Target: reference(e.Repository, tag, d.Digest), Detail: d.Digest.String()}
}

// ArtifactPulled: an actor pulled (GET) a manifest Count times between
// First and Last. Pulls are counted in memory and written every
// events.pullWindow, one event per repository, manifest, tag and actor.
type ArtifactPulled struct {
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"`
	Tag       string        `json:"tag,omitempty"` // the tag it was pulled by, if any
	Count     int           `json:"count"`
	First     time.Time     `json:"first"`
	Last      time.Time     `json:"last"`
	// Clients are the addresses it was pulled from, at most 10; the
	// actor's client is the first.
	Clients []string `json:"clients,omitempty"`
}

func (ArtifactPulled) Kind() Kind { return KindArtifactPulled }

func (d ArtifactPulled) Audit(e *Event) Audit {
	return Audit{Action: "pull", Target: reference(e.Repository, d.Tag, d.Digest), Detail: d.Digest.String()}
}

// ArtifactDeleted: a manifest was deleted, with the tags that named it.
type ArtifactDeleted struct {
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType,omitempty"`
	Tags      []string      `json:"tags,omitempty"`
	Reason    string        `json:"reason,omitempty"` // why retention deleted it
}

func (ArtifactDeleted) Kind() Kind { return KindArtifactDeleted }

func (d ArtifactDeleted) Audit(e *Event) Audit {
	return Audit{Action: "manifest.delete", Target: reference(e.Repository, "", d.Digest), Detail: d.Reason}
}

// TagMoved: a tag now names another manifest. A push over an existing tag
// reports it besides ArtifactPushed; an import or a promotion reports new
// tags this way too, with no Previous.
type TagMoved struct {
	Tag      string        `json:"tag"`
	Digest   digest.Digest `json:"digest"`
	Previous digest.Digest `json:"previous,omitempty"`
}

func (TagMoved) Kind() Kind { return KindTagMoved }

func (d TagMoved) Audit(e *Event) Audit {
	detail := d.Digest.String()
	if d.Previous != "" {
		detail = d.Previous.String() + " -> " + detail
	}
	return Audit{Action: "tag.move", Target: reference(e.Repository, d.Tag, ""), Detail: detail}
}

// TagDeleted: a tag was deleted (the manifest it named stays).
type TagDeleted struct {
	Tag    string        `json:"tag"`
	Digest digest.Digest `json:"digest"`
	Reason string        `json:"reason,omitempty"` // why retention deleted it
}

func (TagDeleted) Kind() Kind { return KindTagDeleted }

func (d TagDeleted) Audit(e *Event) Audit {
	return Audit{Action: "tag.delete", Target: reference(e.Repository, d.Tag, ""), Detail: d.Reason}
}

// BlobDeleted: a repository's link to a blob was deleted (DELETE on
// /v2/NAME/blobs/DIGEST); the bytes go when no repository links them.
type BlobDeleted struct {
	Digest digest.Digest `json:"digest"`
}

func (BlobDeleted) Kind() Kind { return KindBlobDeleted }

func (d BlobDeleted) Audit(e *Event) Audit {
	return Audit{Action: "blob.delete", Target: reference(e.Repository, "", d.Digest)}
}

// RepositoryCreated: the first manifest was pushed into a repository that
// held none.
type RepositoryCreated struct{}

func (RepositoryCreated) Kind() Kind { return KindRepositoryCreated }

func (RepositoryCreated) Audit(e *Event) Audit {
	return Audit{Action: "repository.create", Target: e.Repository}
}

// RepositoryDeleted: the last manifest of a repository was deleted.
type RepositoryDeleted struct{}

func (RepositoryDeleted) Kind() Kind { return KindRepositoryDeleted }

func (RepositoryDeleted) Audit(e *Event) Audit {
	return Audit{Action: "repository.delete", Target: e.Repository}
}

// QuotaExceeded: a write into the namespace was refused because it would
// exceed the namespace's quota. Operation is "upload", "mount" or
// "manifest"; Digest is what was refused.
type QuotaExceeded struct {
	Operation   string        `json:"operation"`
	Digest      digest.Digest `json:"digest,omitempty"`
	Tag         string        `json:"tag,omitempty"`
	LimitBytes  int64         `json:"limitBytes"`
	UsedBytes   int64         `json:"usedBytes"`
	AddingBytes int64         `json:"addingBytes"`
}

func (QuotaExceeded) Kind() Kind { return KindQuotaExceeded }

func (d QuotaExceeded) Audit(e *Event) Audit {
	return Audit{Action: "quota.exceed", Target: e.Repository, Result: "denied",
		Detail: fmt.Sprintf("%s of %d bytes refused: %d of %d bytes used", d.Operation, d.AddingBytes, d.UsedBytes, d.LimitBytes)}
}

// QuotaWarning: a write took the namespace's usage to Percent of its quota
// or more (events.quotaWarningPercent), from below it.
type QuotaWarning struct {
	Percent    int           `json:"percent"`
	LimitBytes int64         `json:"limitBytes"`
	UsedBytes  int64         `json:"usedBytes"`
	Digest     digest.Digest `json:"digest,omitempty"` // what took it over
	Tag        string        `json:"tag,omitempty"`
}

func (QuotaWarning) Kind() Kind { return KindQuotaWarning }

func (d QuotaWarning) Audit(e *Event) Audit {
	return Audit{Action: "quota.warn", Target: e.Namespace,
		Detail: fmt.Sprintf("%d of %d bytes used (warning at %d%%)", d.UsedBytes, d.LimitBytes, d.Percent)}
}

// The policies of [PolicyChanged].
const (
	PolicyImmutability = "immutability"
	PolicyRetention    = "retention"
	PolicyQuota        = "quota"
	PolicyPromotion    = "promotion" // a namespace's promotion policy
	PolicyAllowlist    = "allowlist" // an entry of the vulnerability allowlist
	PolicyNetwork      = "network"   // a namespace's network rules
	PolicyTrust        = "trust"     // what a namespace trusts: keys, identities
	PolicyImage        = "image"     // a namespace's image policy
	PolicyUpstream     = "upstream"  // the upstream of a pull-through cache namespace
)

// policyActions are the audit actions (PREFIX.set, PREFIX.delete) of the
// policies set and deleted whole.
var policyActions = map[string]string{
	PolicyPromotion: "promotion-policy",
	PolicyNetwork:   "network-rules",
	PolicyTrust:     "trust",
	PolicyImage:     "image-policy",
	PolicyUpstream:  "upstream",
}

// The changes of [PolicyChanged] and of the other *Changed kinds.
const (
	ChangeCreated = "created"
	ChangeUpdated = "updated"
	ChangeDeleted = "deleted"
)

// PolicyChanged: an immutability rule, retention policy or quota was
// created, updated or deleted. Scope is the namespace (immutability,
// quota) or the retention policy's scope; Rule is the pattern, the
// retention policy's JSON or the quota's limit.
type PolicyChanged struct {
	Policy string `json:"policy"`
	Change string `json:"change"`
	ID     int64  `json:"id,omitempty"`
	Scope  string `json:"scope"`
	Rule   string `json:"rule,omitempty"`
}

func (PolicyChanged) Kind() Kind { return KindPolicyChanged }

// Audit keeps the actions the audit log had before it was a view of the
// stream.
func (d PolicyChanged) Audit(*Event) Audit {
	id := strconv.FormatInt(d.ID, 10)
	switch d.Policy + "." + d.Change {
	case PolicyImmutability + "." + ChangeCreated:
		return Audit{Action: "immutability.add", Target: d.Scope, Detail: d.Rule}
	case PolicyImmutability + "." + ChangeDeleted:
		return Audit{Action: "immutability.delete", Target: d.Scope, Detail: id}
	case PolicyRetention + "." + ChangeCreated:
		return Audit{Action: "retention.create", Target: d.Scope, Detail: id}
	case PolicyRetention + "." + ChangeUpdated:
		return Audit{Action: "retention.update", Target: d.Scope, Detail: id}
	case PolicyRetention + "." + ChangeDeleted:
		return Audit{Action: "retention.delete", Target: id, Detail: d.Scope}
	case PolicyQuota + "." + ChangeDeleted:
		return Audit{Action: "quota.delete", Target: d.Scope}
	case PolicyAllowlist + "." + ChangeCreated:
		return Audit{Action: "allowlist.add", Target: d.Scope, Detail: d.Rule}
	case PolicyAllowlist + "." + ChangeDeleted:
		return Audit{Action: "allowlist.delete", Target: d.Scope, Detail: d.Rule}
	}
	if prefix, ok := policyActions[d.Policy]; ok {
		if d.Change == ChangeDeleted {
			return Audit{Action: prefix + ".delete", Target: d.Scope}
		}
		return Audit{Action: prefix + ".set", Target: d.Scope, Detail: d.Rule}
	}
	return Audit{Action: "quota.set", Target: d.Scope, Detail: d.Rule}
}

// RetentionRun: a retention run finished (or, with DryRun, a preview of
// every policy). The deletions themselves are TagDeleted and
// ArtifactDeleted events of actor system:retention (or the caller who ran
// it), one per deletion, written with each deletion.
type RetentionRun struct {
	DryRun           bool     `json:"dryRun,omitempty"`
	Repositories     int      `json:"repositories"` // evaluated
	TagsDeleted      int      `json:"tagsDeleted"`
	ManifestsDeleted int      `json:"manifestsDeleted"`
	Kept             int      `json:"kept"`              // tags the policies keep
	Skipped          []string `json:"skipped,omitempty"` // changed during the run; evaluated again next time
	Error            string   `json:"error,omitempty"`
}

func (RetentionRun) Kind() Kind { return KindRetentionRun }

func (d RetentionRun) Audit(*Event) Audit {
	a := Audit{Action: "retention.run", Target: "*",
		Detail: fmt.Sprintf("%d deletions: %d tags and %d manifests in %d repositories", d.TagsDeleted+d.ManifestsDeleted, d.TagsDeleted, d.ManifestsDeleted, d.Repositories)}
	if d.Error != "" {
		a.Result, a.Detail = "failed", d.Error
	}
	return a
}

// GCRun: a garbage collection run finished. Its deletions are counted
// here, not reported one by one.
type GCRun struct {
	DryRun           bool          `json:"dryRun,omitempty"`
	Reviewed         int           `json:"reviewed"`
	BlobsDeleted     int           `json:"blobsDeleted"`
	ManifestsDeleted int           `json:"manifestsDeleted"`
	BytesFreed       int64         `json:"bytesFreed"`
	Errors           int           `json:"errors,omitempty"`
	Duration         time.Duration `json:"durationNanos"`
	Error            string        `json:"error,omitempty"`
}

func (GCRun) Kind() Kind { return KindGCRun }

func (d GCRun) Audit(*Event) Audit {
	a := Audit{Action: "gc.run", Target: "gc", Detail: strconv.FormatInt(d.BytesFreed, 10) + " bytes freed"}
	if d.Error != "" {
		a.Result, a.Detail = "failed", d.Error
	}
	return a
}
