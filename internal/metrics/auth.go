package metrics

import "github.com/prometheus/client_golang/prometheus"

// Auth is what authentication records of refused logins.
type Auth struct {
	failures *prometheus.CounterVec // reason
}

// NewAuth returns the authentication collectors, registered on m's
// registry, with a zero series for each of reasons, so that rates and
// alerts see every reason from the start. Call it once per Metrics.
func (m *Metrics) NewAuth(reasons []string) *Auth {
	a := &Auth{failures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wharf_auth_failures_total",
		Help: "Refused authentications on /v2, /token and /api/v1 (wrong passwords, unknown, expired or revoked tokens, lockouts), by reason.",
	}, []string{"reason"})}
	for _, r := range reasons {
		a.failures.WithLabelValues(r)
	}
	m.Registry.MustRegister(a.failures)
	return a
}

// Failed records a refused authentication. reason must be one of a small
// fixed set (see access.AuthFailures), never anything a client wrote.
func (a *Auth) Failed(reason string) { a.failures.WithLabelValues(reason).Inc() }
