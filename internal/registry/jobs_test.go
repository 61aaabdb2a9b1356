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
// retention job deletes what the stored policies say and records it, one
// audit event per repository, as system:retention.
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

		r.image("team/app", "old", "old")
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
		es, err := r.store.(meta.Access).Audit(ctx, meta.AuditQuery{Action: "retention.delete"})
		if err != nil || len(es) != 1 || es[0].Actor != "system:retention" || es[0].Target != "team/app" ||
			es[0].Detail != "1 tags and 1 manifests deleted by retention policies" {
			t.Errorf("retention's record: %+v, %v", es, err)
		}
	})
}
