package metatest

import (
	"context"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// Exec runs one SQL statement on a backend's database directly, around the
// store: the suite uses it to try what no method offers.
type Exec func(ctx context.Context, query string, args ...any) error

// RunPromotion runs the promotion suite against a backend whose Store
// implements [meta.Promotions] and whose Tx implements [meta.PromotionTx];
// newStore returns the store and an Exec on its database.
func RunPromotion(t *testing.T, newStore func(t *testing.T) (meta.Store, Exec)) {
	store := func(t *testing.T) meta.Store { s, _ := newStore(t); return s }
	t.Run("policies", func(t *testing.T) { testPromotionPolicies(t, store(t)) })
	t.Run("requests", func(t *testing.T) { testPromotionRequests(t, store(t)) })
	t.Run("records", func(t *testing.T) { testPromotionRecords(t, newStore) })
	t.Run("network", func(t *testing.T) { testNetworkRules(t, store(t)) })
}

func promotionsOf(t *testing.T, s meta.Store) meta.Promotions {
	t.Helper()
	p, ok := s.(meta.Promotions)
	if !ok {
		t.Fatalf("%T does not implement meta.Promotions", s)
	}
	return p
}

func testPromotionPolicies(t *testing.T, s meta.Store) {
	ctx := context.Background()
	p := promotionsOf(t, s)
	if _, err := p.PromotionPolicy(ctx, "prod"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("no policy: %v, want ErrNotFound", err)
	}
	for _, spec := range []string{`{"a":1}`, `{"b":2}`} {
		if err := (txWrites{s}).PutPromotionPolicy(ctx, meta.PromotionPolicy{Namespace: "prod", Spec: []byte(spec), UpdatedBy: "user:root"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := p.PromotionPolicy(ctx, "prod")
	if err != nil || string(got.Spec) != `{"b":2}` || got.UpdatedBy != "user:root" || got.UpdatedAt.IsZero() {
		t.Fatalf("read back: %+v, %v", got, err)
	}
	if err := (txWrites{s}).DeletePromotionPolicy(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if err := (txWrites{s}).DeletePromotionPolicy(ctx, "prod"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("deleting again: %v, want ErrNotFound", err)
	}
}

func testPromotionRequests(t *testing.T, s meta.Store) {
	ctx := context.Background()
	p := promotionsOf(t, s)
	d := digest.FromString("image")
	req, err := (txWrites{s}).CreatePromotionRequest(ctx, meta.PromotionRequest{Source: "ci/app:latest", SourceRepository: "ci/app",
		Digest: d, TargetRepository: "prod/app", TargetTag: "1.0", RequestedBy: "user:alice"})
	if err != nil || req.ID == 0 || req.State != meta.RequestPending {
		t.Fatalf("create: %+v, %v", req, err)
	}
	if err := (txWrites{s}).Approve(ctx, meta.Approval{RequestID: req.ID, Approver: "user:bob", Comment: "lgtm"}); err != nil {
		t.Fatal(err)
	}
	if err := (txWrites{s}).Approve(ctx, meta.Approval{RequestID: req.ID, Approver: "user:bob"}); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("approving twice: %v, want ErrConflict", err)
	}
	if err := (txWrites{s}).Approve(ctx, meta.Approval{RequestID: 999, Approver: "user:bob"}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("approving no request: %v, want ErrNotFound", err)
	}
	got, err := p.PendingPromotionRequest(ctx, "ci/app", d, "prod/app", "1.0", "")
	if err != nil || got.ID != req.ID || len(got.Approvals) != 1 || got.Approvals[0].Approver != "user:bob" || got.Approvals[0].Comment != "lgtm" {
		t.Fatalf("pending: %+v, %v", got, err)
	}
	if _, err := p.PendingPromotionRequest(ctx, "ci/app", d, "prod/app", "2.0", ""); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("another tag: %v, want ErrNotFound", err)
	}
	var recID int64
	err = s.Update(ctx, func(tx meta.Tx) error {
		ptx := tx.(meta.PromotionTx)
		var err error
		if recID, err = ptx.AppendPromotionRecord(ctx, meta.PromotionRecord{Actor: "user:alice", Source: "ci/app:latest",
			SourceRepository: "ci/app", Digest: d, TargetRepository: "prod/app", TargetTag: "1.0",
			Result: meta.PromotionPromoted, RequestID: req.ID}); err != nil {
			return err
		}
		return ptx.ClosePromotionRequest(ctx, req.ID, meta.RequestPromoted, recID)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx meta.Tx) error {
		return tx.(meta.PromotionTx).ClosePromotionRequest(ctx, req.ID, meta.RequestPromoted, recID)
	})
	if !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("closing a closed request: %v, want ErrConflict", err)
	}
	got, err = p.PromotionRequest(ctx, req.ID)
	if err != nil || got.State != meta.RequestPromoted || got.RecordID != recID || got.ClosedAt.IsZero() {
		t.Fatalf("closed: %+v, %v", got, err)
	}
	if err := (txWrites{s}).Approve(ctx, meta.Approval{RequestID: req.ID, Approver: "user:carol"}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("approving a closed request: %v, want ErrNotFound", err)
	}
	if reqs, err := p.PromotionRequests(ctx, meta.RequestPending, 10); err != nil || len(reqs) != 0 {
		t.Fatalf("pending requests: %+v, %v", reqs, err)
	}
	if reqs, err := p.PromotionRequests(ctx, "", 10); err != nil || len(reqs) != 1 || len(reqs[0].Approvals) != 1 {
		t.Fatalf("every request: %+v, %v", reqs, err)
	}
}

func testPromotionRecords(t *testing.T, newStore func(t *testing.T) (meta.Store, Exec)) {
	ctx := context.Background()
	s, exec := newStore(t)
	p := promotionsOf(t, s)
	d1, d2 := digest.FromString("one"), digest.FromString("two")
	add := func(src, dst string, d digest.Digest, result string) int64 {
		t.Helper()
		id, err := p.AppendPromotionRecord(ctx, meta.PromotionRecord{Actor: "robot:ci+promoter", Client: "10.0.0.1",
			Source: src + "@" + d.String(), SourceRepository: src, Digest: d, TargetRepository: dst, TargetTag: "1",
			Result: result, Gates: []byte(`[{"gate":"signature","passed":true}]`)})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a := add("ci/app", "prod/app", d1, meta.PromotionPromoted)
	b := add("ci/app", "prod/app", d2, meta.PromotionRefused)
	c := add("sandbox/x", "ci/x", d2, meta.PromotionPromoted)
	add("ci0/app", "prod0/app", d1, meta.PromotionPromoted) // sorts right after ci/ and prod/
	rec, err := p.PromotionRecord(ctx, a)
	if err != nil || rec.Actor != "robot:ci+promoter" || rec.Digest != d1 || string(rec.Gates) != `[{"gate":"signature","passed":true}]` ||
		string(rec.Copied) != "[]" || rec.At.IsZero() || rec.Client != "10.0.0.1" {
		t.Fatalf("read back: %+v, %v", rec, err)
	}
	ids := func(q meta.PromotionQuery) []int64 {
		t.Helper()
		recs, err := p.PromotionRecords(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, r := range recs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		q    meta.PromotionQuery
		want []int64
	}{
		{meta.PromotionQuery{Namespace: "prod"}, []int64{b, a}},
		{meta.PromotionQuery{Namespace: "ci"}, []int64{c, b, a}},
		{meta.PromotionQuery{Repository: "ci/x"}, []int64{c}},
		{meta.PromotionQuery{Digest: d2}, []int64{c, b}},
		{meta.PromotionQuery{Namespace: "prod", Result: meta.PromotionPromoted}, []int64{a}},
		{meta.PromotionQuery{Namespace: "ci", BeforeID: c, N: 1}, []int64{b}},
	} {
		if got := ids(tc.q); !equalIDs(got, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.q, got, tc.want)
		}
	}
	// The records cannot be changed or removed, by any statement.
	if err := exec(ctx, `UPDATE promotions SET result = 'promoted' WHERE id = $1`, b); err == nil {
		t.Error("a record was changed")
	}
	if err := exec(ctx, `DELETE FROM promotions WHERE id = $1`, b); err == nil {
		t.Error("a record was deleted")
	}
	if rec, err := p.PromotionRecord(ctx, b); err != nil || rec.Result != meta.PromotionRefused {
		t.Fatalf("after the attempts: %+v, %v", rec, err)
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testNetworkRules(t *testing.T, s meta.Store) {
	ctx := context.Background()
	p := promotionsOf(t, s)
	if rules, err := p.NetworkRules(ctx, "prod"); err != nil || len(rules) != 0 {
		t.Fatalf("none: %+v, %v", rules, err)
	}
	put := func(action string, cidrs ...string) {
		t.Helper()
		if err := (txWrites{s}).PutNetworkRule(ctx, meta.NetworkRule{Namespace: "prod", Action: action, CIDRs: cidrs, UpdatedBy: "user:root"}); err != nil {
			t.Fatal(err)
		}
	}
	put(meta.NetworkPush, "10.0.0.0/8")
	put(meta.NetworkPull, "192.168.0.0/16", "::1/128")
	put(meta.NetworkPush, "10.1.0.0/16")
	rules, err := p.NetworkRules(ctx, "prod")
	if err != nil || len(rules) != 2 || rules[0].Action != meta.NetworkPull || len(rules[0].CIDRs) != 2 ||
		rules[1].CIDRs[0] != "10.1.0.0/16" || rules[1].UpdatedBy != "user:root" {
		t.Fatalf("read back: %+v, %v", rules, err)
	}
	put(meta.NetworkPull)
	if rules, err := p.NetworkRules(ctx, "prod"); err != nil || len(rules) != 1 || rules[0].Action != meta.NetworkPush {
		t.Fatalf("after removing pull: %+v, %v", rules, err)
	}
	if err := (txWrites{s}).PutNetworkRule(ctx, meta.NetworkRule{Namespace: "prod", Action: "delete", CIDRs: []string{"10.0.0.0/8"}}); err == nil {
		t.Error("a rule for an action that has none was stored")
	}
}
