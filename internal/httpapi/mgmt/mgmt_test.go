package mgmt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/proxy"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/remote"
)

// env is a management API over a real SQLite store and filesystem content
// store, deciding with the real access service. Callers are named in the
// Authorization header ("Bearer NAME"), and env.principals says who each
// name is; the env stands in for the authentication middleware, so a test
// can be any kind of principal without logging in. The server's tests log
// in for real.
type env struct {
	t          *testing.T
	store      *sqlite.Store
	reg        *registry.Registry
	rec        *events.Recorder
	srv        *httptest.Server
	principals map[string]auth.Principal
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(dir, "meta.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cs, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, principals: map[string]auth.Principal{}}
	// root is the system administrator every test starts with; as a user
	// exists, the access service creates no admin of its own.
	e.user("root", true)
	svc, err := access.New(context.Background(), access.Options{
		Access: st, Issuer: "test", Service: "test", BcryptCost: 4, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	e.rec = events.NewRecorder(st, slog.New(slog.DiscardHandler))
	t.Cleanup(e.rec.Close)
	e.reg = registry.New(registry.Options{Content: cs, Meta: st, Logger: slog.New(slog.DiscardHandler), Record: e.rec.Record})
	sealer, err := remote.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	px, err := proxy.New(proxy.Options{Registry: e.reg, Meta: st, Content: cs, Sealer: sealer, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	e.reg.SetUpstream(px)
	h := mgmt.New(mgmt.Options{
		Record:      e.rec.Record,
		Access:      svc,
		Registry:    e.reg,
		Logger:      slog.New(slog.DiscardHandler),
		Replication: e.replication(),
		Proxy:       px,
	})
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := e.authenticate(r)
		h.ServeHTTP(w, r.WithContext(mw.WithCaller(r.Context(), access.Caller{Principal: p, Client: "192.0.2.1"}, err)))
	}))
	t.Cleanup(e.srv.Close)
	return e
}

var errBadCredentials = fmt.Errorf("bad credentials: %w", access.ErrUnauthenticated)

func (e *env) authenticate(r *http.Request) (auth.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return auth.Principal{Kind: auth.KindAnonymous}, nil
	}
	p, ok := e.principals[strings.TrimPrefix(h, "Bearer ")]
	if !ok {
		return auth.Principal{}, errBadCredentials
	}
	p.At = time.Now()
	return p, nil
}

// user creates a user and registers it as a caller of its own name.
func (e *env) user(name string, admin bool) {
	e.t.Helper()
	if err := e.store.CreateUser(context.Background(), meta.User{Name: name, Admin: admin}); err != nil {
		e.t.Fatal(err)
	}
	e.principals[name] = auth.Principal{Kind: auth.KindUser, Name: name, SystemAdmin: admin}
}

// token registers a caller acting as a personal access token of owner.
func (e *env) token(caller, owner string, admin bool, scopes ...string) {
	e.t.Helper()
	var ss auth.ScopeSet
	for _, s := range scopes {
		sc, err := auth.ParseScope(s)
		if err != nil {
			e.t.Fatal(err)
		}
		ss = append(ss, sc)
	}
	e.principals[caller] = auth.Principal{Kind: auth.KindToken, Name: "t-" + caller, Owner: owner, SystemAdmin: admin, Scopes: ss}
}

// response is an answer, its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) problem(t *testing.T) mgmt.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("error with Content-Type %q, want application/problem+json; body %s", ct, r.body)
	}
	var p mgmt.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem JSON: %v: %s", err, r.body)
	}
	if p.Status != r.status || p.Code == "" || p.Title == "" || !strings.HasPrefix(p.Type, mgmt.ProblemType) {
		t.Errorf("problem %+v does not describe status %d", p, r.status)
	}
	return p
}

// do sends a request as caller (none if empty) with a JSON body (or a
// string sent as is).
func (e *env) do(caller, method, path string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if caller != "" {
		req.Header.Set("Authorization", "Bearer "+caller)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// want sends a request and checks the status; with out, it decodes the
// JSON answer into it.
func (e *env) want(status int, caller, method, path string, body, out any) response {
	e.t.Helper()
	r := e.do(caller, method, path, body)
	if r.status != status {
		e.t.Fatalf("%s %s as %q: status %d, want %d; body %s", method, path, caller, r.status, status, r.body)
	}
	if status >= 400 {
		r.problem(e.t)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, r.body)
		}
	}
	return r
}

// push stores a small image in repo under tag, through the registry.
func (e *env) push(repo, tag string) digest.Digest {
	e.t.Helper()
	ctx := context.Background()
	cfg := []byte(`{"architecture":"amd64","os":"linux","tag":"` + tag + `"}`)
	cd := digest.FromBytes(cfg)
	if _, err := e.reg.PutBlob(ctx, repo, cd, int64(len(cfg)), bytes.NewReader(cfg)); err != nil {
		e.t.Fatal(err)
	}
	payload := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[]}`, cd, len(cfg))
	d, _, err := e.reg.PutManifest(ctx, repo, oci.Reference{Tag: tag}, "application/vnd.oci.image.manifest.v1+json", payload)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// auditHas reports whether the audit log holds an event of action on
// target with result, waiting a little for the events of refusals, which
// are written off the request path.
func (e *env) auditHas(action, target, result string) bool {
	e.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		es, err := e.store.Audit(context.Background(), meta.AuditQuery{Action: action, N: 1000})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, ev := range es {
			if ev.Target == target && ev.Result == result {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
