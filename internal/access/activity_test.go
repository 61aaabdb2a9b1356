package access_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// TestActivity: the feed shows each caller exactly what its roles allow:
// the whole registry to system administrators only; a namespace's image
// events to those who may pull its images, its own events (members) to
// its managers only; with a token scoped to one repository, that
// repository's events; nothing of a namespace the caller may not see
// (not found, not an empty page); client addresses to system
// administrators only; never logins.
func TestActivity(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, nil)
		ctx := context.Background()
		f.user(t, "root", "root-pw", true)
		f.user(t, "alice", "alice-pw", false)
		f.user(t, "bob", "bob-pw", false)
		f.user(t, "carol", "carol-pw", false)
		f.namespace(t, "team", false, map[string]auth.Role{"alice": auth.RoleDeveloper, "carol": auth.RoleAdmin})
		f.namespace(t, "secret", false, nil)
		f.namespace(t, "pub", true, nil)
		_, pat := f.token(t, meta.TokenPersonal, "alice", "one-repo", f.clock.now().Add(time.Hour), "team/app:pull")

		d := digest.FromString("image")
		actx := events.WithActor(ctx, events.Actor{Name: "user:root", Client: "198.51.100.9"})
		stream := []events.Event{
			events.New(actx, "team/app", &events.ArtifactPushed{Digest: d, Tags: []string{"v1"}}),
			events.New(actx, "team/app", &events.ArtifactPulled{Digest: d, Tag: "v1", Count: 3, Clients: []string{"198.51.100.9"}}),
			events.New(actx, "team/db", &events.ArtifactPushed{Digest: d}),
			events.New(actx, "", &events.MemberSet{User: "alice", Role: "developer"}).InNamespace("team"),
			events.New(actx, "secret/x", &events.ArtifactPushed{Digest: d}),
			events.New(actx, "pub/y", &events.TagDeleted{Tag: "old", Digest: d}),
			events.New(actx, "team/app", &events.AccessDenied{Action: "delete", Target: "team/app:v1"}),
		}
		err := f.store.(meta.Store).Update(ctx, func(tx meta.Tx) error { return events.Append(ctx, tx, stream...) })
		if err != nil {
			t.Fatal(err)
		}
		caller := func(user, secret string) access.Caller {
			t.Helper()
			c, err := f.svc.Authenticate(ctx, basic(user, secret), client) // a login.succeeded each
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		root, alice, bob, carol := caller("root", "root-pw"), caller("alice", "alice-pw"), caller("bob", "bob-pw"), caller("carol", "carol-pw")
		scoped := caller("alice", pat)
		anonymous := access.Caller{Principal: auth.Principal{Kind: auth.KindAnonymous, At: f.clock.now()}}

		// lines are the entries as "kind repository", newest first.
		lines := func(a access.Activity) []string {
			var out []string
			for _, e := range a.Entries {
				out = append(out, fmt.Sprintf("%s %s", e.Kind(), e.Repository))
			}
			return out
		}
		for _, tc := range []struct {
			name string
			c    access.Caller
			q    access.ActivityQuery
			want []string
			err  error
		}{
			{"admin, registry", root, access.ActivityQuery{}, []string{"tag.deleted pub/y", "artifact.pushed secret/x", "member.set ",
				"artifact.pushed team/db", "artifact.pulled team/app", "artifact.pushed team/app"}, nil},
			{"member, registry", alice, access.ActivityQuery{}, nil, access.ErrDenied},
			{"member, namespace", alice, access.ActivityQuery{Namespace: "team"}, []string{"artifact.pushed team/db",
				"artifact.pulled team/app", "artifact.pushed team/app"}, nil},
			{"manager, namespace", carol, access.ActivityQuery{Namespace: "team"}, []string{"member.set ", "artifact.pushed team/db",
				"artifact.pulled team/app", "artifact.pushed team/app"}, nil},
			{"token of one repository", scoped, access.ActivityQuery{Namespace: "team"}, []string{"artifact.pulled team/app", "artifact.pushed team/app"}, nil},
			{"token, another repository", scoped, access.ActivityQuery{Repository: "team/db"}, nil, nil},
			{"member, repository", alice, access.ActivityQuery{Repository: "team/app"}, []string{"artifact.pulled team/app", "artifact.pushed team/app"}, nil},
			{"member, kind", alice, access.ActivityQuery{Namespace: "team", Kinds: []events.Kind{events.KindArtifactPulled}}, []string{"artifact.pulled team/app"}, nil},
			{"member, a manager's kind", alice, access.ActivityQuery{Namespace: "team", Kinds: []events.Kind{events.KindMemberSet}}, nil, access.ErrInvalid},
			{"member, an audit kind", carol, access.ActivityQuery{Namespace: "team", Kinds: []events.Kind{events.KindAccessDenied}}, nil, access.ErrInvalid},
			{"member, another namespace", alice, access.ActivityQuery{Namespace: "secret"}, nil, access.ErrNotFound},
			{"member, another namespace's repository", alice, access.ActivityQuery{Repository: "secret/x"}, nil, access.ErrNotFound},
			{"repository outside the namespace", alice, access.ActivityQuery{Namespace: "team", Repository: "secret/x"}, nil, access.ErrInvalid},
			{"outsider, private namespace", bob, access.ActivityQuery{Namespace: "team"}, nil, access.ErrNotFound},
			{"outsider, public namespace", bob, access.ActivityQuery{Namespace: "pub"}, []string{"tag.deleted pub/y"}, nil},
			{"anonymous, public namespace", anonymous, access.ActivityQuery{Namespace: "pub"}, nil, access.ErrDenied},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := f.svc.Activity(ctx, tc.c, tc.q)
				if tc.err != nil {
					if !errors.Is(err, tc.err) {
						t.Fatalf("Activity = %v, %v; want %v", lines(got), err, tc.err)
					}
					return
				}
				if err != nil || !slices.Equal(lines(got), tc.want) || got.Next != 0 {
					t.Fatalf("Activity = %q (next %d), %v; want %q", lines(got), got.Next, err, tc.want)
				}
				for _, e := range got.Entries {
					client := e.Actor.Client != "" || e.Actor.Request != nil
					if p, ok := e.Data.(*events.ArtifactPulled); ok && len(p.Clients) > 0 {
						client = true
					}
					if client != (tc.c.Principal.Name == "root") {
						t.Errorf("%s: client address shown: %v", e.Kind(), client)
					}
				}
			})
		}

		// Pages: the cursor goes on where the page ended, to the end.
		p1, err := f.svc.Activity(ctx, alice, access.ActivityQuery{Namespace: "team", N: 2})
		if err != nil || len(p1.Entries) != 2 || p1.Next == 0 {
			t.Fatalf("first page = %q, next %d, %v", lines(p1), p1.Next, err)
		}
		p2, err := f.svc.Activity(ctx, alice, access.ActivityQuery{Namespace: "team", N: 2, Before: p1.Next})
		if err != nil || !slices.Equal(lines(p2), []string{"artifact.pushed team/app"}) || p2.Next != 0 {
			t.Fatalf("second page = %q, next %d, %v", lines(p2), p2.Next, err)
		}
	})
}
