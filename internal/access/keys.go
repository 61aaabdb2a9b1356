package access

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// keyReload is how often a replica rereads the signing keys, so a key added
// or retired elsewhere (another replica, a rotation) is picked up without a
// restart. A token signed by a key this replica has not seen yet triggers a
// reread at once, at most once per keyRetry.
const (
	keyReload = time.Minute
	keyRetry  = time.Second
)

// keyRing holds the signing keys read from the store: the newest key that is
// not retired signs, and every key that is not retired verifies.
type keyRing struct {
	store meta.Access
	// update runs a transaction of the access tables, in which keys are
	// added and retired with their events.
	update  func(ctx context.Context, fn func(meta.AccessTx) error) error
	log     *slog.Logger
	now     func() time.Time
	issuer  string
	service string
	ttl     time.Duration
	// lifetime is how long a key signs before a new one replaces it; zero
	// never rotates by itself.
	lifetime time.Duration

	reloading sync.Mutex // one reread (and rotation) at a time

	mu       sync.Mutex
	signer   *auth.Issuer
	verifier *auth.Verifier
	loadedAt time.Time
	verified map[string]auth.TokenClaims // by HashSecret of the token; see verify
}

// maxVerified bounds the cache of verified bearer tokens: a client reuses
// its token for every request until it expires, and an ES256 verification
// costs about a tenth of a millisecond, more than a cached manifest HEAD.
const maxVerified = 10_000

// load rereads the keys. With create, a store without a usable key gets a
// new one: the first start of a registry.
func (k *keyRing) load(ctx context.Context, create bool) error {
	keys, err := k.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("read signing keys: %w", err)
	}
	live := slices.DeleteFunc(keys, func(sk meta.SigningKey) bool { return !sk.RetiredAt.IsZero() })
	if len(live) == 0 {
		if !create {
			return errors.New("every signing key is retired")
		}
		sk, err := newSigningKey(k.now())
		if err != nil {
			return err
		}
		if err := k.add(ctx, systemChange("key.rotate", sk.ID), sk); err != nil {
			return err
		}
		k.log.InfoContext(ctx, "generated a token signing key", "kid", sk.ID)
		live = []meta.SigningKey{sk}
	}
	var pubs []*ecdsa.PublicKey
	var newest *ecdsa.PrivateKey
	for _, sk := range live {
		priv, err := auth.ParsePrivateKey(sk.PrivatePEM)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", sk.ID, err)
		}
		pubs = append(pubs, &priv.PublicKey)
		newest = priv // the store lists keys oldest first
	}
	signer, err := auth.NewIssuer(newest, auth.IssuerOptions{Issuer: k.issuer, Service: k.service, TTL: k.ttl})
	if err != nil {
		return err
	}
	v, err := auth.NewVerifier(auth.VerifierOptions{Issuer: k.issuer, Service: k.service, Keys: pubs})
	if err != nil {
		return err
	}
	k.mu.Lock()
	if k.verifier == nil || !slices.Equal(k.verifier.KeyIDs(), v.KeyIDs()) {
		k.verified = map[string]auth.TokenClaims{} // a key retired: forget what it signed
	}
	k.signer, k.verifier, k.loadedAt = signer, v, k.now()
	k.mu.Unlock()
	return nil
}

// rotateIfDue adds a new key when the newest has signed for its lifetime,
// and retires the older keys once no token they signed can still be valid:
// every replica rereads keys within keyReload and so has switched to the
// new key by then, and the last token signed with an old key expires a
// token TTL (plus the leeway for clock skew) later. Replicas doing this at
// once may add a key each; all of them verify, and the newest signs.
func (k *keyRing) rotateIfDue(ctx context.Context) error {
	if k.lifetime <= 0 {
		return nil
	}
	keys, err := k.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("read signing keys: %w", err)
	}
	live := slices.DeleteFunc(keys, func(sk meta.SigningKey) bool { return !sk.RetiredAt.IsZero() })
	if len(live) == 0 {
		return nil
	}
	now := k.now()
	newest := live[len(live)-1]
	if now.Sub(newest.CreatedAt) >= k.lifetime {
		sk, err := newSigningKey(now)
		if err != nil {
			return err
		}
		if err := k.add(ctx, systemChange("key.rotate", sk.ID), sk); err != nil {
			return err
		}
		k.log.InfoContext(ctx, "rotated the token signing key", "kid", sk.ID, "previous", newest.ID)
		return nil // the old keys retire on a later pass
	}
	if now.Sub(newest.CreatedAt) < keyReload+k.ttl+auth.DefaultLeeway {
		return nil
	}
	for _, sk := range live[:len(live)-1] {
		if err := k.retire(ctx, systemChange("key.retire", sk.ID), sk.ID, now.UTC()); err != nil {
			return err
		}
		k.log.InfoContext(ctx, "retired a token signing key", "kid", sk.ID)
	}
	return nil
}

// add stores signing key sk, with its event, as the change ch.
func (k *keyRing) add(ctx context.Context, ch *change, sk meta.SigningKey) error {
	err := k.update(ctx, func(tx meta.AccessTx) error {
		if err := tx.AddSigningKey(ctx, sk); err != nil {
			return err
		}
		return ch.record(ctx, tx, &events.KeyRotated{ID: sk.ID})
	})
	if err != nil {
		return fmt.Errorf("store signing key: %w", err)
	}
	return nil
}

// retire retires signing key id at at, with its event, as the change ch.
func (k *keyRing) retire(ctx context.Context, ch *change, id string, at time.Time) error {
	err := k.update(ctx, func(tx meta.AccessTx) error {
		if err := tx.RetireSigningKey(ctx, id, at); err != nil {
			return err
		}
		return ch.record(ctx, tx, &events.KeyRetired{ID: id})
	})
	if err != nil {
		return fmt.Errorf("retire signing key %s: %w", id, err)
	}
	return nil
}

func newSigningKey(now time.Time) (meta.SigningKey, error) {
	priv, err := auth.GenerateKey()
	if err != nil {
		return meta.SigningKey{}, err
	}
	pemBytes, err := auth.MarshalPrivateKey(priv)
	if err != nil {
		return meta.SigningKey{}, err
	}
	kid, err := auth.KeyID(&priv.PublicKey)
	if err != nil {
		return meta.SigningKey{}, err
	}
	return meta.SigningKey{ID: kid, PrivatePEM: pemBytes, CreatedAt: now.UTC()}, nil
}

// current returns the signer and verifier, rereading the keys first when
// they are older than keyReload (or than keyRetry, with soon). A failed
// reread keeps the keys in hand: a store hiccup must not stop every login.
func (k *keyRing) current(ctx context.Context, soon bool) (*auth.Issuer, *auth.Verifier) {
	k.mu.Lock()
	age := k.now().Sub(k.loadedAt)
	k.mu.Unlock()
	// Requests that find the keys stale while another reread is running go
	// on with the keys in hand rather than queue up behind it.
	stale := func(age time.Duration) bool { return age >= keyReload || (soon && age >= keyRetry) }
	if stale(age) && k.reloading.TryLock() {
		defer k.reloading.Unlock()
		k.mu.Lock()
		age = k.now().Sub(k.loadedAt) // another reread may have just finished
		k.mu.Unlock()
		if !stale(age) {
			return k.keys()
		}
		if err := k.rotateIfDue(ctx); err != nil {
			k.log.WarnContext(ctx, "rotating the signing key failed", "err", err)
		}
		if err := k.load(ctx, false); err != nil {
			k.log.WarnContext(ctx, "rereading signing keys failed; keeping the ones in hand", "err", err)
			k.mu.Lock()
			k.loadedAt = k.now() // do not retry on every request
			k.mu.Unlock()
		}
	}
	return k.keys()
}

func (k *keyRing) keys() (*auth.Issuer, *auth.Verifier) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.signer, k.verifier
}

// verify checks a bearer token, rereading the keys once if it names a key
// this replica does not know: another replica may have rotated.
func (k *keyRing) verify(ctx context.Context, token string) (auth.TokenClaims, error) {
	_, v := k.current(ctx, false)
	now := k.now()
	h := auth.HashSecret(token)
	k.mu.Lock()
	c, ok := k.verified[h]
	k.mu.Unlock()
	if ok && now.Before(c.ExpiresAt.Add(auth.DefaultLeeway)) && !now.Before(c.NotBefore.Add(-auth.DefaultLeeway)) {
		return c, nil
	}
	c, err := k.verifyUncached(ctx, v, token)
	if err == nil {
		k.mu.Lock()
		if len(k.verified) >= maxVerified {
			clear(k.verified)
		}
		k.verified[h] = c
		k.mu.Unlock()
	}
	return c, err
}

func (k *keyRing) verifyUncached(ctx context.Context, v *auth.Verifier, token string) (auth.TokenClaims, error) {
	c, err := v.Verify(token, k.now())
	if errors.Is(err, auth.ErrUnknownKey) {
		_, v2 := k.current(ctx, true)
		if v2 != v {
			c, err = v2.Verify(token, k.now())
		}
	}
	return c, err
}

// RotateKey adds a new signing key, which signs every token from now on;
// the keys before it keep verifying until retired with [Service.RetireKey].
// Retire them once the tokens they signed have expired (the token TTL).
func (s *Service) RotateKey(ctx context.Context) (string, error) {
	return s.rotateKey(ctx, systemChange("key.rotate", ""))
}

// rotateKey adds a new signing key as the change ch.
func (s *Service) rotateKey(ctx context.Context, ch *change) (string, error) {
	sk, err := newSigningKey(s.now())
	if err != nil {
		return "", err
	}
	if err := s.keys.add(ctx, ch, sk); err != nil {
		return "", err
	}
	if err := s.keys.load(ctx, false); err != nil {
		return "", err
	}
	return sk.ID, nil
}

// RetireKey stops key id from signing and verifying. Retiring the last live
// key is refused: nothing could sign tokens after it.
func (s *Service) RetireKey(ctx context.Context, id string) error {
	return s.retireKey(ctx, systemChange("key.retire", id), id)
}

// retireKey retires key id as the change ch.
func (s *Service) retireKey(ctx context.Context, ch *change, id string) error {
	keys, err := s.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("read signing keys: %w", err)
	}
	live := 0
	for _, k := range keys {
		if k.RetiredAt.IsZero() && k.ID != id {
			live++
		}
	}
	if live == 0 {
		return errors.New("retire signing key: it is the last one; rotate first")
	}
	if err := s.keys.retire(ctx, ch, id, s.now().UTC()); err != nil {
		return err
	}
	return s.keys.load(ctx, false)
}
