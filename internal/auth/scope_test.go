package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParseResourceScope(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ResourceScope
	}{
		{"repository:team-a/app:pull,push", ResourceScope{Type: "repository", Name: "team-a/app", Actions: []Action{"pull", "push"}}},
		{"repository:samalba/my-app:pull", ResourceScope{Type: "repository", Name: "samalba/my-app", Actions: []Action{"pull"}}},
		{"repository(plugin):name:pull", ResourceScope{Type: "repository", Class: "plugin", Name: "name", Actions: []Action{"pull"}}},
		{"registry:catalog:*", ResourceScope{Type: "registry", Name: "catalog", Actions: []Action{"*"}}},
		{"repository:localhost:5000/foo/bar:pull", ResourceScope{Type: "repository", Name: "localhost:5000/foo/bar", Actions: []Action{"pull"}}},
		{"repository:Reg.Example.com/foo:push", ResourceScope{Type: "repository", Name: "Reg.Example.com/foo", Actions: []Action{"push"}}},
		{"repository:a__b.c--d/e_f:delete", ResourceScope{Type: "repository", Name: "a__b.c--d/e_f", Actions: []Action{"delete"}}},
		{"repository:app:pull,frobnicate", ResourceScope{Type: "repository", Name: "app", Actions: []Action{"pull", "frobnicate"}}},
	} {
		got, err := ParseResourceScope(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseResourceScope(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if s := got.String(); s != tc.in {
			t.Errorf("String() = %q, want %q", s, tc.in)
		}
	}
}

func TestParseResourceScopeErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"repository",
		"repository:app",
		"repository:app:",
		"repository:app:pull,",
		"repository:app:,pull",
		"repository:app:Pull",
		"repository:app:pu ll",
		":app:pull",
		"Repository:app:pull",
		"repository(:app:pull",
		"repository()::pull",
		"repository(plugin)x:app:pull",
		"repository::pull",
		"repository:App:pull",
		"repository:/app:pull",
		"repository:app/:pull",
		"repository:a//b:pull",
		"repository:foo:5000:pull",
		"repository:-host/app:pull",
		"repository:" + strings.Repeat("a", 256) + ":pull",
		"repository:" + strings.Repeat("a/", 300) + "a:pull",
	} {
		if r, err := ParseResourceScope(in); !errors.Is(err, ErrResourceScopeInvalid) {
			t.Errorf("ParseResourceScope(%q) = %+v, %v; want ErrResourceScopeInvalid", in, r, err)
		}
	}
}

func TestParseResourceScopes(t *testing.T) {
	got, err := ParseResourceScopes(
		"repository:team-a/app:pull,push repository:team-b/base:pull",
		"",
		"  registry:catalog:*  ",
	)
	if err != nil {
		t.Fatal(err)
	}
	if s := FormatResourceScopes(got); s != "repository:team-a/app:pull,push repository:team-b/base:pull registry:catalog:*" {
		t.Errorf("got %q", s)
	}
	if got, err := ParseResourceScopes(); err != nil || got != nil {
		t.Errorf("no parameters: %v, %v", got, err)
	}
	if _, err := ParseResourceScopes("repository:a:pull repository:b:"); !errors.Is(err, ErrResourceScopeInvalid) {
		t.Errorf("one bad scope among good: %v", err)
	}
	many := make([]string, MaxResourceScopes+1)
	for i := range many {
		many[i] = fmt.Sprintf("repository:r%d:pull", i)
	}
	if got, err := ParseResourceScopes(many[:MaxResourceScopes]...); err != nil || len(got) != MaxResourceScopes {
		t.Errorf("%d scopes: %d, %v", MaxResourceScopes, len(got), err)
	}
	if _, err := ParseResourceScopes(strings.Join(many, " ")); !errors.Is(err, ErrResourceScopeInvalid) {
		t.Errorf("%d scopes: %v, want an error", len(many), err)
	}
}

func TestMergeResourceScopes(t *testing.T) {
	in, err := ParseResourceScopes("repository:a:pull repository(plugin):a:push,pull registry:catalog:* repository:b:pull repository:a:delete")
	if err != nil {
		t.Fatal(err)
	}
	if s := FormatResourceScopes(MergeResourceScopes(in)); s != "repository:a:pull,push,delete registry:catalog:* repository:b:pull" {
		t.Errorf("merged: %q", s)
	}
}

func TestIntersectActions(t *testing.T) {
	for _, tc := range []struct {
		req, granted []Action
		want         string
	}{
		{[]Action{"pull", "push"}, []Action{"pull", "push"}, "pull push"},
		{[]Action{"pull", "push"}, []Action{"pull"}, "pull"},
		{[]Action{"pull", "push"}, nil, ""},
		{[]Action{"push", "pull", "push"}, []Action{"*"}, "push pull"},
		{[]Action{"*"}, []Action{"pull", "push", "delete"}, ""},
		{nil, []Action{"pull"}, ""},
	} {
		got := IntersectActions(tc.req, tc.granted)
		if got == nil || actionsString(got) != tc.want {
			t.Errorf("IntersectActions(%v, %v) = %#v, want %q", tc.req, tc.granted, got, tc.want)
		}
	}
}

func TestGrant(t *testing.T) {
	req, err := ParseResourceScopes("repository:team-a/app:pull,push", "repository:team-b/base:pull repository:team-a/app:delete repository:secret/x:pull")
	if err != nil {
		t.Fatal(err)
	}
	held := map[string][]Action{"team-a/app": {"pull", "push"}, "team-b/base": {"*"}}
	got, err := Grant(req, func(r ResourceScope) ([]Action, error) { return held[r.Name], nil })
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	want := `[{"type":"repository","name":"team-a/app","actions":["pull","push"]},` +
		`{"type":"repository","name":"team-b/base","actions":["pull"]},` +
		`{"type":"repository","name":"secret/x","actions":[]}]`
	if string(b) != want {
		t.Errorf("granted\n%s\nwant\n%s", b, want)
	}
	boom := errors.New("database down")
	if _, err := Grant(req, func(ResourceScope) ([]Action, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("decide error lost: %v", err)
	}
}

func TestResourceScopeAllows(t *testing.T) {
	r := ResourceScope{Type: TypeRepository, Name: "a", Actions: []Action{"pull"}}
	if !r.Allows("pull") || r.Allows("push") {
		t.Error("Allows on a plain list")
	}
	r.Actions = []Action{"*"}
	if !r.Allows("delete") {
		t.Error("* does not cover delete")
	}
}

func FuzzParseResourceScope(f *testing.F) {
	for _, s := range []string{
		"repository:team-a/app:pull,push", "repository(plugin):name:pull", "registry:catalog:*",
		"repository:localhost:5000/foo:pull", "a:b:c", "repository:a:b:c", "::", "x(y):z:*,*",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseResourceScope(s)
		if err != nil {
			if !errors.Is(err, ErrResourceScopeInvalid) {
				t.Fatalf("error %v is not ErrResourceScopeInvalid", err)
			}
			return
		}
		if r.String() != s {
			t.Fatalf("ParseResourceScope(%q).String() = %q", s, r.String())
		}
		if r.Type == "" || r.Name == "" || len(r.Actions) == 0 {
			t.Fatalf("ParseResourceScope(%q) = %+v has an empty part", s, r)
		}
		if strings.ContainsAny(r.Name, " ,\"\\") || strings.ContainsAny(r.Type, ":") {
			t.Fatalf("ParseResourceScope(%q) = %+v lets a separator through", s, r)
		}
		many, err := ParseResourceScopes(s + " " + s)
		if err != nil || len(many) != 2 || len(MergeResourceScopes(many)) != 1 {
			t.Fatalf("ParseResourceScopes(%q twice) = %v, %v", s, many, err)
		}
	})
}

func FuzzParseResourceScopes(f *testing.F) {
	f.Add("repository:a:pull repository:b:push", "registry:catalog:*")
	f.Add("  ", "")
	f.Fuzz(func(t *testing.T, p1, p2 string) {
		rs, err := ParseResourceScopes(p1, p2)
		if err != nil {
			return
		}
		if len(rs) > MaxResourceScopes {
			t.Fatalf("%d scopes parsed", len(rs))
		}
		again, err := ParseResourceScopes(FormatResourceScopes(rs))
		if err != nil || !reflect.DeepEqual(again, rs) {
			t.Fatalf("round trip of %q %q: %v, %v", p1, p2, again, err)
		}
	})
}
