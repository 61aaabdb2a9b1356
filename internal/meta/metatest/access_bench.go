package metatest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/wharf-dev/wharf/internal/meta"
)

// BenchAccess measures the access operations on the request path: a token
// looked up by its secret's hash (every request with an access token), an
// audit event appended (every push, pull and change), a membership read
// (every decision), and a filtered audit query over 20,000 events.
func BenchAccess(b *testing.B, newAccess func(testing.TB) meta.Access) {
	a := newAccess(b)
	ctx := context.Background()
	const users, events = 200, 20000
	for i := range users {
		name := fmt.Sprintf("user%03d", i)
		must(b, "CreateUser", a.CreateUser(ctx, newUser(name, false)))
		must(b, "CreateToken", a.CreateToken(ctx, newToken(meta.TokenPersonal, name, "t")))
	}
	must(b, "CreateNamespace", a.CreateNamespace(ctx, meta.Namespace{Name: "team"}))
	must(b, "PutMember", a.PutMember(ctx, meta.Member{Namespace: "team", User: "user007", Role: "developer"}))
	for i := range events {
		must(b, "AppendAudit", writeAudit(a, ctx, meta.AuditEvent{
			Actor: fmt.Sprintf("user:user%03d", i%users), Action: "pull", Target: fmt.Sprintf("team/app%d:v1", i%50), Result: "ok",
		}))
	}
	hash := fmt.Sprintf("%x", sha256.Sum256([]byte(meta.TokenPersonal+"-user042-t")))

	b.Run("TokenByHash", func(b *testing.B) {
		for b.Loop() {
			if _, err := a.TokenByHash(ctx, hash); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Member", func(b *testing.B) {
		for b.Loop() {
			if _, err := a.Member(ctx, "team", "user007"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendAudit", func(b *testing.B) {
		for b.Loop() {
			must(b, "AppendAudit", writeAudit(a, ctx, meta.AuditEvent{Actor: "user:bench", Action: "pull", Target: "team/app:v1", Result: "ok"}))
		}
	})
	b.Run("AppendAudit100", func(b *testing.B) {
		batch := make([]meta.AuditEvent, 100)
		for i := range batch {
			batch[i] = meta.AuditEvent{Actor: "user:bench", Action: "pull", Target: "team/app:v1", Result: "ok"}
		}
		for b.Loop() {
			must(b, "AppendAudit", writeAudit(a, ctx, batch...))
		}
	})
	b.Run("AuditByActor", func(b *testing.B) {
		for b.Loop() {
			es, err := a.Audit(ctx, meta.AuditQuery{Actor: "user:user042", N: 50})
			if err != nil || len(es) != 50 {
				b.Fatalf("Audit: %d events, %v", len(es), err)
			}
		}
	})
}
