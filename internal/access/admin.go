package access

import (
	"context"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// SigningKeyInfo is a token signing key as an administrator sees it: never
// its private part.
type SigningKeyInfo struct {
	ID        string
	CreatedAt time.Time
	RetiredAt time.Time // zero while the key is in use
	// Signing is set on the key that signs new tokens: the newest one not
	// retired. Every key not retired verifies.
	Signing bool
}

// SigningKeys lists the token signing keys, oldest first. System
// administrators only.
func (s *Service) SigningKeys(ctx context.Context, c Caller) ([]SigningKeyInfo, error) {
	if err := s.accounts(); err != nil {
		return nil, err
	}
	if !c.SystemAdmin() {
		return nil, denied("listing signing keys needs a system administrator")
	}
	return s.signingKeys(ctx)
}

func (s *Service) signingKeys(ctx context.Context) ([]SigningKeyInfo, error) {
	sks, err := s.store.SigningKeys(ctx)
	if err != nil {
		return nil, storeError(err, "signing keys")
	}
	keys := make([]SigningKeyInfo, 0, len(sks))
	signer := -1
	for i, sk := range sks {
		keys = append(keys, SigningKeyInfo{ID: sk.ID, CreatedAt: sk.CreatedAt.UTC(), RetiredAt: sk.RetiredAt.UTC()})
		if sk.RetiredAt.IsZero() && (signer < 0 || !sk.CreatedAt.Before(keys[signer].CreatedAt)) {
			signer = i
		}
	}
	if signer >= 0 {
		keys[signer].Signing = true
	}
	return keys, nil
}

func (s *Service) signingKey(ctx context.Context, id string) (SigningKeyInfo, error) {
	keys, err := s.signingKeys(ctx)
	if err != nil {
		return SigningKeyInfo{}, err
	}
	for _, k := range keys {
		if k.ID == id {
			return k, nil
		}
	}
	return SigningKeyInfo{}, notFound("signing key %s not found", truncate(id))
}

// RotateSigningKey adds a signing key that signs every token from now on
// (see [Service.RotateKey]). System administrators only.
func (s *Service) RotateSigningKey(ctx context.Context, c Caller) (k SigningKeyInfo, err error) {
	ch := s.change(c, "key.rotate", "")
	defer func() { ch.refused(ctx, err) }()
	if err = s.accounts(); err != nil {
		return k, err
	}
	if !c.SystemAdmin() {
		return k, denied("rotating the signing key needs a system administrator")
	}
	id, err := s.rotateKey(ctx, ch)
	if err != nil {
		return k, err
	}
	return s.signingKey(ctx, id)
}

// RetireSigningKey stops key id from signing and verifying (see
// [Service.RetireKey]); the last key not retired cannot be retired, since
// nothing could sign after it. System administrators only.
func (s *Service) RetireSigningKey(ctx context.Context, c Caller, id string) (k SigningKeyInfo, err error) {
	ch := s.change(c, "key.retire", id)
	defer func() { ch.refused(ctx, err) }()
	if err = s.accounts(); err != nil {
		return k, err
	}
	if !c.SystemAdmin() {
		return k, denied("retiring a signing key needs a system administrator")
	}
	keys, err := s.signingKeys(ctx)
	if err != nil {
		return k, err
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
		return k, notFound("signing key %s not found", truncate(id))
	case others == 0:
		return k, conflict("signing key %s is the last one not retired; rotate first", truncate(id))
	}
	if err := s.retireKey(ctx, ch, id); err != nil {
		return k, err
	}
	return s.signingKey(ctx, id)
}

// AuditEvents returns the audit events q selects, newest first. System
// administrators only.
func (s *Service) AuditEvents(ctx context.Context, c Caller, q meta.AuditQuery) ([]meta.AuditEvent, error) {
	if !c.SystemAdmin() {
		return nil, denied("reading the audit log needs a system administrator")
	}
	es, err := s.store.Audit(ctx, q)
	return es, storeError(err, "audit log")
}
