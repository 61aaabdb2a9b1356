package metatest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// lifecycleTests check the lifecycle records: immutability rules,
// retention policies, quotas, usage, pulls and inventories.
var lifecycleTests = []struct {
	name string
	test func(*testing.T, meta.Store)
}{
	{"ImmutabilityRules", testImmutabilityRules},
	{"RetentionPolicies", testRetentionPolicies},
	{"Quotas", testQuotas},
	{"QuotaRefusesNegative", testQuotaRefusesNegative},
	{"QuotaUsageKept", testQuotaUsageKept},
	{"Usage", testUsage},
	{"UsageNamespaceBounds", testUsageNamespaceBounds},
	{"StorageUsage", testStorageUsage},
	{"RecordPulls", testRecordPulls},
	{"PullCounts", testPullCounts},
	{"PushDays", testPushDays},
	{"PullDays", testPullDays},
	{"StorageDays", testStorageDays},
	{"VulnerabilityTotals", testVulnerabilityTotals},
	{"Inventory", testInventory},
	{"LockRetention", testLockRetention},
}

// ignoreTimes leaves out the times a store sets itself.
var ignoreTimes = cmpopts.IgnoreFields(meta.RetentionPolicy{}, "CreatedAt", "UpdatedAt")

func testImmutabilityRules(t *testing.T, s meta.Store) {
	ctx := t.Context()
	add := func(ns, pattern string) (int64, error) {
		var id int64
		err := s.Update(ctx, func(tx meta.Tx) error {
			var err error
			id, err = tx.AddImmutabilityRule(ctx, meta.ImmutabilityRule{Namespace: ns, Pattern: pattern, CreatedAt: at(3)})
			return err
		})
		return id, err
	}
	idV, err := add("team", "v*")
	if err != nil {
		t.Fatal(err)
	}
	idSemver, err := add("team", "semver")
	if err != nil {
		t.Fatal(err)
	}
	idOther, err := add("other", "v*") // the same pattern in another namespace is another rule
	if err != nil {
		t.Fatal(err)
	}
	if idV == idSemver || idV == idOther || idV == 0 {
		t.Errorf("ids %d, %d, %d; want distinct and non-zero", idV, idSemver, idOther)
	}
	_, err = add("team", "v*")
	wantErr(t, "AddImmutabilityRule of a duplicate", err, meta.ErrConflict)

	got, err := s.ImmutabilityRules(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	want := []meta.ImmutabilityRule{
		{ID: idV, Namespace: "team", Pattern: "v*", CreatedAt: at(3)},
		{ID: idSemver, Namespace: "team", Pattern: "semver", CreatedAt: at(3)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ImmutabilityRules(team) (-want +got):\n%s", diff)
	}
	all, err := s.ImmutabilityRules(ctx, "")
	if err != nil || len(all) != 3 || all[0].Namespace != "other" {
		t.Errorf("ImmutabilityRules(\"\") = %v, %v; want 3 rules, other's first", all, err)
	}
	if none, err := s.ImmutabilityRules(ctx, "nobody"); err != nil || none == nil || len(none) != 0 {
		t.Errorf("ImmutabilityRules(nobody) = %#v, %v; want an empty list", none, err)
	}

	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteImmutabilityRule(ctx, idV) })
	err = s.Update(ctx, func(tx meta.Tx) error { return tx.DeleteImmutabilityRule(ctx, idV) })
	wantErr(t, "DeleteImmutabilityRule twice", err, meta.ErrNotFound)
	if got, _ := s.ImmutabilityRules(ctx, "team"); len(got) != 1 || got[0].ID != idSemver {
		t.Errorf("after delete, rules = %v", got)
	}
}

func testRetentionPolicies(t *testing.T, s meta.Store) {
	ctx := t.Context()
	var id1, id2 int64
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		var err error
		if id1, err = tx.AddRetentionPolicy(ctx, meta.RetentionPolicy{Scope: "team", Rules: []byte(`{"keep":["latest"]}`)}); err != nil {
			return err
		}
		id2, err = tx.AddRetentionPolicy(ctx, meta.RetentionPolicy{Scope: "team/app*", Rules: []byte(`{"untaggedAfter":"7d"}`)})
		return err
	})
	p1, err := s.RetentionPolicy(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	if p1.CreatedAt.IsZero() || p1.UpdatedAt.IsZero() {
		t.Errorf("policy times unset: %+v", p1)
	}
	want := []meta.RetentionPolicy{
		{ID: id1, Scope: "team", Rules: []byte(`{"keep":["latest"]}`)},
		{ID: id2, Scope: "team/app*", Rules: []byte(`{"untaggedAfter":"7d"}`)},
	}
	got, err := s.RetentionPolicies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, ignoreTimes); diff != "" {
		t.Errorf("RetentionPolicies (-want +got):\n%s", diff)
	}

	want[0].Rules = []byte(`{"keep":["latest","semver"]}`)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.UpdateRetentionPolicy(ctx, want[0]) })
	if p, err := s.RetentionPolicy(ctx, id1); err != nil || string(p.Rules) != string(want[0].Rules) || p.UpdatedAt.Before(p1.UpdatedAt) {
		t.Errorf("after update, policy = %+v, %v", p, err)
	}
	err = s.Update(ctx, func(tx meta.Tx) error {
		return tx.UpdateRetentionPolicy(ctx, meta.RetentionPolicy{ID: id2 + 100, Scope: "x", Rules: []byte(`{}`)})
	})
	wantErr(t, "UpdateRetentionPolicy of an unknown id", err, meta.ErrNotFound)

	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteRetentionPolicy(ctx, id1) })
	_, err = s.RetentionPolicy(ctx, id1)
	wantErr(t, "RetentionPolicy after delete", err, meta.ErrNotFound)
	err = s.Update(ctx, func(tx meta.Tx) error { return tx.DeleteRetentionPolicy(ctx, id1) })
	wantErr(t, "DeleteRetentionPolicy twice", err, meta.ErrNotFound)
	if got, _ := s.RetentionPolicies(ctx); len(got) != 1 || got[0].ID != id2 {
		t.Errorf("after delete, policies = %v", got)
	}
}

func testQuotas(t *testing.T, s meta.Store) {
	ctx := t.Context()
	_, err := s.Quota(ctx, "team")
	wantErr(t, "Quota before any is set", err, meta.ErrNotFound)
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		if err := tx.SetQuota(ctx, meta.Quota{Namespace: "team", LimitBytes: 1000, UpdatedAt: at(1)}); err != nil {
			return err
		}
		return tx.SetQuota(ctx, meta.Quota{Namespace: "a-team", LimitBytes: 0, UpdatedAt: at(1)})
	})
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		return tx.SetQuota(ctx, meta.Quota{Namespace: "team", LimitBytes: 5000, UpdatedAt: at(2)})
	})
	q, err := s.Quota(ctx, "team")
	if err != nil || q != (meta.Quota{Namespace: "team", LimitBytes: 5000, UpdatedAt: at(2)}) {
		t.Errorf("Quota(team) = %+v, %v", q, err)
	}
	all, err := s.Quotas(ctx)
	if err != nil || len(all) != 2 || all[0].Namespace != "a-team" || all[0].LimitBytes != 0 {
		t.Errorf("Quotas = %+v, %v", all, err)
	}
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		q, err := tx.LockQuota(ctx, "team")
		if err != nil || q.LimitBytes != 5000 {
			t.Errorf("LockQuota(team) = %+v, %v", q, err)
		}
		_, err = tx.LockQuota(ctx, "nobody")
		wantErr(t, "LockQuota without a quota", err, meta.ErrNotFound)
		return nil
	})
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteQuota(ctx, "team") })
	_, err = s.Quota(ctx, "team")
	wantErr(t, "Quota after delete", err, meta.ErrNotFound)
	err = s.Update(ctx, func(tx meta.Tx) error { return tx.DeleteQuota(ctx, "team") })
	wantErr(t, "DeleteQuota twice", err, meta.ErrNotFound)
}

// testQuotaRefusesNegative: the schema refuses a negative limit, whatever
// the caller checked, and the transaction changes nothing.
func testQuotaRefusesNegative(t *testing.T, s meta.Store) {
	ctx := t.Context()
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		return tx.SetQuota(ctx, meta.Quota{Namespace: "team", LimitBytes: 10})
	})
	err := s.Update(ctx, func(tx meta.Tx) error {
		return tx.SetQuota(ctx, meta.Quota{Namespace: "team", LimitBytes: -1})
	})
	if err == nil {
		t.Fatal("SetQuota of -1 bytes succeeded")
	}
	if q, err := s.Quota(ctx, "team"); err != nil || q.LimitBytes != 10 {
		t.Errorf("after a refused SetQuota, Quota = %+v, %v; want 10 bytes", q, err)
	}
}

// testUsage: two repositories of a namespace share a layer, which counts
// once in the namespace and once in each repository.
func testUsage(t *testing.T, s meta.Store) {
	ctx := t.Context()
	layer := newBlob("a shared layer, twenty-nine b")
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		if err := tx.PutBlob(ctx, layer); err != nil {
			return err
		}
		if err := tx.LinkBlob(ctx, "team/a", layer.Digest); err != nil {
			return err
		}
		return tx.LinkBlob(ctx, "team/b", layer.Digest)
	})
	ma := putManifest(t, s, "team/a", "a") // links a config blob of its own
	putTag(t, s, "team/a", "v1", ma.Digest)
	putTag(t, s, "team/a", "latest", ma.Digest)
	cfgA := newBlob("config of a")

	u, err := s.Usage(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	repoA := meta.Usage{Bytes: layer.Size + cfgA.Size + ma.Size, Blobs: 2, Manifests: 1, Tags: 2}
	repoB := meta.Usage{Bytes: layer.Size, Blobs: 1}
	want := meta.NamespaceUsage{
		Namespace: "team",
		Usage:     meta.Usage{Bytes: layer.Size + cfgA.Size + ma.Size, Blobs: 2, Manifests: 1, Tags: 2},
		Repositories: []meta.RepositoryUsage{
			{Repository: "team/a", Usage: repoA},
			{Repository: "team/b", Usage: repoB},
		},
	}
	ignorePush := cmpopts.IgnoreFields(meta.Usage{}, "LastPush")
	if diff := cmp.Diff(want, u, ignorePush); diff != "" {
		t.Errorf("Usage (-want +got):\n%s", diff)
	}
	if u.LastPush.IsZero() || u.Repositories[0].LastPush.IsZero() || !u.Repositories[1].LastPush.IsZero() {
		t.Errorf("LastPush: namespace %v, team/a %v, team/b %v; want set, set, zero",
			u.LastPush, u.Repositories[0].LastPush, u.Repositories[1].LastPush)
	}
	n, err := s.NamespaceBytes(ctx, "team")
	if err != nil || n != want.Bytes {
		t.Errorf("NamespaceBytes = %d, %v; want %d", n, err, want.Bytes)
	}
	for _, tt := range []struct {
		ns   string
		d    digest.Digest
		want bool
	}{
		{"team", layer.Digest, true}, {"team", cfgA.Digest, true},
		{"team", digest.FromString("absent"), false}, {"other", layer.Digest, false},
	} {
		if ok, err := s.NamespaceHoldsBlob(ctx, tt.ns, tt.d); err != nil || ok != tt.want {
			t.Errorf("NamespaceHoldsBlob(%s, %s) = %v, %v; want %v", tt.ns, tt.d, ok, err, tt.want)
		}
	}
	empty, err := s.Usage(ctx, "nobody")
	if err != nil || empty.Bytes != 0 || len(empty.Repositories) != 0 {
		t.Errorf("Usage(nobody) = %+v, %v; want zero", empty, err)
	}
}

// testUsageNamespaceBounds: names that sort next to a namespace's are not
// in it, and a single-component repository is in its own namespace.
func testUsageNamespaceBounds(t *testing.T, s meta.Store) {
	ctx := t.Context()
	for _, repo := range []string{"team", "team/x", "team-b/x", "team.c/x", "team_d/x", "teamx/x", "tea/x", "team0/x"} {
		linkBlob(t, s, repo, "blob of "+repo)
	}
	u, err := s.Usage(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range u.Repositories {
		names = append(names, r.Repository)
	}
	if !slices.Equal(names, []string{"team", "team/x"}) || u.Blobs != 2 {
		t.Errorf("Usage(team) covers %v with %d blobs; want [team team/x] with 2", names, u.Blobs)
	}
}

// testStorageUsage: the registry-wide figures count every blob once,
// linked or not, and give each namespace what NamespaceBytes gives it,
// whatever characters its name holds.
func testStorageUsage(t *testing.T, s meta.Store) {
	ctx := t.Context()
	shared := newBlob("a layer two namespaces share")
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		if err := tx.PutBlob(ctx, shared); err != nil {
			return err
		}
		for _, repo := range []string{"team/a", "team/b/c", "ops/x"} {
			if err := tx.LinkBlob(ctx, repo, shared.Digest); err != nil {
				return err
			}
		}
		return tx.PutBlob(ctx, newBlob("a blob no repository links"))
	})
	ma := putManifest(t, s, "team/a", "a")
	putManifest(t, s, "solo", "solo")
	for _, repo := range []string{"team-b/x", "team.c/x", "team_d/x", "t0/x", "a__b--c.d/e"} {
		linkBlob(t, s, repo, "blob of "+repo)
	}

	u, err := s.StorageUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range u.Namespaces {
		names = append(names, n.Namespace)
		want, err := s.NamespaceBytes(ctx, n.Namespace)
		if err != nil || n.Bytes != want {
			t.Errorf("namespace %s: %d bytes, NamespaceBytes says %d, %v", n.Namespace, n.Bytes, want, err)
		}
	}
	if want := []string{"a__b--c.d", "ops", "solo", "t0", "team", "team-b", "team.c", "team_d"}; !slices.Equal(names, want) {
		t.Errorf("StorageUsage namespaces %v, want %v", names, want)
	}
	if team := shared.Size + newBlob("config of a").Size + ma.Size; len(u.Namespaces) > 4 && u.Namespaces[4].Bytes != team {
		t.Errorf("team holds %d bytes, want %d (the shared layer once)", u.Namespaces[4].Bytes, team)
	}
	blobs := []meta.Blob{shared, newBlob("a blob no repository links"), newBlob("config of a"), newBlob("config of solo")}
	for _, repo := range []string{"team-b/x", "team.c/x", "team_d/x", "t0/x", "a__b--c.d/e"} {
		blobs = append(blobs, newBlob("blob of "+repo))
	}
	var total int64
	for _, b := range blobs {
		total += b.Size
	}
	if u.Blobs != int64(len(blobs)) || u.Bytes != total {
		t.Errorf("StorageUsage: %d blobs of %d bytes, want %d of %d", u.Blobs, u.Bytes, len(blobs), total)
	}
	// team/a, team/b/c, ops/x, solo and the five linked above; a tag.
	putTag(t, s, "team/a", "v1", ma.Digest)
	if u, err := s.StorageUsage(ctx); err != nil || u.Repositories != 9 || u.Tags != 1 {
		t.Errorf("StorageUsage: %d repositories, %d tags, %v; want 9, 1", u.Repositories, u.Tags, err)
	}
}

func testRecordPulls(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := putManifest(t, s, "team/a", "a")
	other := putManifest(t, s, "team/a", "other")
	record := func(pulls ...meta.Pull) {
		t.Helper()
		update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.RecordPulls(ctx, pulls) })
	}
	record(
		meta.Pull{Repository: "team/a", Digest: m.Digest, At: at(10)},
		meta.Pull{Repository: "team/a", Digest: m.Digest, At: at(20)}, // twice in one batch
		meta.Pull{Repository: "team/a", Digest: digest.FromString("gone"), At: at(30)},
		meta.Pull{Repository: "nowhere", Digest: m.Digest, At: at(30)},
	)
	record(meta.Pull{Repository: "team/a", Digest: m.Digest, At: at(15)}) // older: ignored
	record()
	pulled := func(d digest.Digest) time.Time {
		t.Helper()
		inv, err := s.Inventory(ctx, "team/a")
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range inv.Manifests {
			if im.Digest == d {
				return im.PulledAt
			}
		}
		t.Fatalf("manifest %s not in the inventory", d)
		return time.Time{}
	}
	if got := pulled(m.Digest); !got.Equal(at(20)) {
		t.Errorf("PulledAt = %v, want %v", got, at(20))
	}
	if got := pulled(other.Digest); !got.IsZero() {
		t.Errorf("PulledAt of a manifest never pulled = %v", got)
	}
	if u, _ := s.Usage(ctx, "team"); !u.LastPull.Equal(at(20)) || !u.Repositories[0].LastPull.Equal(at(20)) {
		t.Errorf("Usage LastPull = %v / %v, want %v", u.LastPull, u.Repositories[0].LastPull, at(20))
	}
	// The pull goes with its manifest; a re-pushed manifest was never pulled.
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteManifest(ctx, "team/a", m.Digest) })
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, m) })
	if got := pulled(m.Digest); !got.IsZero() {
		t.Errorf("PulledAt after delete and re-push = %v, want zero", got)
	}
}

func testInventory(t *testing.T, s meta.Store) {
	ctx := t.Context()
	a := putManifest(t, s, "r", "a")
	b := putManifest(t, s, "r", "b")
	idx := newManifest("r", "index")
	idx.MediaType = imageIndex
	idx.Children = []digest.Digest{a.Digest, b.Digest}
	sig := newManifest("r", "sig")
	sig.Subject = idx.Digest
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		if err := tx.PutManifest(ctx, idx); err != nil {
			return err
		}
		return tx.PutManifest(ctx, sig)
	})
	putTag(t, s, "r", "v1", idx.Digest)
	putTag(t, s, "r", "latest", idx.Digest)
	putTag(t, s, "r", "a-only", a.Digest)
	putManifest(t, s, "elsewhere", "x")

	inv, err := s.Inventory(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, tg := range inv.Tags {
		tags = append(tags, tg.Name+"="+tg.Digest.String())
		if tg.UpdatedAt.IsZero() || tg.Repository != "r" {
			t.Errorf("tag %+v lacks its time or repository", tg)
		}
	}
	wantTags := []string{"a-only=" + a.Digest.String(), "latest=" + idx.Digest.String(), "v1=" + idx.Digest.String()}
	if !slices.Equal(tags, wantTags) {
		t.Errorf("inventory tags = %v, want %v", tags, wantTags)
	}
	want := []meta.InventoryManifest{
		{Digest: a.Digest, Size: a.Size, CreatedAt: at(2)},
		{Digest: b.Digest, Size: b.Size, CreatedAt: at(2)},
		{Digest: idx.Digest, Size: idx.Size, CreatedAt: at(2), Children: sorted(a.Digest, b.Digest)},
		{Digest: sig.Digest, Size: sig.Size, CreatedAt: at(2), Subject: idx.Digest},
	}
	slices.SortFunc(want, func(x, y meta.InventoryManifest) int { return strings.Compare(string(x.Digest), string(y.Digest)) })
	if diff := cmp.Diff(want, inv.Manifests, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("inventory manifests (-want +got):\n%s", diff)
	}
	// UntaggedAt: when a tag last left a manifest, by delete or move.
	untaggedAt := func(d digest.Digest) time.Time {
		t.Helper()
		inv, err := s.Inventory(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range inv.Manifests {
			if m.Digest == d {
				return m.UntaggedAt
			}
		}
		t.Fatalf("%s not in the inventory", d)
		return time.Time{}
	}
	if got := untaggedAt(a.Digest); !got.IsZero() {
		t.Errorf("UntaggedAt of a manifest never untagged: %v", got)
	}
	before := time.Now().Add(-time.Minute)
	putTag(t, s, "r", "a-only", b.Digest) // moves away from a
	if got := untaggedAt(a.Digest); got.Before(before) || got.After(time.Now().Add(time.Minute)) {
		t.Errorf("UntaggedAt after the tag moved away: %v", got)
	}
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteTag(ctx, "r", "a-only") })
	if got := untaggedAt(b.Digest); got.Before(before) {
		t.Errorf("UntaggedAt after the tag was deleted: %v", got)
	}
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteManifest(ctx, "r", b.Digest) })
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, b) })
	if got := untaggedAt(b.Digest); !got.IsZero() {
		t.Errorf("UntaggedAt of a manifest pushed again: %v", got)
	}
	putTag(t, s, "r", "a-only", a.Digest)

	names, err := s.ManifestTags(ctx, "r", idx.Digest)
	if err != nil || !slices.Equal(names, []string{"latest", "v1"}) {
		t.Errorf("ManifestTags = %v, %v", names, err)
	}
	if names, err := s.ManifestTags(ctx, "r", b.Digest); err != nil || len(names) != 0 {
		t.Errorf("ManifestTags of an untagged manifest = %v, %v", names, err)
	}
	if inv, err := s.Inventory(ctx, "unknown"); err != nil || len(inv.Tags)+len(inv.Manifests) != 0 {
		t.Errorf("Inventory(unknown) = %+v, %v; want empty", inv, err)
	}
}

func sorted(ds ...digest.Digest) []digest.Digest {
	slices.Sort(ds)
	return ds
}

// testLockRetention: locking what exists and what does not is allowed, and
// reads after it see the repository.
func testLockRetention(t *testing.T, s meta.Store) {
	m := putManifest(t, s, "r", "m")
	putTag(t, s, "r", "v1", m.Digest)
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		err := tx.LockRetention(ctx, "r", []string{"v1", "absent"}, []digest.Digest{m.Digest, digest.FromString("absent")})
		if err != nil {
			return err
		}
		if err := tx.LockRetention(ctx, "unknown", nil, nil); err != nil {
			return err
		}
		inv, err := tx.Inventory(ctx, "r")
		if err != nil {
			return err
		}
		if len(inv.Tags) != 1 || len(inv.Manifests) != 1 {
			return errors.New("inventory after LockRetention is not the repository")
		}
		return tx.DeleteTag(ctx, "r", "v1")
	})
	wantTags(t, s, "r", []string{})
}

// testQuotaUsageKept: a quota's UsedBytes follows links and manifests as
// they come and go, a blob shared by repositories of the namespace counting
// once, and always equals NamespaceBytes.
func testQuotaUsageKept(t *testing.T, s meta.Store) {
	ctx := t.Context()
	layer := newBlob("a layer shared by two repositories")
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutBlob(ctx, layer) })
	link := func(repo string) {
		update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.LinkBlob(ctx, repo, layer.Digest) })
	}
	unlink := func(repo string) {
		update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.UnlinkBlob(ctx, repo, layer.Digest) })
	}
	step := 0
	check := func(want int64) {
		t.Helper()
		step++
		q, err := s.Quota(ctx, "team")
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.NamespaceBytes(ctx, "team")
		if err != nil {
			t.Fatal(err)
		}
		if q.UsedBytes != want || n != want {
			t.Errorf("step %d: UsedBytes %d, NamespaceBytes %d; want %d", step, q.UsedBytes, n, want)
		}
	}
	// Content before the quota is counted by RecountQuota.
	link("team/a")
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		return tx.SetQuota(ctx, meta.Quota{Namespace: "team", LimitBytes: 1 << 30, UsedBytes: 12345})
	})
	if q, err := s.Quota(ctx, "team"); err != nil || q.UsedBytes != 0 {
		t.Errorf("a new quota before RecountQuota: %+v, %v; want 0 bytes used", q, err)
	}
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.RecountQuota(ctx, "team") })
	check(layer.Size)
	link("team/b")
	link("team/b") // linked again: nothing new
	link("other/x")
	check(layer.Size)
	m := putManifest(t, s, "team/a", "m") // and its config blob
	cfg := newBlob("config of m")
	check(layer.Size + cfg.Size + m.Size)
	unlink("team/a")
	check(layer.Size + cfg.Size + m.Size) // team/b still links it
	unlink("team/b")
	check(cfg.Size + m.Size)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteManifest(ctx, "team/a", m.Digest) })
	check(cfg.Size)
	// Changing the limit keeps the count; deleting the quota drops it, and
	// a new one starts from a recount.
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		return tx.SetQuota(ctx, meta.Quota{Namespace: "team", LimitBytes: 5})
	})
	check(cfg.Size)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteQuota(ctx, "team") })
	link("team/c")
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		if err := tx.SetQuota(ctx, meta.Quota{Namespace: "team", LimitBytes: 5}); err != nil {
			return err
		}
		return tx.RecountQuota(ctx, "team")
	})
	check(cfg.Size + layer.Size)
	err := s.Update(ctx, func(tx meta.Tx) error { return tx.RecountQuota(ctx, "nobody") })
	wantErr(t, "RecountQuota without a quota", err, meta.ErrNotFound)
}
