package metatest

import (
	"context"

	"github.com/wharf-dev/wharf/internal/meta"
)

// txWrites makes the writes a store offers only in a transaction
// (replication rules and runs, scans, allowlists, promotion policies,
// requests and approvals, network rules) one call each, every call its own Update, for the tests of what
// they store.
type txWrites struct{ s meta.Store }

func (w txWrites) CreateReplicationRule(ctx context.Context, r meta.ReplicationRule) (out meta.ReplicationRule, err error) {
	err = w.s.Update(ctx, func(tx meta.Tx) error {
		out, err = tx.CreateReplicationRule(ctx, r)
		return err
	})
	return out, err
}

func (w txWrites) UpdateReplicationRule(ctx context.Context, r meta.ReplicationRule) error {
	return w.s.Update(ctx, func(tx meta.Tx) error { return tx.UpdateReplicationRule(ctx, r) })
}

func (w txWrites) DeleteReplicationRule(ctx context.Context, id int64) error {
	return w.s.Update(ctx, func(tx meta.Tx) error { return tx.DeleteReplicationRule(ctx, id) })
}

func (w txWrites) CreateReplicationRun(ctx context.Context, run meta.ReplicationRun) (out meta.ReplicationRun, err error) {
	err = w.s.Update(ctx, func(tx meta.Tx) error {
		out, err = tx.CreateReplicationRun(ctx, run)
		return err
	})
	return out, err
}

func (w txWrites) PutAllowedVulnerability(ctx context.Context, a meta.AllowedVulnerability) error {
	return w.s.Update(ctx, func(tx meta.Tx) error { return tx.PutAllowedVulnerability(ctx, a) })
}

func (w txWrites) DeleteAllowedVulnerability(ctx context.Context, namespace, id string) error {
	return w.s.Update(ctx, func(tx meta.Tx) error { return tx.DeleteAllowedVulnerability(ctx, namespace, id) })
}

func (w txWrites) PutPromotionPolicy(ctx context.Context, p meta.PromotionPolicy) error {
	return w.s.Update(ctx, func(tx meta.Tx) error { return tx.PutPromotionPolicy(ctx, p) })
}

func (w txWrites) DeletePromotionPolicy(ctx context.Context, namespace string) error {
	return w.s.Update(ctx, func(tx meta.Tx) error { return tx.DeletePromotionPolicy(ctx, namespace) })
}

func (w txWrites) PutNetworkRule(ctx context.Context, r meta.NetworkRule) error {
	return w.s.Update(ctx, func(tx meta.Tx) error { return tx.PutNetworkRule(ctx, r) })
}

func (w txWrites) FinishScan(ctx context.Context, owner string, sc meta.Scan) error {
	return w.s.Update(ctx, func(tx meta.Tx) error { return tx.FinishScan(ctx, owner, sc) })
}

func (w txWrites) CreatePromotionRequest(ctx context.Context, r meta.PromotionRequest) (out meta.PromotionRequest, err error) {
	err = w.s.Update(ctx, func(tx meta.Tx) error {
		out, err = tx.(meta.PromotionTx).CreatePromotionRequest(ctx, r)
		return err
	})
	return out, err
}

func (w txWrites) Approve(ctx context.Context, a meta.Approval) error {
	return w.s.Update(ctx, func(tx meta.Tx) error { return tx.(meta.PromotionTx).Approve(ctx, a) })
}
