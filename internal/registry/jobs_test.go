package registry_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
)

// TestJobs: the registry's jobs are the ones its options turn on, and the
// retention job deletes what the stored policies say and records it as
// system:retention: each deletion, and the run.
func TestJobs(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		if js := r.Jobs(registry.JobOptions{}); len(js) != 0 {
			t.Fatalf("jobs with nothing turned on: %v", js)
		}
		js := r.Jobs(registry.JobOptions{UploadExpireAfter: time.Hour, UploadExpireInterval: time.Minute, RetentionInterval: 2 * time.Minute})
		every := map[string]time.Duration{}
		for _, j := range js {
			every[j.Name] = j.Every
		}
		if fmt.Sprint(every) != "map[expire-uploads:1m0s retention:2m0s]" {
			t.Fatalf("jobs: %v", every)
		}

		old := r.image("team/app", "old", "old")
		r.image("team/app", "new", "new")
		if _, err := r.AddRetentionPolicy(ctx, policy.RetentionPolicy{Scope: "team", KeepLast: []policy.KeepLast{{Pattern: "*", Count: 1}}}); err != nil {
			t.Fatal(err)
		}
		for _, j := range js {
			if j.Name == "retention" {
				if err := j.Run(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		if tags := r.tagsOf("team/app"); len(tags) != 1 || tags[0] != "new" {
			t.Errorf("tags after retention: %v", tags)
		}
		es, err := r.store.(meta.Access).Audit(ctx, meta.AuditQuery{Actor: "system:retention"})
		var got []string
		for _, e := range es {
			got = append(got, e.Action+" "+e.Target)
		}
		if err != nil || fmt.Sprint(got) != "[retention.run * manifest.delete team/app@"+old.String()+" tag.delete team/app:old]" {
			t.Errorf("retention's record: %q, %v", got, err)
		}
	})
}

// TestStorageHistory: the storage-metrics job keeps one sample per day
// (a second run the same day replaces the first), which StorageHistory
// reads; Traffic counts today's pushes among ChartDays days.
func TestStorageHistory(t *testing.T) {
	eachStore(t, func(t *testing.T, r *testReg) {
		ctx := context.Background()
		var job func(context.Context) error
		for _, j := range r.Jobs(registry.JobOptions{StorageInterval: time.Minute}) {
			if j.Name == "storage-metrics" {
				job = j.Run
			}
		}
		if job == nil {
			t.Fatal("no storage-metrics job without StorageComputed")
		}
		r.image("team/app", "v1", "one")
		if err := job(ctx); err != nil {
			t.Fatal(err)
		}
		first, err := r.StorageHistory(ctx, "team")
		if err != nil || len(first) != 1 || first[0].Bytes == 0 {
			t.Fatalf("after one run: %v, %v; want one sample", first, err)
		}
		r.image("team/app", "v2", "two, which is longer")
		if err := job(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := r.StorageHistory(ctx, "team")
		if err != nil || len(got) != 1 || got[0].Bytes <= first[0].Bytes || !got[0].Day.Equal(first[0].Day) {
			t.Fatalf("after a second run: %v, %v; want today's sample replaced with more bytes than %d", got, err, first[0].Bytes)
		}
		if all, err := r.StorageHistory(ctx, ""); err != nil || len(all) != 1 {
			t.Fatalf("the whole store's history: %v, %v", all, err)
		}
		tr, err := r.Traffic(ctx, "", "team/app")
		if err != nil || len(tr.Pushes) != registry.ChartDays || len(tr.Pulls) != registry.ChartDays {
			t.Fatalf("Traffic: %d pushes, %d pulls days, %v; want %d each", len(tr.Pushes), len(tr.Pulls), err, registry.ChartDays)
		}
		if last := tr.Pushes[len(tr.Pushes)-1]; last.N != 2 || !last.Day.Equal(got[0].Day) {
			t.Errorf("today's pushes = %+v; want 2 on %s", last, got[0].Day)
		}
	})
}
