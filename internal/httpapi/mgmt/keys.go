package mgmt

import (
	"context"
	"net/http"
	"time"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
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

// KeyManager rotates and retires the token signing keys.
type KeyManager interface {
	// RotateKey adds a key that signs every token from now on and returns
	// its id; the older keys keep verifying.
	RotateKey(ctx context.Context) (string, error)
	// RetireKey stops key id from signing and verifying.
	RetireKey(ctx context.Context, id string) error
}

// listKeys answers GET /keys. System administrators only.
func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request, c caller, _ params) error {
	if !c.systemAdmin() {
		return denied("listing signing keys needs a system administrator")
	}
	keys, err := h.signingKeys(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, keys)
}

// signingKeys lists the keys, oldest first, marking the one that signs.
func (h *Handler) signingKeys(ctx context.Context) ([]SigningKey, error) {
	sks, err := h.opts.Access.SigningKeys(ctx)
	if err != nil {
		return nil, storeError(err, "signing keys")
	}
	keys := make([]SigningKey, 0, len(sks))
	signer := -1
	for i, sk := range sks {
		keys = append(keys, SigningKey{ID: sk.ID, CreatedAt: sk.CreatedAt.UTC(), RetiredAt: sk.RetiredAt.UTC()})
		if sk.RetiredAt.IsZero() && (signer < 0 || !sk.CreatedAt.Before(keys[signer].CreatedAt)) {
			signer = i
		}
	}
	if signer >= 0 {
		keys[signer].Signing = true
	}
	return keys, nil
}

// rotateKey answers POST /keys/rotate with the new key. System
// administrators only; audited.
func (h *Handler) rotateKey(w http.ResponseWriter, r *http.Request, c caller, _ params) error {
	if !c.systemAdmin() {
		err := denied("rotating the signing key needs a system administrator")
		h.audit(r, c, "key.rotate", "", "", err)
		return err
	}
	if h.opts.Keys == nil {
		return invalid("signing keys are not managed by this server")
	}
	id, err := h.opts.Keys.RotateKey(r.Context())
	h.audit(r, c, "key.rotate", id, "", err)
	if err != nil {
		return storeError(err, "signing key")
	}
	keys, err := h.signingKeys(r.Context())
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.ID == id {
			return writeJSON(w, http.StatusCreated, k)
		}
	}
	return writeJSON(w, http.StatusCreated, SigningKey{ID: id})
}

// retireKey answers POST /keys/{id}/retire with the retired key. The last
// key not retired cannot be retired: nothing could sign after it. System
// administrators only; audited.
func (h *Handler) retireKey(w http.ResponseWriter, r *http.Request, c caller, p params) error {
	if !c.systemAdmin() {
		err := denied("retiring a signing key needs a system administrator")
		h.audit(r, c, "key.retire", p["id"], "", err)
		return err
	}
	if h.opts.Keys == nil {
		return invalid("signing keys are not managed by this server")
	}
	id := p["id"]
	err := h.checkRetire(r.Context(), id)
	if err == nil {
		err = storeError(h.opts.Keys.RetireKey(r.Context(), id), "signing key "+truncate(id))
	}
	h.audit(r, c, "key.retire", id, "", err)
	if err != nil {
		return err
	}
	keys, err := h.signingKeys(r.Context())
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.ID == id {
			return writeJSON(w, http.StatusOK, k)
		}
	}
	return storeError(meta.ErrNotFound, "signing key "+truncate(id))
}

// checkRetire refuses to retire a key that does not exist or the last one
// not retired.
func (h *Handler) checkRetire(ctx context.Context, id string) error {
	keys, err := h.signingKeys(ctx)
	if err != nil {
		return err
	}
	found, others := false, 0
	for _, k := range keys {
		if k.ID == id {
			found = true
		} else if k.RetiredAt.IsZero() {
			others++
		}
	}
	switch {
	case !found:
		return storeError(meta.ErrNotFound, "signing key "+truncate(id))
	case others == 0:
		return apierr.New(apierr.Conflict, "signing key %s is the last one not retired; rotate first", truncate(id))
	}
	return nil
}
