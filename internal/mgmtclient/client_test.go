package mgmtclient

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRequests checks the paths, methods and credentials the client sends
// and how it reads answers that are not the API's: a proxy's HTML error, a
// body that is not JSON.
func TestRequests(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.EscapedPath()+"?"+r.URL.RawQuery+" "+r.Header.Get("Authorization"))
		switch {
		case strings.HasSuffix(r.URL.Path, "/proxy"):
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
		case strings.HasSuffix(r.URL.Path, "/garbage"):
			_, _ = w.Write([]byte("not json"))
		case r.URL.Path == "/api/v1/users" && r.URL.Query().Get("last") == "":
			_, _ = w.Write([]byte(`{"items":[{"name":"a"}],"next":"a"}`))
		case r.URL.Path == "/api/v1/users":
			_, _ = w.Write([]byte(`{"items":[{"name":"b"}]}`))
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"type":"urn:wharf:problem:denied","title":"denied","status":403,"detail":"no","code":"DENIED"}`))
		}
	}))
	defer srv.Close()
	ctx := t.Context()

	c := &Client{URL: srv.URL + "/", Token: "wharf_x"}
	us, err := c.Users(ctx)
	if err != nil || len(us) != 2 || us[0].Name != "a" || us[1].Name != "b" {
		t.Errorf("Users followed pages to %+v, %v", us, err)
	}
	err = c.DeleteTag(ctx, "team/sub app/x", "v1")
	if !IsStatus(err, http.StatusForbidden) || err.Error() != "DENIED: no" {
		t.Errorf("problem answer read as %v", err)
	}
	c = &Client{URL: srv.URL, Username: "ci+bot", Token: "wharf_y"}
	err = c.DeleteUser(ctx, "proxy")
	if !IsStatus(err, http.StatusBadGateway) || !strings.Contains(err.Error(), "bad gateway") {
		t.Errorf("non-problem error read as %v", err)
	}
	if _, err := c.User(ctx, "garbage"); err == nil || !strings.Contains(err.Error(), "unexpected answer") {
		t.Errorf("non-JSON answer read as %v", err)
	}
	want := []string{
		"GET /api/v1/users?n=1000 Bearer wharf_x",
		"GET /api/v1/users?last=a&n=1000 Bearer wharf_x",
		"DELETE /api/v1/repositories/team/sub%20app/x/tags/v1? Bearer wharf_x",
		"DELETE /api/v1/users/proxy? Basic Y2krYm90OndoYXJmX3k=",
		"GET /api/v1/users/garbage? Basic Y2krYm90OndoYXJmX3k=",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
