package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// Promotion policies, requests, approvals, records and network rules
// (meta.Promotions, migration 0011). Records are written by
// Store.AppendPromotionRecord on their own or by Tx.AppendPromotionRecord
// with the copy they record; the tables' triggers refuse to change them.

const (
	qPutPromotionPolicy = `INSERT INTO promotion_policies (namespace, spec, updated_by, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (namespace) DO UPDATE SET spec = excluded.spec, updated_by = excluded.updated_by, updated_at = excluded.updated_at`
	qDeletePromotionPolicy = `DELETE FROM promotion_policies WHERE namespace = $1`
	qPromotionPolicy       = `SELECT namespace, spec, updated_by, updated_at FROM promotion_policies WHERE namespace = $1`

	requestColumns   = `id, source, source_repository, digest, target_repository, target_tag, remote, requested_by, created_at, state, closed_at, record_id`
	qCreateRequest   = `INSERT INTO promotion_requests (source, source_repository, digest, target_repository, target_tag, remote, requested_by, created_at, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending') RETURNING id`
	qRequest         = `SELECT ` + requestColumns + ` FROM promotion_requests WHERE id = $1`
	qPendingRequest  = `SELECT ` + requestColumns + ` FROM promotion_requests WHERE source_repository = $1 AND digest = $2 AND target_repository = $3 AND target_tag = $4 AND remote = $5 AND state = 'pending' ORDER BY id DESC LIMIT 1`
	qRequests        = `SELECT ` + requestColumns + ` FROM promotion_requests WHERE ($1 = '' OR state = $1) ORDER BY id DESC LIMIT $2`
	qCloseRequest    = `UPDATE promotion_requests SET state = $2, closed_at = $3, record_id = $4 WHERE id = $1 AND state = 'pending'`
	qRequestPending  = `SELECT 1 FROM promotion_requests WHERE id = $1 AND state = 'pending' FOR UPDATE`
	qApprove         = `INSERT INTO promotion_approvals (request_id, approver, comment, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`
	qApprovals       = `SELECT request_id, approver, comment, at FROM promotion_approvals WHERE request_id = $1 ORDER BY at, approver`
	recordColumns    = `id, at, actor, client, source, source_repository, digest, target_repository, target_tag, remote, remote_url, result, reason, gates, approvals, copied, request_id`
	qAppendRecord    = `INSERT INTO promotions (at, actor, client, source, source_repository, digest, target_repository, target_tag, remote, remote_url, result, reason, gates, approvals, copied, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id`
	qRecord          = `SELECT ` + recordColumns + ` FROM promotions WHERE id = $1`
	qPutNetworkRule  = `INSERT INTO network_rules (namespace, action, cidrs, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (namespace, action) DO UPDATE SET cidrs = excluded.cidrs, updated_by = excluded.updated_by, updated_at = excluded.updated_at`
	qDelNetworkRule  = `DELETE FROM network_rules WHERE namespace = $1 AND action = $2`
	qNetworkRules    = `SELECT namespace, action, cidrs, updated_by, updated_at FROM network_rules WHERE namespace = $1 ORDER BY action`
	recordsDefaultN  = 100
	requestsDefaultN = 100
)

var _ = prepared(qPutPromotionPolicy, qDeletePromotionPolicy, qPromotionPolicy, qCreateRequest, qRequest,
	qPendingRequest, qRequests, qCloseRequest, qRequestPending, qApprove, qApprovals, qAppendRecord, qRecord,
	qPutNetworkRule, qDelNetworkRule, qNetworkRules)

var (
	_ meta.Promotions   = (*Store)(nil)
	_ meta.PromotionTx  = (*Tx)(nil)
	_ meta.PolicyWriter = (*Tx)(nil)
)

// PutPromotionPolicy stores p, replacing its namespace's policy.
func (t *Tx) PutPromotionPolicy(ctx context.Context, p meta.PromotionPolicy) error {
	_, err := t.db.Exec(ctx, qPutPromotionPolicy, p.Namespace, string(p.Spec), p.UpdatedBy, orNow(p.UpdatedAt))
	return t.wrap(err, "put the promotion policy of %s", p.Namespace)
}

// DeletePromotionPolicy removes the policy of namespace.
func (t *Tx) DeletePromotionPolicy(ctx context.Context, namespace string) error {
	return t.change(ctx, "promotion policy of "+namespace, qDeletePromotionPolicy, namespace)
}

// PromotionPolicy returns the policy of namespace.
func (r *Reads) PromotionPolicy(ctx context.Context, namespace string) (meta.PromotionPolicy, error) {
	var p meta.PromotionPolicy
	var spec string
	err := r.db.QueryRow(ctx, qPromotionPolicy, namespace).Scan(&p.Namespace, &spec, &p.UpdatedBy, &p.UpdatedAt)
	if err != nil {
		return meta.PromotionPolicy{}, r.notFound(err, "promotion policy of %s", namespace)
	}
	p.Spec = []byte(spec)
	return p, nil
}

// CreatePromotionRequest records r as pending.
func (t *Tx) CreatePromotionRequest(ctx context.Context, r meta.PromotionRequest) (meta.PromotionRequest, error) {
	r.CreatedAt = orNow(r.CreatedAt).UTC()
	r.State = meta.RequestPending
	err := t.db.QueryRow(ctx, qCreateRequest, r.Source, r.SourceRepository, r.Digest.String(), r.TargetRepository,
		r.TargetTag, r.Remote, r.RequestedBy, r.CreatedAt).Scan(&r.ID)
	if err != nil {
		return meta.PromotionRequest{}, t.wrap(err, "create a promotion request")
	}
	return r, nil
}

// Approve records an approval of a pending request, holding the request's
// row until the transaction ends so that it cannot close meanwhile.
func (t *Tx) Approve(ctx context.Context, a meta.Approval) error {
	ok, err := exists(ctx, t.db, qRequestPending, a.RequestID)
	if err == nil && !ok {
		err = fmt.Errorf("no pending request: %w", meta.ErrNotFound)
	}
	if err != nil {
		return t.wrap(err, "approve promotion request %d", a.RequestID)
	}
	added, err := affected(ctx, t.db, qApprove, a.RequestID, a.Approver, a.Comment, orNow(a.At))
	if err == nil && !added {
		err = fmt.Errorf("%s approved it already: %w", a.Approver, meta.ErrConflict)
	}
	return t.wrap(err, "approve promotion request %d", a.RequestID)
}

// PromotionRequest returns request id with its approvals.
func (r *Reads) PromotionRequest(ctx context.Context, id int64) (meta.PromotionRequest, error) {
	req, err := scanRequest(r.db.QueryRow(ctx, qRequest, id))
	if err != nil {
		return meta.PromotionRequest{}, r.notFound(err, "promotion request %d", id)
	}
	return req, r.approvals(ctx, &req)
}

// PendingPromotionRequest returns the pending request for one promotion.
func (r *Reads) PendingPromotionRequest(ctx context.Context, sourceRepo string, d digest.Digest, targetRepo, tag, remote string) (meta.PromotionRequest, error) {
	req, err := scanRequest(r.db.QueryRow(ctx, qPendingRequest, sourceRepo, d.String(), targetRepo, tag, remote))
	if err != nil {
		return meta.PromotionRequest{}, r.notFound(err, "pending promotion request")
	}
	return req, r.approvals(ctx, &req)
}

// PromotionRequests lists requests, newest first.
func (r *Reads) PromotionRequests(ctx context.Context, state string, n int) ([]meta.PromotionRequest, error) {
	if n <= 0 {
		n = requestsDefaultN
	}
	reqs, err := collect(ctx, r.db, scanRequest, qRequests, state, n)
	if err != nil {
		return nil, r.wrap(err, "list promotion requests")
	}
	for i := range reqs {
		if err := r.approvals(ctx, &reqs[i]); err != nil {
			return nil, err
		}
	}
	return reqs, nil
}

func (r *Reads) approvals(ctx context.Context, req *meta.PromotionRequest) error {
	as, err := collect(ctx, r.db, func(row Row) (meta.Approval, error) {
		var a meta.Approval
		err := row.Scan(&a.RequestID, &a.Approver, &a.Comment, &a.At)
		return a, err
	}, qApprovals, req.ID)
	req.Approvals = as
	return r.wrap(err, "approvals of promotion request %d", req.ID)
}

func scanRequest(row Row) (meta.PromotionRequest, error) {
	var req meta.PromotionRequest
	var d string
	var closed *time.Time
	var record *int64
	err := row.Scan(&req.ID, &req.Source, &req.SourceRepository, &d, &req.TargetRepository, &req.TargetTag,
		&req.Remote, &req.RequestedBy, &req.CreatedAt, &req.State, &closed, &record)
	req.Digest = digest.Digest(d)
	req.ClosedAt = fromNull(closed)
	if record != nil {
		req.RecordID = *record
	}
	return req, err
}

// ClosePromotionRequest moves request id from pending to state.
func (t *Tx) ClosePromotionRequest(ctx context.Context, id int64, state string, recordID int64) error {
	ok, err := affected(ctx, t.db, qCloseRequest, id, state, time.Now(), nullID(recordID))
	if err == nil && !ok {
		err = fmt.Errorf("not pending: %w", meta.ErrConflict)
	}
	return t.wrap(err, "close promotion request %d", id)
}

// AppendPromotionRecord records rec on its own.
func (s *Store) AppendPromotionRecord(ctx context.Context, rec meta.PromotionRecord) (int64, error) {
	return appendRecord(ctx, &s.Reads, s.write, rec)
}

// AppendPromotionRecord records rec in the transaction.
func (t *Tx) AppendPromotionRecord(ctx context.Context, rec meta.PromotionRecord) (int64, error) {
	return appendRecord(ctx, &t.Reads, t.db, rec)
}

func appendRecord(ctx context.Context, r *Reads, db DB, rec meta.PromotionRecord) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, qAppendRecord, orNow(rec.At), rec.Actor, rec.Client, rec.Source, rec.SourceRepository,
		rec.Digest.String(), rec.TargetRepository, rec.TargetTag, rec.Remote, rec.RemoteURL, rec.Result, rec.Reason,
		jsonText(rec.Gates, "[]"), jsonText(rec.Approvals, "[]"), jsonText(rec.Copied, "[]"), nullID(rec.RequestID)).Scan(&id)
	return id, r.wrap(err, "record the promotion of %s to %s", rec.Source, rec.TargetRepository)
}

// PromotionRecord returns record id.
func (r *Reads) PromotionRecord(ctx context.Context, id int64) (meta.PromotionRecord, error) {
	rec, err := scanRecord(r.db.QueryRow(ctx, qRecord, id))
	if err != nil {
		return meta.PromotionRecord{}, r.notFound(err, "promotion record %d", id)
	}
	return rec, nil
}

// PromotionRecords returns the records q selects, newest first.
func (r *Reads) PromotionRecords(ctx context.Context, q meta.PromotionQuery) ([]meta.PromotionRecord, error) {
	n := q.N
	if n <= 0 {
		n = recordsDefaultN
	}
	before := q.BeforeID
	if before <= 0 {
		before = 1<<63 - 1
	}
	query := `SELECT ` + recordColumns + ` FROM promotions WHERE id < $1`
	args := []any{before}
	add := func(cond string, v any) {
		args = append(args, v)
		query += fmt.Sprintf(" AND "+cond, len(args))
	}
	if q.Namespace != "" {
		// The repositories of namespace ns sort from "ns/" up to "ns0"
		// ('0' follows '/'), byte-wise on both backends.
		args = append(args, q.Namespace+"/", q.Namespace+"0")
		lo, hi := len(args)-1, len(args)
		query += fmt.Sprintf(" AND ((source_repository >= $%d AND source_repository < $%d) OR (target_repository >= $%d AND target_repository < $%d))", lo, hi, lo, hi)
	}
	if q.Repository != "" {
		args = append(args, q.Repository)
		query += fmt.Sprintf(" AND (source_repository = $%d OR target_repository = $%d)", len(args), len(args))
	}
	if q.Digest != "" {
		add("digest = $%d", q.Digest.String())
	}
	if q.TargetTag != "" {
		add("target_tag = $%d", q.TargetTag)
	}
	if q.Result != "" {
		add("result = $%d", q.Result)
	}
	args = append(args, n)
	query += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	recs, err := collect(ctx, r.db, scanRecord, query, args...)
	return recs, r.wrap(err, "list promotion records")
}

func scanRecord(row Row) (meta.PromotionRecord, error) {
	var rec meta.PromotionRecord
	var d, gates, approvals, copied string
	var request *int64
	err := row.Scan(&rec.ID, &rec.At, &rec.Actor, &rec.Client, &rec.Source, &rec.SourceRepository, &d,
		&rec.TargetRepository, &rec.TargetTag, &rec.Remote, &rec.RemoteURL, &rec.Result, &rec.Reason,
		&gates, &approvals, &copied, &request)
	rec.Digest = digest.Digest(d)
	rec.Gates, rec.Approvals, rec.Copied = []byte(gates), []byte(approvals), []byte(copied)
	if request != nil {
		rec.RequestID = *request
	}
	return rec, err
}

// PutNetworkRule stores r, or removes its rule when r has no CIDRs.
func (t *Tx) PutNetworkRule(ctx context.Context, r meta.NetworkRule) error {
	if len(r.CIDRs) == 0 {
		_, err := t.db.Exec(ctx, qDelNetworkRule, r.Namespace, r.Action)
		return t.wrap(err, "remove the %s network rule of %s", r.Action, r.Namespace)
	}
	cidrs, err := json.Marshal(r.CIDRs)
	if err != nil {
		return fmt.Errorf("network rule of %s: %w", r.Namespace, err)
	}
	_, err = t.db.Exec(ctx, qPutNetworkRule, r.Namespace, r.Action, string(cidrs), r.UpdatedBy, orNow(r.UpdatedAt))
	return t.wrap(err, "put the %s network rule of %s", r.Action, r.Namespace)
}

// NetworkRules returns the rules of namespace.
func (r *Reads) NetworkRules(ctx context.Context, namespace string) ([]meta.NetworkRule, error) {
	rules, err := collect(ctx, r.db, func(row Row) (meta.NetworkRule, error) {
		var nr meta.NetworkRule
		var cidrs string
		if err := row.Scan(&nr.Namespace, &nr.Action, &cidrs, &nr.UpdatedBy, &nr.UpdatedAt); err != nil {
			return nr, err
		}
		return nr, json.Unmarshal([]byte(cidrs), &nr.CIDRs)
	}, qNetworkRules, namespace)
	return rules, r.wrap(err, "network rules of %s", namespace)
}

// jsonText is b as a TEXT column value, or def when b is empty.
func jsonText(b []byte, def string) string {
	if len(b) == 0 {
		return def
	}
	return string(b)
}

// nullID is id as a nullable column value: NULL for 0.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
