package promotion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// Record is a promotion record as the API shows it.
type Record struct {
	ID               int64           `json:"id"`
	At               time.Time       `json:"at"`
	Actor            string          `json:"actor"`
	Client           string          `json:"client,omitempty"`
	Source           string          `json:"source"`
	SourceRepository string          `json:"sourceRepository"`
	Digest           digest.Digest   `json:"digest"`
	TargetRepository string          `json:"targetRepository"`
	TargetTag        string          `json:"targetTag,omitempty"`
	Remote           string          `json:"remote,omitempty"`
	RemoteURL        string          `json:"remoteURL,omitempty"`
	Result           string          `json:"result"`
	Reason           string          `json:"reason,omitempty"`
	Gates            json.RawMessage `json:"gates"`
	Approvals        json.RawMessage `json:"approvals"`
	Copied           json.RawMessage `json:"copied"`
	RequestID        int64           `json:"requestId,omitempty"`
}

type approvalJSON struct {
	Approver string    `json:"approver"`
	Comment  string    `json:"comment,omitempty"`
	At       time.Time `json:"at"`
}

func recordOf(r meta.PromotionRecord) *Record {
	raw := func(b []byte) json.RawMessage {
		if len(b) == 0 {
			return json.RawMessage("[]")
		}
		return json.RawMessage(b)
	}
	return &Record{ID: r.ID, At: r.At, Actor: r.Actor, Client: r.Client, Source: r.Source,
		SourceRepository: r.SourceRepository, Digest: r.Digest, TargetRepository: r.TargetRepository,
		TargetTag: r.TargetTag, Remote: r.Remote, RemoteURL: r.RemoteURL, Result: r.Result, Reason: r.Reason,
		Gates: raw(r.Gates), Approvals: raw(r.Approvals), Copied: raw(r.Copied), RequestID: r.RequestID}
}

// Pending is a promotion request as the API shows it.
type Pending struct {
	ID               int64          `json:"id"`
	Source           string         `json:"source"`
	Digest           digest.Digest  `json:"digest"`
	TargetRepository string         `json:"targetRepository"`
	TargetTag        string         `json:"targetTag,omitempty"`
	Remote           string         `json:"remote,omitempty"`
	RequestedBy      string         `json:"requestedBy"`
	CreatedAt        time.Time      `json:"createdAt"`
	State            string         `json:"state"`
	ClosedAt         time.Time      `json:"closedAt,omitzero"`
	RecordID         int64          `json:"recordId,omitempty"`
	Approvals        []approvalJSON `json:"approvals"`
}

func pendingOf(r meta.PromotionRequest) *Pending {
	p := &Pending{ID: r.ID, Source: r.Source, Digest: r.Digest, TargetRepository: r.TargetRepository,
		TargetTag: r.TargetTag, Remote: r.Remote, RequestedBy: r.RequestedBy, CreatedAt: r.CreatedAt,
		State: r.State, ClosedAt: r.ClosedAt, RecordID: r.RecordID, Approvals: []approvalJSON{}}
	for _, a := range r.Approvals {
		p.Approvals = append(p.Approvals, approvalJSON{Approver: a.Approver, Comment: a.Comment, At: a.At})
	}
	return p
}

// Approve records c's approval of pending request id and, when that
// completes the approvals its gates ask for and every other gate still
// passes, promotes the image: the record names the requester as its
// actor and lists the approvals. Only people approve: a user, or a
// personal access token acting for one, who is not the requester and who
// may promote into the target or manage its namespace.
func (s *Service) Approve(ctx context.Context, c access.Caller, id int64, comment string) (Result, error) {
	req, err := s.opts.Store.PromotionRequest(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return Result{}, apierr.New(apierr.NotFound, "promotion request %d not found", id)
	}
	if err != nil {
		return Result{}, fmt.Errorf("read promotion request %d: %w", id, err)
	}
	if !s.maySee(ctx, c, req.TargetRepository) {
		return Result{}, apierr.New(apierr.NotFound, "promotion request %d not found", id)
	}
	if req.State != meta.RequestPending {
		return Result{}, apierr.New(apierr.Conflict, "promotion request %d is %s, not pending", id, req.State)
	}
	approver, err := s.approver(ctx, c, req)
	if err != nil {
		return Result{}, err
	}
	if len(comment) > 1000 {
		return Result{}, apierr.New(apierr.RequestInvalid, "comment: at most 1000 characters")
	}
	t, err := s.parse(Request{Source: req.SourceRepository + "@" + req.Digest.String(), Target: targetOf(req), Remote: req.Remote})
	if err != nil {
		return Result{}, err
	}
	// The approval and its promotion.approved event commit together.
	err = s.opts.Store.Update(ctx, func(tx meta.Tx) error {
		ptx, ok := tx.(meta.PromotionTx)
		if !ok {
			return errors.New("the metadata store cannot record approvals")
		}
		if err := ptx.Approve(ctx, meta.Approval{RequestID: id, Approver: approver, Comment: comment, At: s.now().UTC()}); err != nil {
			return err
		}
		return events.Append(ctx, tx, callerEvent(ctx, c, t.targetRepo, &events.PromotionApproved{Request: id, Digest: req.Digest,
			Tag: t.tag, Remote: req.Remote, Comment: comment}))
	})
	switch {
	case errors.Is(err, meta.ErrConflict):
		return Result{}, apierr.New(apierr.Conflict, "%s approved promotion request %d already", approver, id)
	case errors.Is(err, meta.ErrNotFound):
		return Result{}, apierr.New(apierr.Conflict, "promotion request %d is no longer pending", id)
	case err != nil:
		return Result{}, fmt.Errorf("approve: %w", err)
	}
	if req, err = s.opts.Store.PromotionRequest(ctx, id); err != nil { // with the approval
		return Result{}, fmt.Errorf("read promotion request %d: %w", id, err)
	}
	if err := s.resolve(ctx, t); err != nil {
		return Result{}, err
	}
	t.req.Source = req.Source
	// The requester's own rights are not asked again: they were when the
	// request was made, and the approver's now.
	res, err := s.run(ctx, c, t, req.RequestedBy, req)
	var refused *Refused
	if errors.As(err, &refused) && refused.Result.Record != nil {
		// The approvals were given and a gate failed since: the request
		// is closed, and a new promotion starts over.
		_ = s.opts.Store.Update(ctx, func(tx meta.Tx) error {
			if ptx, ok := tx.(meta.PromotionTx); ok {
				return ptx.ClosePromotionRequest(ctx, id, meta.RequestRefused, refused.Result.Record.ID)
			}
			return nil
		})
	}
	return res, err
}

func targetOf(r meta.PromotionRequest) string {
	if r.TargetTag == "" {
		return r.TargetRepository
	}
	return r.TargetRepository + ":" + r.TargetTag
}

// person names the person c acts for: a user, or the owner of a personal
// access token, as "user:NAME"; a robot or workload as itself.
func person(c access.Caller) string {
	if a := c.Account(); a != "" {
		return "user:" + a
	}
	return c.Principal.String()
}

// approver returns the name c approves as, or why c may not approve req.
func (s *Service) approver(ctx context.Context, c access.Caller, req meta.PromotionRequest) (string, error) {
	if c.Account() == "" && c.Principal.Kind != auth.KindLocal {
		return "", apierr.New(apierr.Denied, "only a person approves a promotion: %s is not a user", c.Principal)
	}
	name := person(c)
	if name == req.RequestedBy {
		return "", apierr.New(apierr.Denied, "%s asked for promotion request %d; a second person approves it", req.RequestedBy, req.ID)
	}
	into := req.TargetRepository
	if req.Remote != "" {
		if rm, ok := s.opts.Remotes[req.Remote]; ok && rm.Policy != "" {
			into = rm.Policy + "/*"
		} else {
			into = oci.Namespace(req.TargetRepository) + "/*"
		}
	}
	ok, err := s.opts.Access.MayPromote(ctx, c.Principal, into)
	if err != nil {
		return "", err
	}
	if !ok {
		if ok, err = s.opts.Access.MayManage(ctx, c, oci.Namespace(req.TargetRepository)); err != nil {
			return "", err
		}
	}
	if !ok {
		return "", apierr.New(apierr.Denied, "%s may not approve promotions into %s: it needs the right to promote there or to manage the namespace", c.Principal, req.TargetRepository)
	}
	return name, nil
}

// maySee reports whether c may see promotions into or out of repo: pull
// from it.
func (s *Service) maySee(ctx context.Context, c access.Caller, repo string) bool {
	d, err := s.opts.Access.Decide(ctx, c.Principal, repo, []auth.Action{auth.ActionPull})
	return err == nil && d.Allows(auth.ActionPull)
}

// Records returns the records q selects that c may see: those whose source
// or target repository c may pull from.
func (s *Service) Records(ctx context.Context, c access.Caller, q meta.PromotionQuery) ([]Record, error) {
	recs, err := s.opts.Store.PromotionRecords(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list promotion records: %w", err)
	}
	out := []Record{}
	for _, r := range recs {
		if s.maySee(ctx, c, r.TargetRepository) || s.maySee(ctx, c, r.SourceRepository) {
			out = append(out, *recordOf(r))
		}
	}
	return out, nil
}

// Record returns record id, if c may see it.
func (s *Service) Record(ctx context.Context, c access.Caller, id int64) (*Record, error) {
	r, err := s.opts.Store.PromotionRecord(ctx, id)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && !s.maySee(ctx, c, r.TargetRepository) && !s.maySee(ctx, c, r.SourceRepository)) {
		return nil, apierr.New(apierr.NotFound, "promotion record %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read promotion record %d: %w", id, err)
	}
	return recordOf(r), nil
}

// Requests lists the requests in state ("" for all) whose target c may see.
func (s *Service) Requests(ctx context.Context, c access.Caller, state string, n int) ([]Pending, error) {
	reqs, err := s.opts.Store.PromotionRequests(ctx, state, n)
	if err != nil {
		return nil, fmt.Errorf("list promotion requests: %w", err)
	}
	out := []Pending{}
	for _, r := range reqs {
		if s.maySee(ctx, c, r.TargetRepository) {
			out = append(out, *pendingOf(r))
		}
	}
	return out, nil
}

// Policy returns the promotion policy of namespace ns, for those who may
// see it; a namespace without one has the zero Policy (every source, no
// gates).
func (s *Service) Policy(ctx context.Context, c access.Caller, ns string) (Policy, error) {
	if !s.maySee(ctx, c, ns+"/*") {
		if ok, _ := s.opts.Access.MayManage(ctx, c, ns); !ok {
			return Policy{}, apierr.New(apierr.NotFound, "namespace %s not found", ns)
		}
	}
	stored, err := s.opts.Store.PromotionPolicy(ctx, ns)
	if errors.Is(err, meta.ErrNotFound) {
		return Policy{}, nil
	}
	if err != nil {
		return Policy{}, fmt.Errorf("read the promotion policy of %s: %w", ns, err)
	}
	return ParsePolicy(stored.Spec)
}

// SetPolicy replaces the promotion policy of ns; only those who manage ns
// may. A nil p removes it.
func (s *Service) SetPolicy(ctx context.Context, c access.Caller, ns string, p *Policy) error {
	if err := oci.ValidateNamespace(ns); err != nil {
		return apierr.New(apierr.RequestInvalid, "%v", err)
	}
	ok, err := s.opts.Access.MayManage(ctx, c, ns)
	if err != nil {
		return err
	}
	if !ok {
		return apierr.New(apierr.Denied, "%s may not manage namespace %s", c.Principal, ns)
	}
	if p == nil {
		err := s.opts.Store.Update(ctx, func(tx meta.Tx) error {
			if err := tx.DeletePromotionPolicy(ctx, ns); err != nil {
				return err
			}
			return events.Append(ctx, tx, policyChanged(ctx, ns, events.ChangeDeleted, ""))
		})
		if errors.Is(err, meta.ErrNotFound) {
			return nil
		}
		return err
	}
	if err := p.Normalize(); err != nil {
		return apierr.New(apierr.RequestInvalid, "%v", err)
	}
	spec, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.opts.Store.Update(ctx, func(tx meta.Tx) error {
		if err := tx.PutPromotionPolicy(ctx, meta.PromotionPolicy{Namespace: ns, Spec: spec,
			UpdatedBy: c.Principal.String(), UpdatedAt: s.now().UTC()}); err != nil {
			return err
		}
		return events.Append(ctx, tx, policyChanged(ctx, ns, events.ChangeUpdated, string(spec)))
	})
}

// policyChanged is the event of a change of the promotion policy of ns,
// by the actor ctx carries.
func policyChanged(ctx context.Context, ns, change, spec string) events.Event {
	return events.New(ctx, "", &events.PolicyChanged{Policy: events.PolicyPromotion, Change: change, Scope: ns, Rule: spec}).InNamespace(ns)
}
