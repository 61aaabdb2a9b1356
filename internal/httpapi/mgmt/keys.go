package mgmt

import (
	"net/http"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
)

// SigningKey is a token signing key as the API shows it: never its private
// part.
type SigningKey struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	RetiredAt time.Time `json:"retiredAt,omitzero"`
	// Signing is true for the key that signs new tokens: the newest one
	// not retired. Every key not retired verifies.
	Signing bool `json:"signing"`
}

func signingKeyOf(k access.SigningKeyInfo) SigningKey {
	return SigningKey{ID: k.ID, CreatedAt: k.CreatedAt, RetiredAt: k.RetiredAt, Signing: k.Signing}
}

// listKeys answers GET /keys. System administrators only.
func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	ks, err := h.acc.SigningKeys(r.Context(), c)
	if err != nil {
		return accessError(err)
	}
	keys := make([]SigningKey, 0, len(ks))
	for _, k := range ks {
		keys = append(keys, signingKeyOf(k))
	}
	return writeJSON(w, http.StatusOK, keys)
}

// rotateKey answers POST /keys/rotate with the new key. System
// administrators only.
func (h *Handler) rotateKey(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	k, err := h.acc.RotateSigningKey(r.Context(), c)
	if err != nil {
		return accessError(err)
	}
	return writeJSON(w, http.StatusCreated, signingKeyOf(k))
}

// retireKey answers POST /keys/{id}/retire with the retired key. The last
// key not retired cannot be retired: nothing could sign after it. System
// administrators only.
func (h *Handler) retireKey(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	k, err := h.acc.RetireSigningKey(r.Context(), c, p["id"])
	if err != nil {
		return accessError(err)
	}
	return writeJSON(w, http.StatusOK, signingKeyOf(k))
}
