package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/meta"
)

// TestAuthorizationCreatesNothing: asking may I push into a namespace that
// does not exist (a token request, a mount, an upload started and
// abandoned) creates nothing, even when the answer is yes; the push that
// writes creates it, with its pusher as admin. Before, each of these
// authorisations created the namespace.
func TestAuthorizationCreatesNothing(t *testing.T) {
	ar := newAuthRegistry(t, func(c *config.Config) { c.Auth.CreateNamespaces = true })
	ar.user("dev", false)
	ar.namespace("team", false, map[string]auth.Role{"dev": auth.RoleDeveloper})
	dev := &client{tr: ar.testRegistry, user: "dev", secret: "dev-pw"}
	if s := dev.pushImage("team/app", "v1", []byte(`{"team":1}`)); s != http.StatusCreated {
		t.Fatalf("seed team/app: %d", s)
	}
	gone := func(what, ns string) {
		t.Helper()
		if _, err := ar.store.Namespace(context.Background(), ns); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("%s created namespace %s (%v)", what, ns, err)
		}
	}

	r, body := ar.tokenFor("dev", "dev-pw", url.Values{"scope": {"repository:fresh/app:pull,push"}})
	if r.status != http.StatusOK || body["token"] == nil {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	if g := grantedAccess(t, body["token"].(string)); len(g) != 1 || len(g[0].Actions) != 2 {
		t.Fatalf("the would-be creator is granted %+v", g)
	}
	gone("a token request", "fresh")

	want(t, "start an upload", dev.do("POST", "/v2/fresh/app/blobs/uploads/", nil), http.StatusAccepted, "")
	gone("an upload started", "fresh")
	unknown := digest.FromString("nothing to mount")
	r = dev.do("POST", "/v2/fresh/app/blobs/uploads/?mount="+unknown.String()+"&from=team/app", nil)
	want(t, "mount of a blob the source lacks", r, http.StatusAccepted, "")
	gone("a mount with nothing to mount", "fresh")
	r = dev.do("POST", "/v2/fresh/app/blobs/uploads/?mount="+digest.FromBytes([]byte(`{"team":1}`)).String()+"&from=nowhere/app", nil)
	want(t, "mount from a repository dev may not pull", r, http.StatusAccepted, "")
	gone("a refused mount", "fresh")

	for _, bearer := range []bool{false, true} {
		ns := map[bool]string{false: "fresh", true: "fresh-bearer"}[bearer]
		c := &client{tr: ar.testRegistry, user: "dev", secret: "dev-pw", bearer: bearer}
		r = c.do("POST", "/v2/"+ns+"/app/blobs/uploads/?mount="+digest.FromBytes([]byte(`{"team":1}`)).String()+"&from=team/app", nil)
		if bearer {
			// The mount's token asked for no pull on team/app: an upload.
			want(t, "bearer mount without the source's scope", r, http.StatusAccepted, "")
			gone("a bearer mount that became an upload", ns)
			if s := c.pushImage(ns+"/app", "v1", []byte(`{"fresh":1}`)); s != http.StatusCreated {
				t.Fatalf("bearer push: %d", s)
			}
		} else {
			want(t, "a mount that writes", r, http.StatusCreated, "")
		}
		m, err := ar.store.Member(context.Background(), ns, "dev")
		if err != nil || m.Role != "admin" {
			t.Fatalf("%s: the pusher's membership %+v, %v", ns, m, err)
		}
	}
}

// TestProvisionalTokenStopsAtAnothersNamespace: a token granted for a push
// into a namespace that did not exist does not reach into it once someone
// else has created it.
func TestProvisionalTokenStopsAtAnothersNamespace(t *testing.T) {
	ar := newAuthRegistry(t, func(c *config.Config) { c.Auth.CreateNamespaces = true })
	ar.user("mallory", false)
	ar.user("victim", false)
	r, body := ar.tokenFor("mallory", "mallory-pw", url.Values{"scope": {"repository:project/app:pull,push"}})
	if r.status != http.StatusOK {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	tok := body["token"].(string)
	victim := &client{tr: ar.testRegistry, user: "victim", secret: "victim-pw"}
	if s := victim.pushImage("project/app", "v1", []byte(`{"victim":1}`)); s != http.StatusCreated {
		t.Fatalf("victim's push: %d", s)
	}
	bearer := []string{"Authorization", "Bearer " + tok}
	want(t, "pull with the stale grant", ar.do("GET", "/v2/project/app/manifests/v1", nil, bearer...), http.StatusForbidden, "DENIED")
	d := digest.FromBytes([]byte("mallory's"))
	r = ar.do("POST", "/v2/project/app/blobs/uploads/?digest="+d.String(), []byte("mallory's"), bearer...)
	want(t, "push with the stale grant", r, http.StatusForbidden, "DENIED")
}
