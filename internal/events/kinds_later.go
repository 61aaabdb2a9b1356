package events

import (
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// The kinds of the features built on the stream: scanning, signature
// verification, promotion and replication. Each is registered here, with
// its data, so that the feature that records it has a kind to write and
// subscribers a kind to ask for from the start.

// ScanCompleted: a scan of a manifest ended (Status "scanned", "failed"
// or "unsupported": not a container image). Vulnerabilities counts what it
// found by severity.
type ScanCompleted struct {
	Digest          digest.Digest  `json:"digest"`
	Tag             string         `json:"tag,omitempty"`
	Scanner         string         `json:"scanner"`
	Status          string         `json:"status"`
	Vulnerabilities map[string]int `json:"vulnerabilities,omitempty"` // "critical", "high", "medium", "low", "unknown"
	Error           string         `json:"error,omitempty"`
	Duration        time.Duration  `json:"durationNanos,omitempty"`
}

func (ScanCompleted) Kind() Kind { return KindScanCompleted }

func (d ScanCompleted) Audit(e *Event) Audit {
	a := Audit{Action: "scan", Target: reference(e.Repository, d.Tag, d.Digest), Detail: d.Scanner}
	if d.Status == "failed" {
		a.Result, a.Detail = "failed", d.Error
	}
	return a
}

// ScanRequested: a scan of Reference (a tag or digest) of the event's
// repository was asked for; its result is a scan.completed event.
type ScanRequested struct {
	Reference string `json:"reference"`
}

func (ScanRequested) Kind() Kind { return KindScanRequested }

func (d ScanRequested) Audit(e *Event) Audit {
	return Audit{Action: "scan.request", Target: e.Repository + ":" + d.Reference}
}

// SignatureVerified: the signatures of a manifest were checked against a
// trust policy: Verified says whether one satisfied it, Signer who signed
// (a key's name, a certificate's identity), Reason why none did.
type SignatureVerified struct {
	Digest   digest.Digest `json:"digest"`
	Tag      string        `json:"tag,omitempty"`
	Format   string        `json:"format"` // "cosign", "notation"
	Verified bool          `json:"verified"`
	Signer   string        `json:"signer,omitempty"`
	Policy   string        `json:"policy,omitempty"`
	Reason   string        `json:"reason,omitempty"`
}

func (SignatureVerified) Kind() Kind { return KindSignatureVerified }

func (d SignatureVerified) Audit(e *Event) Audit {
	a := Audit{Action: "signature.verify", Target: reference(e.Repository, d.Tag, d.Digest), Detail: d.Signer}
	if !d.Verified {
		a.Result, a.Detail = "failed", d.Reason
	}
	return a
}

// ArtifactPromoted: a manifest of From was promoted into the event's
// repository, under Tags: within the registry (written in the copy's
// transaction), or to the repository of a remote registry (Remote, its
// name; written once the copy ended). Policy names the rule or gate that
// allowed it, if any.
type ArtifactPromoted struct {
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType,omitempty"`
	From      string        `json:"from"`
	FromTag   string        `json:"fromTag,omitempty"`
	Tags      []string      `json:"tags,omitempty"`
	Remote    string        `json:"remote,omitempty"`
	Policy    string        `json:"policy,omitempty"`
}

func (ArtifactPromoted) Kind() Kind { return KindArtifactPromoted }

func (d ArtifactPromoted) Audit(e *Event) Audit {
	tag := ""
	if len(d.Tags) > 0 {
		tag = d.Tags[0]
	}
	target := reference(e.Repository, tag, d.Digest)
	if d.Remote != "" {
		target = d.Remote + ":" + target
	}
	return Audit{Action: "promote", Target: target, Detail: reference(d.From, d.FromTag, d.Digest)}
}

// PromotionRequested: a promotion into the event's repository waits for
// approvals, as request Request.
type PromotionRequested struct {
	Request int64         `json:"request"`
	Digest  digest.Digest `json:"digest"`
	From    string        `json:"from"`
	Tag     string        `json:"tag,omitempty"`
	Remote  string        `json:"remote,omitempty"`
}

func (PromotionRequested) Kind() Kind { return KindPromotionRequested }

func (d PromotionRequested) Audit(e *Event) Audit {
	return Audit{Action: "promotion.request", Target: reference(e.Repository, d.Tag, d.Digest), Detail: "request " + strconv.FormatInt(d.Request, 10)}
}

// PromotionApproved: the actor approved promotion request Request.
type PromotionApproved struct {
	Request int64         `json:"request"`
	Digest  digest.Digest `json:"digest"`
	Tag     string        `json:"tag,omitempty"`
	Remote  string        `json:"remote,omitempty"`
	Comment string        `json:"comment,omitempty"`
}

func (PromotionApproved) Kind() Kind { return KindPromotionApproved }

func (d PromotionApproved) Audit(e *Event) Audit {
	return Audit{Action: "promotion.approve", Target: reference(e.Repository, d.Tag, d.Digest),
		Detail: strings.TrimSpace("request " + strconv.FormatInt(d.Request, 10) + ": " + d.Comment)}
}

// ReplicationRuleChanged: a replication rule was created, updated or
// deleted. Its remote's credentials are never part of an event.
type ReplicationRuleChanged struct {
	Change    string `json:"change"`
	ID        int64  `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Direction string `json:"direction,omitempty"` // "push", "pull"
	Remote    string `json:"remote,omitempty"`    // the remote registry's URL
}

func (ReplicationRuleChanged) Kind() Kind { return KindReplicationRuleChanged }

// Audit keeps the actions the audit log had before it was a view of the
// stream.
func (d ReplicationRuleChanged) Audit(*Event) Audit {
	target := d.Name
	if target == "" || d.Change != ChangeCreated {
		target = strconv.FormatInt(d.ID, 10)
	}
	return Audit{Action: "replication.rule." + strings.TrimSuffix(d.Change, "d"), Target: target, Detail: strings.TrimSpace(d.Direction + " " + d.Remote)}
}

// ReplicationRun: a run of a replication rule was started on request
// (State "queued"), or ended: "succeeded", "partial" (some artifacts
// failed), "failed" or "cancelled", with what it did.
type ReplicationRun struct {
	Rule     int64         `json:"rule"`
	Name     string        `json:"name,omitempty"`
	Run      int64         `json:"run"`
	Trigger  string        `json:"trigger,omitempty"` // "manual", "schedule", "event", "reconcile"
	State    string        `json:"state"`
	Copied   int64         `json:"copied,omitempty"`
	Skipped  int64         `json:"skipped,omitempty"`
	Deleted  int64         `json:"deleted,omitempty"`
	Failed   int64         `json:"failed,omitempty"`
	Bytes    int64         `json:"bytes,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"durationNanos,omitempty"`
}

func (ReplicationRun) Kind() Kind { return KindReplicationRun }

func (d ReplicationRun) Audit(*Event) Audit {
	a := Audit{Action: "replication.run", Target: strconv.FormatInt(d.Rule, 10), Detail: d.State}
	if d.State == "failed" {
		a.Result, a.Detail = "failed", d.Error
	}
	return a
}
