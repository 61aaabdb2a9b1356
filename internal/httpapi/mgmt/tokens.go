package mgmt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// Token is a personal access token or robot account as the API shows it.
// Secret is set once, in the answer that creates it.
type Token struct {
	ID         string        `json:"id"`
	Kind       string        `json:"kind"`
	Name       string        `json:"name"`
	Owner      string        `json:"owner"`
	Username   string        `json:"username"` // what to log in with, the token being the password
	Scopes     auth.ScopeSet `json:"scopes"`
	ExpiresAt  time.Time     `json:"expiresAt,omitzero"`
	LastUsedAt time.Time     `json:"lastUsedAt,omitzero"`
	RevokedAt  time.Time     `json:"revokedAt,omitzero"`
	CreatedAt  time.Time     `json:"createdAt"`
	Secret     string        `json:"secret,omitempty"`
}

// robotName is the user name a robot logs in with, "NAMESPACE+NAME".
func robotName(namespace, name string) string { return namespace + "+" + name }

func tokenOf(t meta.Token) Token {
	out := Token{ID: t.ID, Kind: t.Kind, Name: t.Name, Owner: t.Owner, Username: t.Owner, Scopes: auth.ScopeSet{},
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt, CreatedAt: t.CreatedAt}
	if t.Kind == meta.TokenRobot {
		out.Username = robotName(t.Owner, t.Name)
	}
	if len(t.Scopes) > 0 {
		_ = json.Unmarshal(t.Scopes, &out.Scopes) // written by createToken; unreadable shows as none
	}
	return out
}

// TokenCreate is the body of POST /users/{user}/tokens and
// POST /namespaces/{namespace}/robots.
type TokenCreate struct {
	Name string `json:"name"`
	// Scopes are "PATTERN:ACTION[,ACTION]", e.g. "ci/*:pull,push"; at least one.
	Scopes []string `json:"scopes"`
	// ExpiresAt or ExpiresIn (a Go duration, e.g. "720h") set the expiry;
	// neither means the token does not expire.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	ExpiresIn string    `json:"expiresIn,omitempty"`
}

var tokenNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// parse validates in and returns its scopes and expiry. within, if set,
// is the namespace every scope must stay inside.
func (in TokenCreate) parse(now time.Time, within string) (auth.ScopeSet, time.Time, error) {
	if !tokenNameRE.MatchString(in.Name) {
		return nil, time.Time{}, invalid("name %q is invalid: 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", truncate(in.Name))
	}
	if len(in.Scopes) == 0 {
		return nil, time.Time{}, invalid("a token needs at least one scope, such as ci/*:pull,push")
	}
	var ss auth.ScopeSet
	for _, s := range in.Scopes {
		sc, err := auth.ParseScope(s)
		if err != nil {
			return nil, time.Time{}, invalid("%v", err)
		}
		if within != "" && !oci.InNamespace(sc.Pattern, within) {
			return nil, time.Time{}, invalid("scope %q reaches outside namespace %s; a robot acts only in its namespace", truncate(s), within)
		}
		ss = append(ss, sc)
	}
	exp := in.ExpiresAt
	if in.ExpiresIn != "" {
		if !exp.IsZero() {
			return nil, time.Time{}, invalid("give expiresAt or expiresIn, not both")
		}
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil || d <= 0 {
			return nil, time.Time{}, invalid("expiresIn %q is not a positive duration such as 720h", truncate(in.ExpiresIn))
		}
		exp = now.Add(d)
	}
	if !exp.IsZero() && !exp.After(now) {
		return nil, time.Time{}, invalid("expiry %s is in the past", exp.Format(time.RFC3339))
	}
	return ss, exp, nil
}

// newToken creates a token of kind for owner from in, storing only the hash
// of its secret, and returns it with the secret.
func (h *Handler) newToken(ctx context.Context, kind, owner string, in TokenCreate, ss auth.ScopeSet, exp time.Time) (Token, error) {
	secret, hash, err := auth.NewAccessToken()
	if err != nil {
		return Token{}, err
	}
	var idb [8]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return Token{}, err
	}
	scopes, err := json.Marshal(ss)
	if err != nil {
		return Token{}, err
	}
	t := meta.Token{
		ID: kind[:1] + "-" + hex.EncodeToString(idb[:]), Kind: kind, Name: in.Name, Owner: owner,
		Hash: hash, Scopes: scopes, ExpiresAt: exp, CreatedAt: h.now().UTC(),
	}
	if err := h.opts.Access.CreateToken(ctx, t); err != nil {
		return Token{}, storeError(err, "token "+in.Name)
	}
	out := tokenOf(t)
	out.Secret = secret
	return out, nil
}

// mayManageUserTokens checks that c may manage the tokens of user name.
func mayManageUserTokens(c caller, name string) error {
	if c.systemAdmin() || c.self(name) {
		return nil
	}
	return denied("managing the tokens of %s needs the user (or a token that may manage everything) or a system administrator", name)
}

func (h *Handler) listTokens(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	user := p["user"]
	if err := mayManageUserTokens(c, user); err != nil {
		return err
	}
	kind := meta.TokenPersonal
	switch k := r.URL.Query().Get("kind"); k {
	case "", meta.TokenPersonal:
	case meta.TokenRefresh:
		kind = k // the sessions of docker login and other OAuth2 clients
	default:
		return invalid("kind must be personal or refresh, got %q", truncate(k))
	}
	if _, err := h.opts.Access.User(r.Context(), user); err != nil {
		return storeError(err, "user "+user)
	}
	return h.writeTokens(w, r, kind, user)
}

func (h *Handler) writeTokens(w http.ResponseWriter, r *http.Request, kind, owner string) error {
	ts, err := h.opts.Access.Tokens(r.Context(), kind, owner)
	if err != nil {
		return storeError(err, "tokens of "+owner)
	}
	out := List[Token]{Items: []Token{}}
	for _, t := range ts {
		out.Items = append(out.Items, tokenOf(t))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	var in TokenCreate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	user := p["user"]
	var t Token
	err := func() error {
		if err := mayManageUserTokens(c, user); err != nil {
			return err
		}
		ss, exp, err := in.parse(h.now(), "")
		if err != nil {
			return err
		}
		t, err = h.newToken(r.Context(), meta.TokenPersonal, user, in, ss, exp)
		return err
	}()
	h.audit(r, c, "token.create", "user:"+user+"/token:"+in.Name, scopeDetail(in.Scopes), err)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, t)
}

func scopeDetail(scopes []string) string { return "scopes=" + strings.Join(scopes, " ") }

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	user, id := p["user"], p["id"]
	err := func() error {
		if err := mayManageUserTokens(c, user); err != nil {
			return err
		}
		return h.revoke(r.Context(), user, id, meta.TokenPersonal, meta.TokenRefresh)
	}()
	h.audit(r, c, "token.revoke", "user:"+user+"/token:"+id, "", err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revoke revokes token id if it is owned by owner and of one of kinds;
// otherwise it is not found, so no one learns of tokens they may not manage.
func (h *Handler) revoke(ctx context.Context, owner, id string, kinds ...string) error {
	t, err := h.opts.Access.Token(ctx, id)
	if err != nil {
		return storeError(err, "token "+id)
	}
	if !slices.Contains(kinds, t.Kind) || t.Owner != owner {
		return apierr.New(apierr.NotFound, "token %s not found", id)
	}
	return storeError(h.opts.Access.RevokeToken(ctx, id, h.now().UTC()), "token "+id)
}

func (h *Handler) listRobots(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	ns := p["namespace"]
	if _, err := h.manageable(r.Context(), c, ns); err != nil {
		return err
	}
	return h.writeTokens(w, r, meta.TokenRobot, ns)
}

func (h *Handler) createRobot(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	var in TokenCreate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	ns := p["namespace"]
	var t Token
	err := func() error {
		if _, err := h.manageable(r.Context(), c, ns); err != nil {
			return err
		}
		ss, exp, err := in.parse(h.now(), ns)
		if err != nil {
			return err
		}
		t, err = h.newToken(r.Context(), meta.TokenRobot, ns, in, ss, exp)
		return err
	}()
	h.audit(r, c, "robot.create", "robot:"+robotName(ns, in.Name), scopeDetail(in.Scopes), err)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, t)
}

func (h *Handler) revokeRobot(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	ns, id := p["namespace"], p["id"]
	err := func() error {
		if _, err := h.manageable(r.Context(), c, ns); err != nil {
			return err
		}
		return h.revoke(r.Context(), ns, id, meta.TokenRobot)
	}()
	h.audit(r, c, "robot.revoke", ns+"/robot:"+id, "", err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
