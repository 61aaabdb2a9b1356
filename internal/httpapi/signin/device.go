package signin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/access/oidc"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
)

// The device flow of `wharf login` (RFC 8628, run by wharf against the
// provider, so the CLI needs no client of its own):
//
//  1. POST /auth/oidc/device starts it at the provider and answers the
//     user code and the URL to enter it at, and a handle, a random secret
//     under whose hash wharf keeps the device code.
//  2. POST /auth/oidc/device/token {"handle", "name", "scopes",
//     "expiresIn"} waits up to devicePoll for the user to finish at the
//     provider: 400 authorization_pending (ask again), or the user is
//     provisioned and a personal access token created for it, which is
//     answered once, with the user name to log in with.

// devicePoll is how long one poll request waits for the user.
const devicePoll = 25 * time.Second

// DeviceStart is the answer of POST /auth/oidc/device.
type DeviceStart struct {
	Handle                  string `json:"handle"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete,omitempty"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// DeviceTokenRequest is the body of POST /auth/oidc/device/token.
type DeviceTokenRequest struct {
	Handle string `json:"handle"`
	// Name, Scopes and ExpiresIn describe the personal access token to
	// create: by default "wharf-login", every action on everything the
	// user may reach ("*:*"), valid for 30 days.
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	ExpiresIn string   `json:"expiresIn"`
}

// DeviceToken is the answer of a finished device sign-in.
type DeviceToken struct {
	User      string    `json:"user"`
	Username  string    `json:"username"` // what to log in with; the token is the password
	Token     string    `json:"token"`
	TokenID   string    `json:"tokenId"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

func (h *Handler) deviceOff(w http.ResponseWriter) bool {
	if h.opts.OIDC != nil && h.opts.DeviceFlow {
		return false
	}
	writeJSON(w, http.StatusNotFound, errorBody{Error: "unsupported_grant_type",
		Message: "this registry offers no device sign-in (auth.oidc.issuer and auth.oidc.deviceFlow)"})
	return true
}

func (h *Handler) deviceStart(w http.ResponseWriter, r *http.Request) {
	if h.deviceOff(w) {
		return
	}
	dev, err := h.opts.OIDC.BeginDevice(r.Context())
	if errors.Is(err, oidc.ErrNoDeviceFlow) {
		writeJSON(w, http.StatusNotImplemented, errorBody{Error: "unsupported_grant_type", Message: err.Error()})
		return
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		h.writeError(w, r, err)
		return
	}
	handle := hex.EncodeToString(b[:])
	ttl := time.Until(dev.Expiry)
	if dev.Expiry.IsZero() || ttl > loginTTL {
		ttl = loginTTL
	}
	data, err := oidc.MarshalLogin(dev)
	if err == nil {
		err = h.acc.SaveLogin(r.Context(), handle, data, ttl)
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, DeviceStart{Handle: handle, UserCode: dev.UserCode, VerificationURI: dev.VerificationURI,
		VerificationURIComplete: dev.VerificationURIComplete, ExpiresIn: int(ttl / time.Second), Interval: dev.Interval})
}

func (h *Handler) deviceToken(w http.ResponseWriter, r *http.Request) {
	if h.deviceOff(w) {
		return
	}
	var in DeviceTokenRequest
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Handle == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Message: "want JSON with the handle of POST /auth/oidc/device"})
		return
	}
	ctx := r.Context()
	data, err := h.acc.PeekLogin(ctx, in.Handle)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "expired_token", Message: err.Error()})
		return
	}
	var dev oidc.Device
	if err := oidc.UnmarshalLogin(data, &dev); err != nil {
		h.writeError(w, r, err)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, devicePoll)
	id, err := h.opts.OIDC.PollDevice(pctx, dev)
	cancel()
	if errors.Is(err, oidc.ErrPending) {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "authorization_pending", Message: "the sign-in is not finished at the provider yet; ask again"})
		return
	}
	client := mw.ClientAddr(ctx)
	if err != nil {
		_, _ = h.acc.TakeLogin(ctx, in.Handle)
		h.refused(ctx, err)
		h.writeError(w, r, err)
		return
	}
	if _, err := h.acc.TakeLogin(ctx, in.Handle); err != nil {
		// Another poll of the same handle finished it first.
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "expired_token", Message: err.Error()})
		return
	}
	p, err := h.acc.SignIn(ctx, h.opts.OIDC, id, client.String())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	tc := access.TokenCreate{Name: in.Name, Scopes: in.Scopes, ExpiresIn: 30 * 24 * time.Hour}
	if tc.Name == "" {
		tc.Name = "wharf-login-" + h.now().UTC().Format("20060102-150405")
	}
	if len(tc.Scopes) == 0 {
		tc.Scopes = []string{"*:*"}
	}
	if in.ExpiresIn != "" {
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil || d < 0 {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Message: "expiresIn is not a duration such as 720h"})
			return
		}
		tc.ExpiresIn = d // 0: never expires
	}
	c := access.Caller{Principal: p, Scheme: auth.SchemeSession, Client: client.String()}
	t, secret, err := h.acc.CreatePersonalToken(ctx, c, p.Name, tc)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, DeviceToken{User: p.Name, Username: p.Name, Token: secret, TokenID: t.ID, ExpiresAt: t.ExpiresAt})
}
