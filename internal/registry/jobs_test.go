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
