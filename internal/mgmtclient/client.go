// Package mgmtclient is a client of wharf's management API (/api/v1), used
// by the `wharf user|namespace|member|token|repo|audit` commands. It speaks
// the API's JSON with the types of package mgmt and turns problem JSON into
// [*Error].
package mgmtclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// Client calls one server's management API. Credentials are a user name and
// password (or access token) sent as Basic, or an access token alone, sent
// as the bearer token.
type Client struct {
	URL      string // e.g. http://localhost:5000
	Token    string
	Username string
	Password string
	HTTP     *http.Client // http.DefaultClient if nil
}

// Error is a refusal of the server, from its problem JSON.
type Error struct {
	Status  int
	Problem mgmt.Problem
}

func (e *Error) Error() string {
	msg := e.Problem.Detail
	if msg == "" {
		msg = e.Problem.Title
	}
	if e.Problem.Code == "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, msg)
	}
	return fmt.Sprintf("%s: %s", e.Problem.Code, msg)
}

// IsStatus reports whether err is an *Error with HTTP status status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// do sends a request with a JSON body (or an io.Reader sent as text) and
// decodes a JSON answer into out, if not nil.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	ctype := ""
	switch b := in.(type) {
	case nil:
	case io.Reader:
		body, ctype = b, "text/plain"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(j), "application/json"
	}
	u := strings.TrimSuffix(c.URL, "/") + mgmt.Prefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	switch {
	case c.Username != "":
		pw := c.Password
		if pw == "" {
			pw = c.Token
		}
		req.SetBasicAuth(c.Username, pw)
	case c.Token != "":
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(data, &e.Problem) != nil {
			e.Problem.Title = strings.TrimSpace(string(data))
		}
		return e
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
	}
	return nil
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }

// repoPath escapes a repository name segment by segment, keeping slashes.
func repoPath(repo string) string {
	parts := strings.Split(repo, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// all follows a listing's next cursors and returns every item. cursor
// names the query parameter the cursor goes in ("last", or "before").
func all[T any](ctx context.Context, c *Client, path, cursor string, q url.Values) ([]T, error) {
	out := []T{}
	if q == nil {
		q = url.Values{}
	}
	q.Set("n", "1000")
	for {
		var l mgmt.List[T]
		if err := c.do(ctx, http.MethodGet, path, q, nil, &l); err != nil {
			return nil, err
		}
		out = append(out, l.Items...)
		if l.Next == "" {
			return out, nil
		}
		q.Set(cursor, l.Next)
	}
}

// Me returns who the credentials are.
func (c *Client) Me(ctx context.Context) (mgmt.Me, error) {
	var m mgmt.Me
	return m, c.do(ctx, http.MethodGet, "/me", nil, nil, &m)
}

// Users lists every user.
func (c *Client) Users(ctx context.Context) ([]mgmt.User, error) {
	return all[mgmt.User](ctx, c, "/users", "last", nil)
}

// User returns user name.
func (c *Client) User(ctx context.Context, name string) (mgmt.User, error) {
	var u mgmt.User
	return u, c.do(ctx, http.MethodGet, "/users/"+seg(name), nil, nil, &u)
}

// CreateUser creates a user.
func (c *Client) CreateUser(ctx context.Context, in mgmt.UserCreate) (mgmt.User, error) {
	var u mgmt.User
	return u, c.do(ctx, http.MethodPost, "/users", nil, in, &u)
}

// UpdateUser changes a user's password or flags.
func (c *Client) UpdateUser(ctx context.Context, name string, in mgmt.UserUpdate) (mgmt.User, error) {
	var u mgmt.User
	return u, c.do(ctx, http.MethodPatch, "/users/"+seg(name), nil, in, &u)
}

// Memberships lists the namespaces user belongs to, with their roles.
func (c *Client) Memberships(ctx context.Context, user string) ([]mgmt.Member, error) {
	var l mgmt.List[mgmt.Member]
	return l.Items, c.do(ctx, http.MethodGet, "/users/"+seg(user)+"/memberships", nil, nil, &l)
}

// DeleteUser deletes a user.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/users/"+seg(name), nil, nil, nil)
}

// ImportUsers imports an htpasswd file; update replaces the passwords of
// users that exist.
func (c *Client) ImportUsers(ctx context.Context, htpasswd io.Reader, update bool) (mgmt.ImportResult, error) {
	var res mgmt.ImportResult
	q := url.Values{}
	if update {
		q.Set("update", "true")
	}
	return res, c.do(ctx, http.MethodPost, "/users/import", q, htpasswd, &res)
}

// Namespaces lists every namespace the caller may see.
func (c *Client) Namespaces(ctx context.Context) ([]mgmt.Namespace, error) {
	return all[mgmt.Namespace](ctx, c, "/namespaces", "last", nil)
}

// Namespace returns namespace name.
func (c *Client) Namespace(ctx context.Context, name string) (mgmt.Namespace, error) {
	var ns mgmt.Namespace
	return ns, c.do(ctx, http.MethodGet, "/namespaces/"+seg(name), nil, nil, &ns)
}

// CreateNamespace creates a namespace.
func (c *Client) CreateNamespace(ctx context.Context, in mgmt.NamespaceCreate) (mgmt.Namespace, error) {
	var ns mgmt.Namespace
	return ns, c.do(ctx, http.MethodPost, "/namespaces", nil, in, &ns)
}

// UpdateNamespace changes a namespace's settings.
func (c *Client) UpdateNamespace(ctx context.Context, name string, in mgmt.NamespaceUpdate) (mgmt.Namespace, error) {
	var ns mgmt.Namespace
	return ns, c.do(ctx, http.MethodPatch, "/namespaces/"+seg(name), nil, in, &ns)
}

// DeleteNamespace deletes a namespace with its members and robots.
func (c *Client) DeleteNamespace(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/namespaces/"+seg(name), nil, nil, nil)
}

// Members lists a namespace's members.
func (c *Client) Members(ctx context.Context, ns string) ([]mgmt.Member, error) {
	var l mgmt.List[mgmt.Member]
	return l.Items, c.do(ctx, http.MethodGet, "/namespaces/"+seg(ns)+"/members", nil, nil, &l)
}

// PutMember gives user role in namespace ns.
func (c *Client) PutMember(ctx context.Context, ns, user, role string) (mgmt.Member, error) {
	var m mgmt.Member
	return m, c.do(ctx, http.MethodPut, "/namespaces/"+seg(ns)+"/members/"+seg(user), nil, mgmt.MemberPut{Role: role}, &m)
}

// DeleteMember removes user from namespace ns.
func (c *Client) DeleteMember(ctx context.Context, ns, user string) error {
	return c.do(ctx, http.MethodDelete, "/namespaces/"+seg(ns)+"/members/"+seg(user), nil, nil, nil)
}

// Tokens lists the personal access tokens of user, or with refresh its
// refresh tokens (the sessions of docker login and other OAuth2 clients).
func (c *Client) Tokens(ctx context.Context, user string, refresh bool) ([]mgmt.Token, error) {
	var q url.Values
	if refresh {
		q = url.Values{"kind": {"refresh"}}
	}
	var l mgmt.List[mgmt.Token]
	return l.Items, c.do(ctx, http.MethodGet, "/users/"+seg(user)+"/tokens", q, nil, &l)
}

// CreateToken creates a personal access token of user; the answer holds
// its secret.
func (c *Client) CreateToken(ctx context.Context, user string, in mgmt.TokenCreate) (mgmt.Token, error) {
	var t mgmt.Token
	return t, c.do(ctx, http.MethodPost, "/users/"+seg(user)+"/tokens", nil, in, &t)
}

// RevokeToken revokes personal access token or refresh token id of user.
func (c *Client) RevokeToken(ctx context.Context, user, id string) error {
	return c.do(ctx, http.MethodDelete, "/users/"+seg(user)+"/tokens/"+seg(id), nil, nil, nil)
}

// Robots lists the robot accounts of namespace ns.
func (c *Client) Robots(ctx context.Context, ns string) ([]mgmt.Token, error) {
	var l mgmt.List[mgmt.Token]
	return l.Items, c.do(ctx, http.MethodGet, "/namespaces/"+seg(ns)+"/robots", nil, nil, &l)
}

// CreateRobot creates a robot account of namespace ns; the answer holds its
// secret.
func (c *Client) CreateRobot(ctx context.Context, ns string, in mgmt.TokenCreate) (mgmt.Token, error) {
	var t mgmt.Token
	return t, c.do(ctx, http.MethodPost, "/namespaces/"+seg(ns)+"/robots", nil, in, &t)
}

// RevokeRobot revokes robot id of namespace ns.
func (c *Client) RevokeRobot(ctx context.Context, ns, id string) error {
	return c.do(ctx, http.MethodDelete, "/namespaces/"+seg(ns)+"/robots/"+seg(id), nil, nil, nil)
}

// Repositories lists every repository the caller may pull.
func (c *Client) Repositories(ctx context.Context) ([]mgmt.Repository, error) {
	return all[mgmt.Repository](ctx, c, "/repositories", "last", nil)
}

// Tags lists every tag of repo.
func (c *Client) Tags(ctx context.Context, repo string) ([]mgmt.Tag, error) {
	return all[mgmt.Tag](ctx, c, "/repositories/"+repoPath(repo)+"/tags", "last", nil)
}

// DeleteTag removes tag from repo, keeping the manifest.
func (c *Client) DeleteTag(ctx context.Context, repo, tag string) error {
	return c.do(ctx, http.MethodDelete, "/repositories/"+repoPath(repo)+"/tags/"+seg(tag), nil, nil, nil)
}

// DeleteManifest deletes manifest digest of repo and every tag naming it.
func (c *Client) DeleteManifest(ctx context.Context, repo, digest string) error {
	return c.do(ctx, http.MethodDelete, "/repositories/"+repoPath(repo)+"/manifests/"+seg(digest), nil, nil, nil)
}

// AuditQuery filters the audit log; zero fields do not filter. Limit caps
// the events returned (0: 100).
type AuditQuery struct {
	Actor, Action, Target, Result string
	Since, Until                  string // RFC 3339
	Limit                         int
}

// Audit returns the events q selects, newest first.
func (c *Client) Audit(ctx context.Context, q AuditQuery) ([]mgmt.AuditEvent, error) {
	v := url.Values{}
	for k, s := range map[string]string{"actor": q.Actor, "action": q.Action, "target": q.Target,
		"result": q.Result, "since": q.Since, "until": q.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	out := []mgmt.AuditEvent{}
	for len(out) < limit {
		v.Set("n", strconv.Itoa(min(limit-len(out), 1000)))
		var l mgmt.List[mgmt.AuditEvent]
		if err := c.do(ctx, http.MethodGet, "/audit", v, nil, &l); err != nil {
			return nil, err
		}
		out = append(out, l.Items...)
		if l.Next == "" {
			break
		}
		v.Set("before", l.Next)
	}
	return out, nil
}

// SigningKeys lists the token signing keys, oldest first.
func (c *Client) SigningKeys(ctx context.Context) ([]mgmt.SigningKey, error) {
	var ks []mgmt.SigningKey
	return ks, c.do(ctx, http.MethodGet, "/keys", nil, nil, &ks)
}

// RotateKey adds a signing key that signs every token from now on.
func (c *Client) RotateKey(ctx context.Context) (mgmt.SigningKey, error) {
	var k mgmt.SigningKey
	return k, c.do(ctx, http.MethodPost, "/keys/rotate", nil, nil, &k)
}

// RetireKey retires signing key id: the tokens it signed are refused.
func (c *Client) RetireKey(ctx context.Context, id string) (mgmt.SigningKey, error) {
	var k mgmt.SigningKey
	return k, c.do(ctx, http.MethodPost, "/keys/"+seg(id)+"/retire", nil, nil, &k)
}

// Upstreams lists the upstreams of every proxy namespace.
func (c *Client) Upstreams(ctx context.Context) ([]mgmt.Upstream, error) {
	var l mgmt.List[mgmt.Upstream]
	return l.Items, c.do(ctx, http.MethodGet, "/upstreams", nil, nil, &l)
}

// Upstream returns the upstream of proxy namespace ns.
func (c *Client) Upstream(ctx context.Context, ns string) (mgmt.Upstream, error) {
	var u mgmt.Upstream
	return u, c.do(ctx, http.MethodGet, "/namespaces/"+seg(ns)+"/upstream", nil, nil, &u)
}

// SetUpstream sets the upstream of proxy namespace ns.
func (c *Client) SetUpstream(ctx context.Context, ns string, in mgmt.UpstreamPut) (mgmt.Upstream, error) {
	var u mgmt.Upstream
	return u, c.do(ctx, http.MethodPut, "/namespaces/"+seg(ns)+"/upstream", nil, in, &u)
}
