package mgmt

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
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

func tokenOf(t meta.Token) Token {
	out := Token{ID: t.ID, Kind: t.Kind, Name: t.Name, Owner: t.Owner, Username: t.Owner, Scopes: auth.ScopeSet{},
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt, CreatedAt: t.CreatedAt}
	if t.Kind == meta.TokenRobot {
		out.Username = access.RobotName(t.Owner, t.Name)
	}
	if len(t.Scopes) > 0 {
		_ = json.Unmarshal(t.Scopes, &out.Scopes) // written by the access service; unreadable shows as none
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

// parse reads in for the access service, which checks it: only a duration
// that does not parse is refused here, as a body that is not JSON is.
func (in TokenCreate) parse() (access.TokenCreate, error) {
	out := access.TokenCreate{Name: in.Name, Scopes: in.Scopes, ExpiresAt: in.ExpiresAt}
	if in.ExpiresIn != "" {
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil || d == 0 {
			return out, invalid("expiresIn %q is not a positive duration such as 720h", truncate(in.ExpiresIn))
		}
		out.ExpiresIn = d
	}
	return out, nil
}

func (h *Handler) listTokens(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	kind := r.URL.Query().Get("kind")
	if kind == "" {
		kind = meta.TokenPersonal
	}
	ts, err := h.acc.PersonalTokens(r.Context(), c, p["user"], kind)
	if err != nil {
		return accessError(err)
	}
	return writeTokens(w, ts)
}

func writeTokens(w http.ResponseWriter, ts []meta.Token) error {
	out := List[Token]{Items: []Token{}}
	for _, t := range ts {
		out.Items = append(out.Items, tokenOf(t))
	}
	return writeJSON(w, http.StatusOK, out)
}

// created answers a new token or robot with its secret, shown this once.
func created(w http.ResponseWriter, t meta.Token, secret string) error {
	out := tokenOf(t)
	out.Secret = secret
	return writeJSON(w, http.StatusCreated, out)
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	var in TokenCreate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	tc, err := in.parse()
	if err != nil {
		return err
	}
	t, secret, err := h.acc.CreatePersonalToken(r.Context(), c, p["user"], tc)
	if err != nil {
		return accessError(err)
	}
	return created(w, t, secret)
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	if err := h.acc.RevokePersonalToken(r.Context(), c, p["user"], p["id"]); err != nil {
		return accessError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) listRobots(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	ts, err := h.acc.Robots(r.Context(), c, p["namespace"])
	if err != nil {
		return accessError(err)
	}
	return writeTokens(w, ts)
}

func (h *Handler) createRobot(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	var in TokenCreate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	ns := p["namespace"]
	tc, err := in.parse()
	if err != nil {
		return err
	}
	t, secret, err := h.acc.CreateRobot(r.Context(), c, ns, tc)
	if err != nil {
		return accessError(err)
	}
	return created(w, t, secret)
}

func (h *Handler) revokeRobot(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	if err := h.acc.RevokeRobot(r.Context(), c, p["namespace"], p["id"]); err != nil {
		return accessError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
