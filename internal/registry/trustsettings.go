package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/trust"
)

// A namespace's trust settings are its key set (what signatures it trusts)
// and its image policy (what a pull must pass). They are validated here
// before they are stored, and read on every pull, so each replica holds
// them in memory: dropped when the namespace's settings change (on this
// replica at once, on the others when the store announces the change) and
// read again at most settingsTTL after they were read, in case an
// announcement was missed or a cascade (the namespace deleted) made none.

// settingsTTL bounds how long a replica trusts the settings it read.
const settingsTTL = time.Minute

// TrustSettings is a namespace's key set and image policy, as the
// management API shows them.
type TrustSettings struct {
	Namespace string
	// KeySet is nil when the namespace trusts no signature.
	KeySet *trust.KeySetConfig
	// Fingerprint is the key set's, "" without one.
	Fingerprint string
	// Policy is nil when the namespace has no image policy.
	Policy    *policy.ImagePolicy
	Version   int64
	UpdatedAt time.Time
}

// nsSettings is a namespace's settings ready to judge pulls with.
type nsSettings struct {
	stored meta.TrustSettings // as read, to tell whether a re-read changed anything
	// loaded is when they were last read (unix nanoseconds): a re-read
	// that finds them unchanged moves it on and keeps this value, and with
	// it the decisions made under it.
	loaded atomic.Int64
	// keySet is never nil: without a configured one it is empty and trusts
	// nothing, so require-signature refuses every image saying so.
	keySet      *trust.KeySet
	configured  bool   // a key set is configured
	fingerprint string // of the key set and the registry host, keying cached verdicts
	policy      policy.ImagePolicy
	err         error // why stored settings could not be used (they were valid when stored)
}

// settingsCache holds the settings of the namespaces pulled from.
type settingsCache struct {
	gen  atomic.Uint64
	mu   sync.RWMutex
	byNS map[string]*nsSettings
}

func newSettingsCache() *settingsCache { return &settingsCache{byNS: map[string]*nsSettings{}} }

func (c *settingsCache) get(ns string) *nsSettings {
	c.mu.RLock()
	s := c.byNS[ns]
	c.mu.RUnlock()
	return s
}

func (c *settingsCache) put(gen uint64, ns string, s *nsSettings) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.byNS) >= maxCachedNamespaces {
		clear(c.byNS)
	}
	c.byNS[ns] = s
}

func (c *settingsCache) invalidate(ns string) {
	c.mu.Lock()
	c.gen.Add(1)
	delete(c.byNS, ns)
	c.mu.Unlock()
}

func (c *settingsCache) invalidateAll() {
	c.mu.Lock()
	c.gen.Add(1)
	clear(c.byNS)
	c.mu.Unlock()
}

const maxCachedNamespaces = 10000

// emptyKeySet trusts nothing.
var emptyKeySet = func() *trust.KeySet {
	ks, err := trust.NewKeySet(trust.KeySetConfig{})
	if err != nil {
		panic(err)
	}
	return ks
}()

// namespaceSettings returns the settings of namespace ns, from memory when
// they were read less than settingsTTL ago. When they cannot be read again
// the ones held are used; with none held, the pull fails (503): serving it
// could skip a policy.
func (r *Registry) namespaceSettings(ctx context.Context, ns string) (*nsSettings, error) {
	held := r.settings.get(ns)
	now := r.now()
	if held != nil && now.Sub(time.Unix(0, held.loaded.Load())) < settingsTTL {
		return held, nil
	}
	gen := r.settings.gen.Load()
	stored, err := r.meta.TrustSettings(ctx, ns)
	if errors.Is(err, meta.ErrNotFound) {
		stored, err = meta.TrustSettings{Namespace: ns}, nil
	}
	if err != nil {
		if held != nil && !errors.Is(err, context.Canceled) {
			r.log.Warn("reading trust settings failed; using those read before", "namespace", ns, "err", err)
			return held, nil
		}
		return nil, internal("read trust settings of "+ns, err)
	}
	if held != nil && sameSettings(held.stored, stored) {
		held.loaded.Store(now.UnixNano())
		return held, nil
	}
	s := r.buildSettings(stored, now)
	r.settings.put(gen, ns, s)
	return s, nil
}

func sameSettings(a, b meta.TrustSettings) bool {
	return a.Version == b.Version && string(a.KeySet) == string(b.KeySet) && string(a.Policy) == string(b.Policy)
}

// buildSettings prepares stored settings, joined with the system-wide
// ones. Settings that no longer parse (written by a newer wharf, or
// damaged), or no longer join (the system-wide key set's trusted root
// changed), make every pull of the namespace fail rather than skip its
// policy.
func (r *Registry) buildSettings(stored meta.TrustSettings, now time.Time) *nsSettings {
	s := &nsSettings{stored: stored, keySet: emptyKeySet}
	s.loaded.Store(now.UnixNano())
	if stored.Policy != nil {
		p, err := policy.ParseImagePolicy(stored.Policy)
		if err != nil {
			s.err = fmt.Errorf("image policy of %s: %w", stored.Namespace, err)
		}
		s.policy = p
	}
	if r.system.policy != nil {
		s.policy = policy.Stricter(*r.system.policy, s.policy)
	}
	var own *trust.KeySetConfig
	if stored.KeySet != nil {
		cfg, err := decodeKeySet(stored.KeySet)
		if err != nil {
			s.err = errors.Join(s.err, fmt.Errorf("key set of %s: %w", stored.Namespace, err))
		}
		own = &cfg
	}
	if own != nil || r.system.keySet != nil {
		ks, err := r.system.join(own)
		if err != nil {
			s.err = errors.Join(s.err, fmt.Errorf("key set of %s: %w", stored.Namespace, err))
		} else {
			s.keySet, s.configured = ks, true
		}
	}
	sum := sha256.Sum256([]byte(s.keySet.Fingerprint() + "\x00" + r.verifyOpts.RegistryHost))
	s.fingerprint = hex.EncodeToString(sum[:])
	return s
}

// systemTrust is what every namespace trusts and requires besides its own
// settings (trust.keySetFile and trust.imagePolicyFile).
type systemTrust struct {
	keySet *trust.KeySetConfig
	policy *policy.ImagePolicy
}

// systemKeyPrefix starts the names of the system-wide keys in a
// namespace's key set, so that they never clash with its own and
// refusals say which is which.
const systemKeyPrefix = "system/"

// join returns the key set a namespace with key set own (nil for none)
// verifies signatures with: its own keys, identities and notation trust
// policy, and the system-wide keys (named system/NAME) and identities. A
// namespace's notation trust policy replaces the system-wide one (a trust
// policy document is whole). Keyless identities of both are verified
// against one trusted root, so where both set one it must be the same.
func (s systemTrust) join(own *trust.KeySetConfig) (*trust.KeySet, error) {
	if s.keySet == nil {
		return trust.NewKeySet(*own)
	}
	var out trust.KeySetConfig
	if own != nil {
		out = *own
		out.Keys = slices.Clone(own.Keys)
		out.Identities = slices.Clone(own.Identities)
	}
	sys := *s.keySet
	for _, k := range sys.Keys {
		out.Keys = append(out.Keys, trust.KeyConfig{Name: systemKeyPrefix + k.Name, PEM: k.PEM})
	}
	out.Identities = append(out.Identities, sys.Identities...)
	switch {
	case len(sys.TrustedRoot) == 0:
	case len(out.TrustedRoot) == 0:
		out.TrustedRoot = sys.TrustedRoot
	case !sameJSON(out.TrustedRoot, sys.TrustedRoot):
		return nil, errors.New("trustedRoot differs from the system-wide key set's (trust.keySetFile): keyless identities of both are verified against one root, so set the same one or none")
	}
	out.RequireTransparencyLog = out.RequireTransparencyLog || sys.RequireTransparencyLog
	if out.Notation == nil {
		out.Notation = sys.Notation
	}
	return trust.NewKeySet(out)
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

func decodeKeySet(b []byte) (trust.KeySetConfig, error) {
	var cfg trust.KeySetConfig
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return trust.KeySetConfig{}, fmt.Errorf("key set: %w", err)
	}
	if dec.More() {
		return trust.KeySetConfig{}, errors.New("key set: more than one JSON value")
	}
	return cfg, nil
}

// TrustSettings returns the key set and image policy of namespace, empty
// when it has neither.
func (r *Registry) TrustSettings(ctx context.Context, namespace string) (TrustSettings, error) {
	stored, err := r.meta.TrustSettings(ctx, namespace)
	if errors.Is(err, meta.ErrNotFound) {
		return TrustSettings{Namespace: namespace}, nil
	}
	if err != nil {
		return TrustSettings{}, internal("read trust settings", err)
	}
	return settingsOf(stored)
}

func settingsOf(stored meta.TrustSettings) (TrustSettings, error) {
	out := TrustSettings{Namespace: stored.Namespace, Version: stored.Version, UpdatedAt: stored.UpdatedAt}
	if stored.KeySet != nil {
		cfg, err := decodeKeySet(stored.KeySet)
		if err != nil {
			return TrustSettings{}, internal("read key set", err)
		}
		out.KeySet = &cfg
		if ks, err := trust.NewKeySet(cfg); err == nil {
			out.Fingerprint = ks.Fingerprint()
		}
	}
	if stored.Policy != nil {
		p, err := policy.ParseImagePolicy(stored.Policy)
		if err != nil {
			return TrustSettings{}, internal("read image policy", err)
		}
		out.Policy = &p
	}
	return out, nil
}

// AllTrustSettings lists the settings of every namespace that has some.
func (r *Registry) AllTrustSettings(ctx context.Context) ([]TrustSettings, error) {
	all, err := r.meta.AllTrustSettings(ctx)
	if err != nil {
		return nil, internal("list trust settings", err)
	}
	out := make([]TrustSettings, 0, len(all))
	for _, s := range all {
		ts, err := settingsOf(s)
		if err != nil {
			return nil, err
		}
		out = append(out, ts)
	}
	return out, nil
}

// SetKeySet validates cfg with [trust.NewKeySet] (a refusal names the
// entry at fault), joined with the system-wide key set, and makes it what
// namespace trusts; nil removes it.
func (r *Registry) SetKeySet(ctx context.Context, namespace string, cfg *trust.KeySetConfig) (TrustSettings, error) {
	var b []byte
	if cfg != nil {
		// Validated as joined with the system-wide key set: its own entries
		// come first, so a refusal's index names the namespace's entry.
		if _, err := r.system.join(cfg); err != nil {
			return TrustSettings{}, invalid(err)
		}
		var err error
		if b, err = json.Marshal(cfg); err != nil {
			return TrustSettings{}, internal("encode key set", err)
		}
	}
	change := &events.PolicyChanged{Policy: events.PolicyTrust, Change: events.ChangeDeleted, Scope: namespace}
	if cfg != nil {
		change.Change, change.Rule = events.ChangeUpdated, cfg.Summary()
	}
	return r.putTrust(ctx, namespace, change, func(tx meta.Tx) error { return tx.PutKeySet(ctx, namespace, b) })
}

// SetImagePolicy validates p and makes it namespace's image policy; nil
// removes it.
func (r *Registry) SetImagePolicy(ctx context.Context, namespace string, p *policy.ImagePolicy) (TrustSettings, error) {
	var b []byte
	if p != nil {
		if err := p.Validate(); err != nil {
			return TrustSettings{}, invalid(err)
		}
		var err error
		if b, err = json.Marshal(p.WithDefaults()); err != nil {
			return TrustSettings{}, internal("encode image policy", err)
		}
	}
	change := &events.PolicyChanged{Policy: events.PolicyImage, Change: events.ChangeDeleted, Scope: namespace}
	if p != nil {
		change.Change, change.Rule = events.ChangeUpdated, p.WithDefaults().Summary()
	}
	return r.putTrust(ctx, namespace, change, func(tx meta.Tx) error { return tx.PutImagePolicy(ctx, namespace, b) })
}

// putTrust runs put, a change of namespace's trust settings, with its
// event change in one transaction.
func (r *Registry) putTrust(ctx context.Context, namespace string, change *events.PolicyChanged, put func(meta.Tx) error) (TrustSettings, error) {
	var stored meta.TrustSettings
	err := r.meta.Update(ctx, func(tx meta.Tx) error {
		if err := put(tx); err != nil {
			return err
		}
		var err error
		if stored, err = tx.TrustSettings(ctx, namespace); err != nil {
			return err
		}
		return events.Append(ctx, tx, events.New(ctx, "", change).InNamespace(namespace))
	})
	r.InvalidateNamespace(namespace)
	if errors.Is(err, meta.ErrNotFound) {
		return TrustSettings{}, apierr.New(apierr.NotFound, "namespace %s not found", namespace)
	}
	if err != nil {
		return TrustSettings{}, internal("store trust settings", err)
	}
	return settingsOf(stored)
}

// InvalidateNamespace drops what this replica holds of namespace's
// settings and of the policy decisions made under them. Replicas call it
// when the store announces a change to the namespace; so must whatever
// changes what the policies read of the namespace outside the registry
// (an allowlist).
func (r *Registry) InvalidateNamespace(namespace string) {
	r.settings.invalidate(namespace)
}
