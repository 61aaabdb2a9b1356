package promotion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
)

// Store is what the service needs of the metadata store.
type Store interface {
	meta.Store
	meta.Promotions
}

// Options configures a [Service].
type Options struct {
	Registry *registry.Registry
	Store    Store
	Access   *access.Service
	// Network, if set, applies the network rules to the caller's address:
	// the source namespace's pull rules and the target's push rules.
	Network *access.Network
	// Signatures and Scans answer the signature and scan gates; nil
	// makes the gate refuse, saying that the registry has nothing to
	// judge by.
	Signatures Signatures
	Scans      Scans
	// Remotes are the registries images may be promoted to, by name.
	Remotes map[string]Remote
	Logger  *slog.Logger
	Now     func() time.Time
	// Promoted, if set, is called in the transaction of every promotion
	// within the registry, after its record: the event stream's hook.
	Promoted func(ctx context.Context, tx meta.Tx, rec meta.PromotionRecord) error
}

// Service promotes images. It is safe for concurrent use.
type Service struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{opts: o, log: o.Logger, now: o.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Request asks for one promotion.
type Request struct {
	// Source is "repository@digest" or "repository:tag"; a tag is
	// resolved to its digest once, at the start.
	Source string `json:"source"`
	// Target is "repository:tag", or "repository" to copy by digest
	// only.
	Target string `json:"target"`
	// Remote names a configured remote registry to promote to; "" is
	// this one.
	Remote string `json:"remote,omitempty"`
}

// The outcomes of a promotion.
const (
	StatePromoted = "promoted"
	StateRefused  = "refused"
	StatePending  = "pending" // waiting for approvals
	StateFailed   = "failed"
)

// Result is what a promotion did.
type Result struct {
	State   string                      `json:"state"`
	Record  *Record                     `json:"record,omitempty"`
	Pending *Pending                    `json:"request,omitempty"`
	Gates   []GateResult                `json:"gates"`
	Copied  []registry.PromotedManifest `json:"copied,omitempty"`
}

// Refused is the error of a promotion a gate refused: every failed gate,
// with the record of the refusal.
type Refused struct {
	Result Result
}

func (e *Refused) Error() string {
	var msgs []string
	for _, g := range failed(e.Result.Gates) {
		msgs = append(msgs, g.Gate+": "+g.Message)
	}
	return "promotion refused: " + strings.Join(msgs, "; ")
}

func (e *Refused) Unwrap() error { return errRefused }

// target is a parsed promotion: what goes where.
type target struct {
	req        Request
	sourceRepo string
	digest     digest.Digest
	targetRepo string
	tag        string
	ref        oci.Reference // the source's reference as asked
	remote     *Remote
	policyNS   string // the namespace whose policy gates the promotion
}

// parse reads req: names and the remote. It reads nothing of the source:
// [Service.resolve] does, once the caller may see it.
func (s *Service) parse(req Request) (*target, error) {
	t := &target{req: req}
	var err error
	t.sourceRepo, t.ref, err = splitReference(req.Source, "source")
	if err != nil {
		return nil, err
	}
	var tref oci.Reference
	t.targetRepo, tref, err = splitReference(req.Target, "target")
	if err != nil {
		return nil, err
	}
	if tref.Digest != "" {
		return nil, apierr.New(apierr.RequestInvalid, "target %q: name a tag (repository:tag) or only the repository, not a digest", req.Target)
	}
	t.tag = tref.Tag
	t.policyNS = oci.Namespace(t.targetRepo)
	if req.Remote != "" {
		rm, ok := s.opts.Remotes[req.Remote]
		if !ok {
			return nil, apierr.New(apierr.RequestInvalid, "remote %q is not configured (promotion.remotes)", req.Remote)
		}
		t.remote = &rm
		if rm.Policy != "" {
			t.policyNS = rm.Policy
		}
	} else if t.sourceRepo == t.targetRepo && t.tag == t.ref.Tag {
		return nil, apierr.New(apierr.RequestInvalid, "source and target are the same")
	}
	return t, nil
}

// resolve reads the source's digest. Only after [Service.authorize]: a
// caller who may not read the source must not learn from the answer
// whether it holds the tag or digest.
func (s *Service) resolve(ctx context.Context, t *target) error {
	m, err := s.opts.Registry.Manifest(ctx, t.sourceRepo, t.ref)
	if err != nil {
		return err
	}
	t.digest = m.Digest
	return nil
}

// splitReference splits "repo:tag", "repo@digest" or "repo".
func splitReference(s, field string) (string, oci.Reference, error) {
	bad := func(err error) (string, oci.Reference, error) {
		return "", oci.Reference{}, apierr.New(apierr.RequestInvalid, "%s %q: %v", field, truncate(s), err)
	}
	repo, refText := s, ""
	if i := strings.LastIndex(s, "@"); i >= 0 {
		repo, refText = s[:i], s[i+1:]
	} else if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		repo, refText = s[:i], s[i+1:]
	}
	if err := oci.ValidateName(repo); err != nil {
		return bad(err)
	}
	if refText == "" {
		if field == "source" {
			return bad(errors.New("name a tag or a digest: repository:tag or repository@sha256:..."))
		}
		return repo, oci.Reference{}, nil
	}
	ref, err := oci.ParseReference(refText)
	if err != nil {
		return bad(err)
	}
	return repo, ref, nil
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// authorize refuses unless c may read the source and promote into the
// target: push to it, as its kind's rules allow promotions. A remote
// target is not this registry's to judge: reading the source and pushing
// to the namespace whose policy gates it is asked instead.
func (s *Service) authorize(ctx context.Context, c access.Caller, t *target) error {
	d, err := s.opts.Access.Decide(ctx, c.Principal, t.sourceRepo, []auth.Action{auth.ActionPull})
	if err != nil {
		return fmt.Errorf("authorize: %w", err)
	}
	if !d.Allows(auth.ActionPull) {
		// The same words for a repository c may not see and one that is
		// not there.
		return apierr.New(apierr.NameUnknown, "repository %s not found", t.sourceRepo)
	}
	into := t.targetRepo
	if t.remote != nil {
		into = t.policyNS + "/*"
	}
	ok, err := s.opts.Access.MayPromote(ctx, c.Principal, into)
	if err != nil {
		return fmt.Errorf("authorize: %w", err)
	}
	if !ok {
		return apierr.New(apierr.Denied, "%s may not promote into %s", c.Principal, into)
	}
	addr, _ := netip.ParseAddr(c.Client)
	for _, check := range []struct {
		repo   string
		action auth.Action
	}{{t.sourceRepo, auth.ActionPull}, {into, auth.ActionPush}} {
		if err := s.opts.Network.Check(ctx, check.repo, []auth.Action{check.action}, addr); err != nil {
			var ne *access.NetworkError
			if errors.As(err, &ne) {
				return apierr.New(apierr.Denied, "promotion: %s", ne.Error()).WithDetail(map[string]string{"rule": ne.Rule})
			}
			return err
		}
	}
	return nil
}

// Promote runs one promotion for c: it checks that c may read the source
// and promote into the target, resolves the source to its digest, runs the
// target namespace's gates, and copies the image if they all pass. A
// promotion whose only failed gate is approvals waits (StatePending) for
// them ([Service.Approve]); any other failure is a *Refused error. Either
// way a record is written.
func (s *Service) Promote(ctx context.Context, c access.Caller, req Request) (Result, error) {
	t, err := s.parse(req)
	if err != nil {
		return Result{}, err
	}
	if err := s.authorize(ctx, c, t); err != nil {
		return Result{}, err
	}
	if err := s.resolve(ctx, t); err != nil {
		return Result{}, err
	}
	requester := person(c)
	pending, err := s.opts.Store.PendingPromotionRequest(ctx, t.sourceRepo, t.digest, t.targetRepo, t.tag, t.req.Remote)
	if errors.Is(err, meta.ErrNotFound) {
		pending = meta.PromotionRequest{}
	} else if err != nil {
		return Result{}, fmt.Errorf("read pending requests: %w", err)
	}
	return s.run(ctx, c, t, requester, pending)
}

// callerEvent is an event of data about repo caused by c, with the
// request ctx carries: the event of a change promotion makes.
func callerEvent(ctx context.Context, c access.Caller, repo string, data events.Data) events.Event {
	e := events.New(ctx, repo, data)
	e.Actor = events.Actor{Name: c.Principal.String(), Client: c.Client, Request: events.ActorFrom(ctx).Request}
	return e
}

// run evaluates the gates of t for requester (with the approvals of
// pending, if any) and promotes, waits or refuses.
func (s *Service) run(ctx context.Context, c access.Caller, t *target, requester string, pending meta.PromotionRequest) (Result, error) {
	gates, err := s.gates(ctx, t, requester, pending.Approvals)
	if err != nil {
		return Result{}, err
	}
	res := Result{Gates: gates}
	rec := s.record(c, t, requester, gates, pending)
	switch {
	case len(failed(gates)) == 0:
		return s.copy(ctx, c, t, rec, pending.ID, res)
	case onlyApprovalsMissing(gates):
		if pending.ID == 0 {
			// A new request, with its promotion.requested event; asking
			// again while it waits changes nothing.
			err = s.opts.Store.Update(ctx, func(tx meta.Tx) error {
				ptx, ok := tx.(meta.PromotionTx)
				if !ok {
					return errors.New("the metadata store cannot record promotion requests")
				}
				var err error
				pending, err = ptx.CreatePromotionRequest(ctx, meta.PromotionRequest{
					Source: t.req.Source, SourceRepository: t.sourceRepo, Digest: t.digest, TargetRepository: t.targetRepo,
					TargetTag: t.tag, Remote: t.req.Remote, RequestedBy: requester, CreatedAt: s.now().UTC(),
				})
				if err != nil {
					return err
				}
				return events.Append(ctx, tx, callerEvent(ctx, c, t.targetRepo, &events.PromotionRequested{Request: pending.ID,
					Digest: t.digest, From: t.sourceRepo, Tag: t.tag, Remote: t.req.Remote}))
			})
			if err != nil {
				return Result{}, fmt.Errorf("record the promotion request: %w", err)
			}
		}
		res.State = StatePending
		res.Pending = pendingOf(pending)
		return res, nil
	}
	rec.Result = meta.PromotionRefused
	rec.Reason = (&Refused{Result: res}).Error()
	id, err := s.opts.Store.AppendPromotionRecord(ctx, rec)
	if err != nil {
		return Result{}, err
	}
	rec.ID = id
	res.State = StateRefused
	res.Record = recordOf(rec)
	s.refused(ctx, c, t, apierr.Denied, rec.Reason)
	return res, &Refused{Result: res}
}

// gates evaluates the gates of t.
func (s *Service) gates(ctx context.Context, t *target, requester string, approvals []meta.Approval) ([]GateResult, error) {
	var p Policy
	has := false
	stored, err := s.opts.Store.PromotionPolicy(ctx, t.policyNS)
	switch {
	case err == nil:
		if p, err = ParsePolicy(stored.Spec); err != nil {
			return nil, err
		}
		has = true
	case !errors.Is(err, meta.ErrNotFound):
		return nil, fmt.Errorf("read the promotion policy of %s: %w", t.policyNS, err)
	}
	src := oci.Namespace(t.sourceRepo)
	g, accepted := p.For(src)
	m, err := s.opts.Registry.Manifest(ctx, t.sourceRepo, oci.Reference{Digest: t.digest})
	if err != nil {
		return nil, err
	}
	parsed, err := oci.ParseManifest(m.MediaType, m.Payload)
	if err != nil {
		return nil, fmt.Errorf("parse stored manifest %s: %w", t.digest, err)
	}
	f := facts{
		sourceNS: src, targetNS: t.policyNS, repo: t.sourceRepo, image: m, parsed: parsed,
		referrers: func(ctx context.Context, d digest.Digest) ([]oci.Descriptor, error) {
			return s.opts.Registry.Referrers(ctx, t.sourceRepo, d, "")
		},
		requester: requester, approvals: approvals, now: s.now(), signatures: s.opts.Signatures, scans: s.opts.Scans,
		accepted: accepted, hasPolicy: has && len(p.Sources) > 0, policyName: strings.Join(p.Sources, ", "),
	}
	return evaluate(ctx, g, f)
}

// record is the record of t as evaluated, before its result.
func (s *Service) record(c access.Caller, t *target, requester string, gates []GateResult, pending meta.PromotionRequest) meta.PromotionRecord {
	rec := meta.PromotionRecord{
		At: s.now().UTC(), Actor: requester, Client: c.Client, Source: t.req.Source, SourceRepository: t.sourceRepo,
		Digest: t.digest, TargetRepository: t.targetRepo, TargetTag: t.tag, Remote: t.req.Remote, RequestID: pending.ID,
	}
	if t.remote != nil {
		rec.RemoteURL = t.remote.URL
	}
	rec.Gates, _ = json.Marshal(gates)
	var counted []approvalJSON
	for _, a := range pending.Approvals {
		if a.Approver != requester {
			counted = append(counted, approvalJSON{Approver: a.Approver, Comment: a.Comment, At: a.At})
		}
	}
	rec.Approvals, _ = json.Marshal(counted)
	if counted == nil {
		rec.Approvals = []byte("[]")
	}
	return rec
}

// copy promotes t now, writing rec (and closing the request) with the copy.
func (s *Service) copy(ctx context.Context, c access.Caller, t *target, rec meta.PromotionRecord, requestID int64, res Result) (Result, error) {
	if t.remote != nil {
		return s.copyRemote(ctx, c, t, rec, requestID, res)
	}
	copied, err := s.opts.Registry.Promote(ctx, registry.Promotion{
		Source: t.sourceRepo, Digest: t.digest, Target: t.targetRepo, Tag: t.tag,
		Record: func(ctx context.Context, tx meta.Tx, copied []registry.PromotedManifest) error {
			ptx, ok := tx.(meta.PromotionTx)
			if !ok {
				return errors.New("the metadata store cannot record promotions")
			}
			rec.Result = meta.PromotionPromoted
			rec.Copied, _ = json.Marshal(copied)
			id, err := ptx.AppendPromotionRecord(ctx, rec)
			if err != nil {
				return err
			}
			rec.ID = id
			if requestID != 0 {
				if err := ptx.ClosePromotionRequest(ctx, requestID, meta.RequestPromoted, id); err != nil {
					return err
				}
			}
			if s.opts.Promoted != nil {
				return s.opts.Promoted(ctx, tx, rec)
			}
			return nil
		},
	})
	if err != nil {
		s.refused(ctx, c, t, apierr.From(err).Code, apierr.From(err).Message)
		return Result{}, err
	}
	res.State = StatePromoted
	res.Record = recordOf(rec)
	res.Copied = copied
	return res, nil
}

// refused records a promotion that was refused (code apierr.Denied: a
// gate failed) or failed, with why. A promotion within the registry that
// is made writes its artifact.promoted event in the copy's transaction.
func (s *Service) refused(ctx context.Context, c access.Caller, t *target, code apierr.Code, reason string) {
	to := t.targetRepo
	if t.tag != "" {
		to += ":" + t.tag
	}
	if t.remote != nil {
		to = t.req.Remote + ":" + to
	}
	reason = t.req.Source + " -> " + to + ": " + reason
	var data events.Data = &events.RequestFailed{Action: "promotion", Target: to, Code: code.Name, Reason: reason}
	if code == apierr.Denied {
		data = &events.AccessDenied{Action: "promotion", Target: to, Reason: reason}
	}
	s.opts.Access.Record(ctx, c, t.targetRepo, data)
}
