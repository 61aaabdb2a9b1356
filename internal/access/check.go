package access

import (
	"context"
	"errors"
	"fmt"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// The identity check: every IdentityCheckInterval, on one replica at a
// time, the service asks each source about every user it provisioned. A
// user the source removed or disabled is *suspended*: disabled, its web
// sessions ended, so its personal access tokens and refresh tokens stop
// working at their next use (every use reads the account). A user the
// source knows again is enabled again. The groups are mapped again as at a
// sign-in. So "the next check" is at most IdentityCheckInterval after the
// change at the source, plus the check's own run time.

// CheckIdentities runs one round of the identity check. A source that
// cannot be reached is skipped until the next round (its users keep what
// they had); the error says which.
func (s *Service) CheckIdentities(ctx context.Context) error {
	if s.ids == nil {
		return nil
	}
	var errs []error
	for _, src := range s.sources() {
		if err := s.checkSource(ctx, src); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sources are the configured identity sources.
func (s *Service) sources() []IdentitySource {
	var out []IdentitySource
	if s.opts.Identity.LDAP != nil {
		out = append(out, s.opts.Identity.LDAP)
	}
	if s.opts.Identity.OIDC != nil {
		out = append(out, s.opts.Identity.OIDC)
	}
	return out
}

func (s *Service) checkSource(ctx context.Context, src IdentitySource) error {
	checked, suspended := 0, 0
	for p := (meta.Page{N: 500}); ; {
		ids, err := s.ids.ExternalIdentities(ctx, src.Source(), p)
		if err != nil {
			return fmt.Errorf("identity check (%s): %w", src.Source(), err)
		}
		for _, id := range ids {
			gone, err := s.checkIdentity(ctx, src, id)
			var su *SourceUnavailableError
			if errors.As(err, &su) {
				return fmt.Errorf("identity check (%s), stopped at %s after %d users: %w", src.Source(), id.User, checked, err)
			}
			if err != nil {
				s.log.WarnContext(ctx, "identity check", "source", src.Source(), "user", id.User, "err", err)
				continue
			}
			checked++
			if gone {
				suspended++
			}
		}
		if len(ids) < p.N {
			break
		}
		p.Last = ids[len(ids)-1].User
	}
	s.log.InfoContext(ctx, "identity check", "source", src.Source(), "checked", checked, "suspended", suspended)
	return nil
}

// checkIdentity asks src about one user, and suspends, updates or enables
// it. gone reports a suspension made now.
func (s *Service) checkIdentity(ctx context.Context, src IdentitySource, prev meta.ExternalIdentity) (gone bool, err error) {
	u, err := s.store.User(ctx, prev.User)
	if errors.Is(err, meta.ErrNotFound) {
		return false, nil // deleted meanwhile; the cascade took the identity
	}
	if err != nil {
		return false, fmt.Errorf("look up user: %w", err)
	}
	if u.Disabled && !prev.Suspended {
		return false, nil // disabled by an administrator: theirs to undo
	}
	id, err := src.Check(ctx, prev)
	switch {
	case errors.Is(err, ErrNotChecked):
		return false, nil
	case errors.Is(err, ErrIdentityGone):
		if prev.Suspended {
			return false, nil
		}
		return true, s.suspend(ctx, src.Source(), prev, err)
	case err != nil:
		return false, err
	}
	_, err = s.provision(ctx, src, id, true)
	return false, err
}

// suspend disables the user of prev because its source removed or
// disabled it, and ends its web sessions.
func (s *Service) suspend(ctx context.Context, source string, prev meta.ExternalIdentity, why error) error {
	by := Caller{Principal: auth.Principal{Kind: auth.KindUser, Name: prev.User}}
	err := s.update(ctx, func(tx meta.AccessTx) error {
		u, err := tx.User(ctx, prev.User)
		if err != nil {
			return storeError(err, "user "+prev.User)
		}
		u.Disabled, u.UpdatedAt = true, s.now().UTC()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return storeError(err, "user "+prev.User)
		}
		next := prev
		next.Suspended = true
		if itx, ok := tx.(meta.IdentityTx); ok {
			err = itx.PutExternalIdentity(ctx, next)
		} else {
			err = s.ids.PutExternalIdentity(ctx, next)
		}
		if err != nil {
			return err
		}
		return s.change(by, "user.update", "user:"+prev.User).record(ctx, tx,
			&events.UserUpdated{User: u.Name, Changes: []string{"disabled=true"}, Admin: u.Admin, Disabled: true, Source: source, Reason: why.Error()})
	})
	if err != nil {
		return err
	}
	if _, err := s.ids.DeleteUserWebSessions(ctx, prev.User); err != nil {
		s.log.WarnContext(ctx, "ending the web sessions of a suspended user", "user", prev.User, "err", err)
	}
	s.log.InfoContext(ctx, "user suspended: its identity source removed or disabled it", "user", prev.User, "source", source)
	return nil
}
