package access

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// AdminUser is the name of the system administrator created on first start.
const AdminUser = "admin"

// bootstrapAdmin creates the admin account when the user table is empty,
// with Options.AdminPassword or a generated password logged once: there is
// no other way in to a registry that enforces access and has no users.
// Replicas starting together may race; the loser's create is a conflict and
// the winner's password stands.
func (s *Service) bootstrapAdmin(ctx context.Context) error {
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return nil
	}
	password, generated := s.opts.AdminPassword, false
	if password == "" {
		if password, err = generatePassword(max(24, s.opts.MinPasswordLength)); err != nil {
			return err
		}
		generated = true
	}
	rules := auth.PasswordPolicy{MinLength: s.opts.MinPasswordLength, BcryptCost: s.opts.BcryptCost}
	hash, err := rules.Hash(AdminUser, password)
	if err != nil {
		return fmt.Errorf("the password of the first administrator (adminPassword, WHARF_ADMIN_PASSWORD): %w", err)
	}
	now := s.now().UTC()
	ch := systemChange("user.create", "user:"+AdminUser)
	err = s.update(ctx, func(tx meta.AccessTx) error {
		if err := tx.CreateUser(ctx, meta.User{Name: AdminUser, PasswordHash: hash, Admin: true, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return ch.record(ctx, tx, &events.UserCreated{User: AdminUser, Admin: true})
	})
	if errors.Is(err, meta.ErrConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create admin user: %w", err)
	}
	if generated {
		s.log.WarnContext(ctx, "created the system administrator with a generated password; it is shown only now, change it after logging in",
			"user", AdminUser, "password", password)
	} else {
		s.log.InfoContext(ctx, "created the system administrator from WHARF_ADMIN_PASSWORD", "user", AdminUser)
	}
	return nil
}

// generatePassword returns n random base62 characters (24 carry about 143
// bits). Bytes of 248 and above are dropped so every character is equally
// likely.
func generatePassword(n int) (string, error) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	out := make([]byte, 0, n)
	for len(out) < n {
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("generate admin password: %w", err)
		}
		for _, c := range b {
			if c < 248 && len(out) < n {
				out = append(out, alphabet[c%62])
			}
		}
	}
	return string(out), nil
}
