package access_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// caller is an authenticated caller of kind user, as the edge would make it.
func (f *fixture) caller(p auth.Principal) access.Caller {
	p.At = f.clock.now()
	return access.Caller{Principal: p, Scheme: auth.SchemeBasic, Client: "192.0.2.7"}
}

func (f *fixture) noNamespace(t *testing.T, name, after string) {
	t.Helper()
	if ns, err := f.store.Namespace(context.Background(), name); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("%s created namespace %s: %+v, %v", after, name, ns, err)
	}
}

// TestAuthorizationHasNoSideEffects: no way of asking whether a push into a
// namespace that does not exist is allowed creates it, though the answer
// is yes. Before, Decide (and so /v2's authorisation, a mount, and the token
// endpoint's grant) created the namespace and made the asker its admin.
func TestAuthorizationHasNoSideEffects(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, func(o *access.Options) { o.CreateNamespaces = true })
		ctx := context.Background()
		f.user(t, "alice", "alice-pw", false)
		p, err := f.svc.Login(ctx, "alice", "alice-pw", client)
		if err != nil {
			t.Fatal(err)
		}
		c := f.caller(p)
		push := []auth.Action{auth.ActionPull, auth.ActionPush}

		if d, err := f.svc.Decide(ctx, p, "fresh/app", push); err != nil || !d.AllowsAll(push) {
			t.Fatalf("Decide: %v, %v", d, err)
		}
		f.noNamespace(t, "fresh", "Decide")
		if az, err := f.svc.Authorize(ctx, c, "fresh/app", push); err != nil || !az.AllowsAll(push) || !az.CreatesNamespace {
			t.Fatalf("Authorize: %+v, %v", az, err)
		}
		f.noNamespace(t, "fresh", "Authorize")
		g, err := f.svc.Grant(ctx, p, []auth.ResourceScope{{Type: auth.TypeRepository, Name: "fresh/app", Actions: push}})
		if err != nil || len(g.Access) != 1 || len(g.Access[0].Actions) != 2 || fmt.Sprint(g.Creates) != "[fresh]" {
			t.Fatalf("Grant: %+v, %v", g, err)
		}
		f.noNamespace(t, "fresh", "Grant")
		tok, _, err := f.svc.IssueToken(ctx, p, g)
		if err != nil {
			t.Fatal(err)
		}
		bc, err := f.svc.Authenticate(ctx, auth.Credentials{Scheme: auth.SchemeBearer, Token: tok}, client)
		if err != nil {
			t.Fatal(err)
		}
		if az, err := f.svc.Authorize(ctx, bc, "fresh/app", push); err != nil || !az.AllowsAll(push) || !az.CreatesNamespace {
			t.Fatalf("Authorize with the provisional token: %+v, %v", az, err)
		}
		f.noNamespace(t, "fresh", "Authorize with a bearer token")
		if _, err := f.svc.Explain(ctx, p, "fresh/app", push); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Puller(p)(ctx, "fresh/app"); err != nil {
			t.Fatal(err)
		}
		f.noNamespace(t, "fresh", "Explain and Puller")

		// The push itself creates it, with its pusher as admin.
		if err := f.svc.CreateNamespaceByPush(ctx, bc, "fresh/app"); err != nil {
			t.Fatal(err)
		}
		if m, err := f.store.Member(ctx, "fresh", "alice"); err != nil || m.Role != "admin" {
			t.Fatalf("the pusher's membership: %+v, %v", m, err)
		}
		if az, err := f.svc.Authorize(ctx, bc, "fresh/app", push); err != nil || !az.AllowsAll(push) || az.CreatesNamespace {
			t.Fatalf("after the creation: %+v, %v", az, err)
		}
	})
}

// TestProvisionalGrant: a token granted in a namespace that did not exist
// when it was issued does not reach into the namespace once someone else
// has created it; the push that would have created it is refused.
func TestProvisionalGrant(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, func(o *access.Options) { o.CreateNamespaces = true })
		ctx := context.Background()
		f.user(t, "mallory", "mallory-pw", false)
		f.user(t, "victim", "victim-pw", false)
		mallory := auth.Principal{Kind: auth.KindUser, Name: "mallory"}
		push := []auth.Action{auth.ActionPull, auth.ActionPush}
		g, err := f.svc.Grant(ctx, mallory, []auth.ResourceScope{{Type: auth.TypeRepository, Name: "project/app", Actions: push}})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := f.svc.IssueToken(ctx, mallory, g)
		if err != nil {
			t.Fatal(err)
		}
		victim := f.caller(auth.Principal{Kind: auth.KindUser, Name: "victim"})
		if _, err := f.svc.CreateNamespace(ctx, victim, access.NamespaceCreate{Name: "project"}); err != nil {
			t.Fatal(err)
		}
		bc, err := f.svc.Authenticate(ctx, auth.Credentials{Scheme: auth.SchemeBearer, Token: tok}, client)
		if err != nil {
			t.Fatal(err)
		}
		if az, err := f.svc.Authorize(ctx, bc, "project/app", push); err != nil || len(az.Granted) != 0 {
			t.Fatalf("the token reaches into another's namespace: %+v, %v", az, err)
		}
		if err := f.svc.CreateNamespaceByPush(ctx, bc, "project/app"); !errors.Is(err, access.ErrDenied) {
			t.Fatalf("create by push into another's namespace: %v", err)
		}
	})
}

// TestOneNamespaceRule: the management API and a push create namespaces
// by the same rule, and leave the same namespace behind.
func TestOneNamespaceRule(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		for _, option := range []bool{false, true} {
			f := newFixture(t, b, func(o *access.Options) { o.CreateNamespaces = option })
			f.user(t, "alice", "alice-pw", false)
			f.user(t, "root", "root-pw", true)
			scoped := func(owner string, admin bool, scopes ...string) auth.Principal {
				var ss auth.ScopeSet
				for _, s := range scopes {
					sc, err := auth.ParseScope(s)
					if err != nil {
						t.Fatal(err)
					}
					ss = append(ss, sc)
				}
				return auth.Principal{Kind: auth.KindToken, Name: "t-" + owner, Owner: owner, SystemAdmin: admin, Scopes: ss}
			}
			for _, tt := range []struct {
				name      string
				p         auth.Principal
				api, push bool   // may create through the API, by a push
				member    string // who becomes its admin
			}{
				{"system administrator", auth.Principal{Kind: auth.KindUser, Name: "root", SystemAdmin: true}, true, true, ""},
				{"administrator's token for everything", scoped("root", true, "*:*"), true, true, ""},
				{"administrator's token for a push", scoped("root", true, "target/*:push"), false, true, ""},
				{"user", auth.Principal{Kind: auth.KindUser, Name: "alice"}, option, option, "alice"},
				{"user's token managing the namespace", scoped("alice", false, "target/*:manage,push"), option, option, "alice"},
				{"user's token for another namespace", scoped("alice", false, "other/*:*"), false, false, ""},
				{"robot", auth.Principal{Kind: auth.KindRobot, Name: "NS+bot", Owner: "NS", Scopes: auth.ScopeSet{{Pattern: "*", Actions: auth.Actions()}}}, false, false, ""},
				{"anonymous", auth.Principal{Kind: auth.KindAnonymous}, false, false, ""},
			} {
				for _, path := range []string{"api", "push"} {
					ns := fmt.Sprintf("ns-%v-%d-%s", option, len(tt.name), path)
					p := tt.p
					p.Scopes = slices.Clone(p.Scopes)
					for i := range p.Scopes {
						if p.Scopes[i].Pattern == "target/*" {
							p.Scopes[i].Pattern = ns + "/*"
						}
					}
					c := f.caller(p)
					var err error
					want := tt.api
					if path == "api" {
						_, err = f.svc.CreateNamespace(context.Background(), c, access.NamespaceCreate{Name: ns})
					} else {
						want = tt.push
						err = f.svc.CreateNamespaceByPush(context.Background(), c, ns+"/app")
					}
					if (err == nil) != want || (err != nil && !errors.Is(err, access.ErrDenied)) {
						t.Errorf("createNamespaces=%v, %s through %s: %v, want allowed=%v", option, tt.name, path, err, want)
						continue
					}
					if err != nil {
						continue
					}
					ms, err := f.store.Members(context.Background(), ns)
					if err != nil {
						t.Fatal(err)
					}
					got := ""
					if len(ms) == 1 && ms[0].Role == "admin" {
						got = ms[0].User
					}
					if got != tt.member || len(ms) > 1 {
						t.Errorf("createNamespaces=%v, %s through %s: members %+v, want admin %q", option, tt.name, path, ms, tt.member)
					}
				}
			}
		}
	})
}

// TestNamespaceOperations: names are checked, each change is recorded in
// its transaction and each refusal after it, and refusals come as the
// typed errors the edges translate.
func TestNamespaceOperations(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, nil)
		ctx := context.Background()
		f.user(t, "alice", "alice-pw", false)
		f.user(t, "bob", "bob-pw", false)
		root := f.caller(auth.Principal{Kind: auth.KindUser, Name: "admin", SystemAdmin: true})
		alice := f.caller(auth.Principal{Kind: auth.KindUser, Name: "alice"})
		bob := f.caller(auth.Principal{Kind: auth.KindUser, Name: "bob"})

		for _, bad := range []string{"Team", "a/b", "", "-x"} {
			if _, err := f.svc.CreateNamespace(ctx, root, access.NamespaceCreate{Name: bad}); !errors.Is(err, access.ErrInvalid) {
				t.Errorf("namespace %q: %v", bad, err)
			}
		}
		if _, err := f.svc.CreateNamespace(ctx, root, access.NamespaceCreate{Name: "team"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CreateNamespace(ctx, root, access.NamespaceCreate{Name: "team"}); !errors.Is(err, access.ErrConflict) {
			t.Errorf("second create: %v", err)
		}
		if _, err := f.svc.CreateNamespace(ctx, alice, access.NamespaceCreate{Name: "mine"}); !errors.Is(err, access.ErrDenied) {
			t.Errorf("create by a user: %v", err)
		}
		if _, err := f.svc.PutMember(ctx, root, "team", "alice", auth.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.PutMember(ctx, alice, "team", "bob", "owner"); !errors.Is(err, access.ErrInvalid) {
			t.Errorf("bad role: %v", err)
		}
		if _, err := f.svc.PutMember(ctx, alice, "team", "nobody", auth.RoleReadonly); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
		m, err := f.svc.PutMember(ctx, alice, "team", "bob", auth.RoleDeveloper)
		if err != nil || m.Role != "developer" || m.CreatedAt.IsZero() {
			t.Fatalf("put member: %+v, %v", m, err)
		}
		// bob sees team but may not manage it; a private namespace he is not
		// in is not found.
		if _, err := f.svc.UpdateNamespace(ctx, bob, "team", access.NamespaceUpdate{Public: ptr(true)}); !errors.Is(err, access.ErrDenied) {
			t.Errorf("update by a developer: %v", err)
		}
		if _, err := f.svc.CreateNamespace(ctx, root, access.NamespaceCreate{Name: "hidden"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Members(ctx, bob, "hidden"); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("members of a namespace bob may not see: %v", err)
		}
		ns, err := f.svc.UpdateNamespace(ctx, alice, "team", access.NamespaceUpdate{Public: ptr(true)})
		if err != nil || !ns.Public {
			t.Fatalf("update: %+v, %v", ns, err)
		}
		if err := f.svc.DeleteNamespace(ctx, alice, "team"); !errors.Is(err, access.ErrDenied) {
			t.Errorf("delete by its admin: %v", err)
		}
		if err := f.svc.DeleteMember(ctx, alice, "team", "bob"); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.DeleteNamespace(ctx, root, "team"); err != nil {
			t.Fatal(err)
		}
		for _, ev := range [][3]string{
			{"namespace.create", "team", "ok"}, {"namespace.create", "team", "failed"}, {"namespace.create", "mine", "denied"},
			{"member.put", "team:alice", "ok"}, {"member.put", "team:bob", "failed"}, {"member.put", "team:nobody", "failed"},
			{"member.put", "team:bob", "ok"}, {"namespace.update", "team", "denied"}, {"namespace.update", "team", "ok"},
			{"namespace.delete", "team", "denied"}, {"member.delete", "team:bob", "ok"}, {"namespace.delete", "team", "ok"},
		} {
			es, err := f.store.Audit(ctx, meta.AuditQuery{Action: ev[0], TargetPrefix: ev[1], Result: ev[2]})
			if err != nil || len(es) == 0 {
				t.Errorf("no audit event %v (%v)", ev, err)
				continue
			}
			if es[0].Client != "192.0.2.7" || es[0].Actor == "" {
				t.Errorf("audit event %+v lacks actor or client", es[0])
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestCreateNamespaceIsOneTransaction: a namespace whose creator cannot be
// made its admin (the account went meanwhile) is not created, and the
// refusal is on record. Statement by statement, the namespace stayed,
// with no admin.
func TestCreateNamespaceIsOneTransaction(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, func(o *access.Options) { o.CreateNamespaces = true })
		ctx := context.Background()
		ghost := f.caller(auth.Principal{Kind: auth.KindUser, Name: "ghost"}) // authenticated, then deleted
		if _, err := f.svc.CreateNamespace(ctx, ghost, access.NamespaceCreate{Name: "haunted"}); !errors.Is(err, access.ErrNotFound) {
			t.Fatalf("create by a deleted account: %v", err)
		}
		f.noNamespace(t, "haunted", "a failed creation")
		if es, _ := f.store.Audit(ctx, meta.AuditQuery{Action: "namespace.create", Result: "failed"}); len(es) != 1 || es[0].Target != "haunted" {
			t.Errorf("the failure's record: %+v", es)
		}
		if es, _ := f.store.Audit(ctx, meta.AuditQuery{Action: "namespace.create", Result: "ok"}); len(es) != 0 {
			t.Errorf("a rolled-back creation recorded ok: %+v", es)
		}
	})
}

// TestNamespaceKinds: a namespace is general unless created with a kind;
// only system administrators create proxy namespaces, and no push does;
// an unknown kind is refused.
func TestNamespaceKinds(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, func(o *access.Options) { o.CreateNamespaces = true })
		ctx := context.Background()
		f.user(t, "alice", "alice-pw", false)
		root := f.caller(auth.Principal{Kind: auth.KindUser, Name: "admin", SystemAdmin: true})
		alice := f.caller(auth.Principal{Kind: auth.KindUser, Name: "alice"})

		if ns, err := f.svc.CreateNamespace(ctx, alice, access.NamespaceCreate{Name: "mine"}); err != nil || ns.Kind != meta.NamespaceGeneral {
			t.Fatalf("general namespace: %+v, %v", ns, err)
		}
		if _, err := f.svc.CreateNamespace(ctx, alice, access.NamespaceCreate{Name: "hub", Kind: meta.NamespaceProxy}); !errors.Is(err, access.ErrDenied) {
			t.Errorf("a proxy namespace by a user: %v, want denied", err)
		}
		f.noNamespace(t, "hub", "a refused create")
		if _, err := f.svc.CreateNamespace(ctx, root, access.NamespaceCreate{Name: "hub", Kind: "mirror"}); !errors.Is(err, access.ErrInvalid) {
			t.Errorf("an unknown kind: %v, want invalid", err)
		}
		if _, err := f.svc.CreateNamespace(ctx, root, access.NamespaceCreate{Name: "x", Kind: meta.NamespaceProxy, Push: "x/app"}); !errors.Is(err, access.ErrDenied) {
			t.Errorf("a proxy namespace by a push: %v, want denied", err)
		}
		ns, err := f.svc.CreateNamespace(ctx, root, access.NamespaceCreate{Name: "hub", Kind: meta.NamespaceProxy, Public: true})
		if err != nil || ns.Kind != meta.NamespaceProxy {
			t.Fatalf("proxy namespace by an administrator: %+v, %v", ns, err)
		}
		if got, err := f.store.Namespace(ctx, "hub"); err != nil || got.Kind != meta.NamespaceProxy {
			t.Errorf("stored: %+v, %v", got, err)
		}
	})
}
