package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Promotion copies an image from one namespace to another (or to another
// registry) after its gates pass (internal/promotion). The store keeps:
//
//   - each target namespace's promotion policy, the gates per path, as JSON
//     the promotion package encodes and checks (Spec);
//   - promotion requests waiting for approvals, and the approvals;
//   - the promotion records: one row per promotion done or refused, written
//     once and never changed. The tables refuse UPDATE and DELETE
//     themselves (triggers), so no code path, and no administrator with
//     SQL short of dropping the triggers, edits history.
//
// Network rules (CIDR allow-lists for pull and push per namespace) are kept
// here too: they guard what promotion guards, who may write where.

// PromotionPolicy is the gates of promotions into Namespace.
type PromotionPolicy struct {
	Namespace string
	Spec      []byte // JSON, as package promotion encodes it
	UpdatedBy string
	UpdatedAt time.Time
}

// The states of a promotion request.
const (
	RequestPending  = "pending"  // waiting for approvals
	RequestPromoted = "promoted" // approved and promoted
	RequestRefused  = "refused"  // approved, then refused by a gate; a new request starts over
)

// PromotionRequest is a promotion that waits for approvals.
type PromotionRequest struct {
	ID               int64 // assigned by CreatePromotionRequest
	Source           string
	SourceRepository string
	Digest           digest.Digest
	TargetRepository string
	TargetTag        string
	Remote           string // the remote registry's name, "" for this one
	RequestedBy      string
	CreatedAt        time.Time
	State            string
	ClosedAt         time.Time // zero while pending
	RecordID         int64     // the record of the promotion that closed it
	Approvals        []Approval
}

// Approval is one person's approval of a request.
type Approval struct {
	RequestID int64
	Approver  string // e.g. "user:bob"
	Comment   string
	At        time.Time
}

// The results of a promotion record.
const (
	PromotionPromoted = "promoted"
	PromotionRefused  = "refused"
	PromotionFailed   = "failed" // the gates passed but the copy failed (a remote unreachable)
)

// PromotionRecord is the record of one promotion, done or refused.
type PromotionRecord struct {
	ID               int64 // assigned by the store
	At               time.Time
	Actor            string // who asked
	Client           string // the client address of the request
	Source           string // as asked: repository:tag or repository@digest
	SourceRepository string
	Digest           digest.Digest
	TargetRepository string
	TargetTag        string
	Remote           string // the remote registry's name, "" for this one
	RemoteURL        string // where it went, for a remote
	Result           string
	Reason           string // why it was refused or failed
	Gates            []byte // JSON: each gate's result with its evidence
	Approvals        []byte // JSON: the approvals that counted
	Copied           []byte // JSON: the manifests copied (the image, its platforms, its referrers)
	RequestID        int64  // the request it closed, 0 if none
}

// PromotionQuery selects records, newest first. Zero fields do not filter.
type PromotionQuery struct {
	Namespace  string // records whose source or target is in it
	Repository string // records whose source or target repository it is
	Digest     digest.Digest
	TargetTag  string
	Result     string
	BeforeID   int64 // only records with ID < BeforeID: the next page
	N          int   // at most N; 0 means 100
}

// The actions a network rule guards.
const (
	NetworkPull = "pull"
	NetworkPush = "push"
)

// NetworkRule is the CIDR allow-list of one action in one namespace.
type NetworkRule struct {
	Namespace string
	Action    string   // NetworkPull or NetworkPush
	CIDRs     []string // the client must be in one of them
	UpdatedBy string
	UpdatedAt time.Time
}

// Promotions is the part of the metadata store that keeps promotion
// requests, approvals and records, and reads policies and network rules.
// Each method is its own statement but for what [PromotionTx] and
// [PolicyWriter] write; metatest.RunPromotion checks a backend.
type Promotions interface {
	PromotionReader
	// AppendPromotionRecord records rec on its own and returns its ID.
	AppendPromotionRecord(ctx context.Context, rec PromotionRecord) (int64, error)
}

// PolicyWriter changes the promotion policies and network rules of
// namespaces; [Tx] includes it, so that the event recording a change
// commits with it.
type PolicyWriter interface {
	// PutPromotionPolicy stores p, replacing the policy of p.Namespace.
	PutPromotionPolicy(ctx context.Context, p PromotionPolicy) error
	// DeletePromotionPolicy removes the policy of namespace; ErrNotFound
	// if there was none.
	DeletePromotionPolicy(ctx context.Context, namespace string) error
	// PutNetworkRule stores r, replacing the rule of its namespace and
	// action; a rule with no CIDRs is removed.
	PutNetworkRule(ctx context.Context, r NetworkRule) error
}

// PromotionReader reads what [Promotions] keeps.
type PromotionReader interface {
	// PromotionPolicy returns the policy of namespace, or ErrNotFound.
	PromotionPolicy(ctx context.Context, namespace string) (PromotionPolicy, error)
	// PromotionRequest returns request id with its approvals, or ErrNotFound.
	PromotionRequest(ctx context.Context, id int64) (PromotionRequest, error)
	// PendingPromotionRequest returns the pending request to promote d
	// from source repository to target repository and tag (at remote), with
	// its approvals, or ErrNotFound.
	PendingPromotionRequest(ctx context.Context, sourceRepo string, d digest.Digest, targetRepo, tag, remote string) (PromotionRequest, error)
	// PromotionRequests lists the requests in state (every state for ""),
	// newest first, at most n, with their approvals.
	PromotionRequests(ctx context.Context, state string, n int) ([]PromotionRequest, error)
	// PromotionRecord returns record id, or ErrNotFound.
	PromotionRecord(ctx context.Context, id int64) (PromotionRecord, error)
	// PromotionRecords returns the records q selects, newest first.
	PromotionRecords(ctx context.Context, q PromotionQuery) ([]PromotionRecord, error)
	// NetworkRules returns the rules of namespace, sorted by action; an
	// empty list if it has none.
	NetworkRules(ctx context.Context, namespace string) ([]NetworkRule, error)
}

// PromotionTx is implemented by a [Tx] that can write a promotion's record
// in the transaction that copies the image, so that the two commit
// together or not at all; and requests and approvals, with their events.
type PromotionTx interface {
	// AppendPromotionRecord records rec and returns its ID.
	AppendPromotionRecord(ctx context.Context, rec PromotionRecord) (int64, error)
	// ClosePromotionRequest moves request id from pending to state,
	// naming the record that closed it; ErrConflict if it is not pending.
	ClosePromotionRequest(ctx context.Context, id int64, state string, recordID int64) error
	// CreatePromotionRequest records r and returns it with its ID.
	CreatePromotionRequest(ctx context.Context, r PromotionRequest) (PromotionRequest, error)
	// Approve records a's approval of its request, holding the request's
	// row so that it cannot close meanwhile; ErrConflict if the approver
	// approved it already, ErrNotFound if the request is not pending.
	Approve(ctx context.Context, a Approval) error
}
