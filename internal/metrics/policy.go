package metrics

import "github.com/prometheus/client_golang/prometheus"

// Policy is what the registry records when it applies image policies and
// verifies signatures.
type Policy struct {
	pulls         *prometheus.CounterVec // namespace, rule, mode: pulls refused (enforce) or warned about (warn)
	verifications *prometheus.CounterVec // format, result
	cache         *prometheus.CounterVec // layer, result
	// cacheHit and cacheMiss are cache's counters for layers "memory" and
	// "store", resolved once: every pull from a namespace with a policy
	// counts a look-up.
	cacheHit, cacheMiss map[string]prometheus.Counter
	names               *Namespaces
}

// PolicyRules are the rules of an image policy: the rule label.
var PolicyRules = []string{"require-signature", "vulnerabilities", "require-scan", "require-sbom"}

// VerificationResults are the result label of signature verifications:
// "valid", or why the signature does not count (trust.ReasonCode).
var VerificationResults = []string{"valid", "no-signature", "kind-not-trusted", "untrusted-key", "bad-signature",
	"untrusted-certificate", "untrusted-identity", "transparency-log", "timestamp", "wrong-image", "notation", "malformed"}

// SignatureFormats are the format label: how a signature is stored.
var SignatureFormats = []string{"cosign", "sigstore-bundle", "notation"}

// NewPolicy returns the image policy collectors, registered on m's
// registry.
func (m *Metrics) NewPolicy() *Policy {
	p := &Policy{
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_policy_pulls_total",
			Help: "Manifest pulls that broke a rule of their namespace's image policy, by namespace, rule and mode: enforce (refused), warn (served with a warning) or pusher (an enforced rule, served with a warning to a caller who may push).",
		}, []string{"namespace", "rule", "mode"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_signature_verifications_total",
			Help: "Signatures verified (not answered from the verdict cache), by format (cosign, sigstore-bundle, notation) and result: valid, or the reason the signature does not count.",
		}, []string{"format", "result"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_policy_cache_total",
			Help: "Look-ups in the image policy's caches, by layer (memory: the decision on a pull; store: the verdict on a signature) and result (hit, miss).",
		}, []string{"layer", "result"}),
		names: m.Namespaces,
	}
	for _, f := range SignatureFormats {
		for _, r := range VerificationResults {
			p.verifications.WithLabelValues(f, r)
		}
	}
	// Refusals start at zero in every namespace label, so that the first
	// shows as an increase; warnings appear with their first.
	m.Namespaces.OnAdmit(func(label string) {
		for _, rule := range PolicyRules {
			p.pulls.WithLabelValues(label, rule, "enforce")
		}
	})
	p.cacheHit, p.cacheMiss = map[string]prometheus.Counter{}, map[string]prometheus.Counter{}
	for _, layer := range []string{"memory", "store"} {
		p.cacheHit[layer] = p.cache.WithLabelValues(layer, "hit")
		p.cacheMiss[layer] = p.cache.WithLabelValues(layer, "miss")
	}
	m.Registry.MustRegister(p.pulls, p.verifications, p.cache)
	return p
}

// PullBroke records a pull of namespace that broke rule in mode
// ("enforce": refused; "warn": served with a warning; "pusher": an
// enforced rule, served to a caller who may push). A namespace with a
// policy refuses or warns only for a rule it turned on, so it is admitted
// to the namespace labels.
func (p *Policy) PullBroke(namespace, rule, mode string) {
	p.pulls.WithLabelValues(p.names.Admit(namespace), rule, mode).Inc()
}

// Verified records a signature verified, with its format and result.
func (p *Policy) Verified(format, result string) {
	p.verifications.WithLabelValues(format, result).Inc()
}

// Cache records a look-up in a policy cache.
func (p *Policy) Cache(layer string, hit bool) {
	byLayer := p.cacheMiss
	if hit {
		byLayer = p.cacheHit
	}
	if c, ok := byLayer[layer]; ok {
		c.Inc()
		return
	}
	r := "miss"
	if hit {
		r = "hit"
	}
	p.cache.WithLabelValues(layer, r).Inc()
}
