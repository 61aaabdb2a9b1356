package access

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
)

// Workload identity: a CI job (GitHub Actions, GitLab CI, a Kubernetes
// service account) holds an OIDC token its platform signed, and presents
// it instead of a stored secret: as the password of the Docker token flow,
// or as the subject token of an OAuth2 token exchange at /token. A rule of
// the configuration that matches the token's claims makes the job a
// *workload*: a principal like a robot of the rule's namespace, with the
// rule's scopes, that exists only for as long as its token and the bearer
// tokens issued to it.

// Workload is what a verified CI token maps to.
type Workload struct {
	// Rule names the rule that matched; the principal is
	// "workload:NAMESPACE+RULE".
	Rule      string
	Namespace string
	Scopes    auth.ScopeSet
	// Subject says who the token named, for the audit log: its issuer and
	// "sub".
	Subject string
	// Expires is when the token stops being valid (zero: not said).
	Expires time.Time
}

// WorkloadVerifier checks CI tokens against the configured issuers and
// rules (package oidc implements it).
type WorkloadVerifier interface {
	// Verify checks token (signature by the issuer's published keys,
	// expiry, audience) and returns the workload of the first rule its
	// claims match: a *SourceRefusal when it does not verify or no rule
	// matches, a *SourceUnavailableError when the issuer's keys cannot be
	// had.
	Verify(ctx context.Context, token string) (Workload, error)
	// Rule returns the workload of the rule named name (NAMESPACE+RULE),
	// without a subject: what a bearer token issued to it may still do.
	Rule(name string) (Workload, bool)
}

// workloadPrincipal is the principal of w at now.
func workloadPrincipal(w Workload, now time.Time) auth.Principal {
	return auth.Principal{Kind: auth.KindWorkload, Name: RobotName(w.Namespace, w.Rule), Owner: w.Namespace, Scopes: w.Scopes, At: now}
}

// workloadLogin checks a CI token presented as a password; fresh says it
// was verified now, rather than the cache answering.
func (s *Service) workloadLogin(ctx context.Context, token string, now time.Time) (auth.Principal, refusal, bool, error) {
	if w, ok := s.workloads.verified(token, now); ok {
		return workloadPrincipal(w, now), refusal{}, false, nil
	}
	w, err := s.opts.Identity.Workload.Verify(ctx, token)
	var sr *SourceRefusal
	if errors.As(err, &sr) {
		return auth.Principal{}, refusal{reason: sr.Reason, detail: "source=workload: " + sr.Detail}, true, nil
	}
	if err != nil {
		return auth.Principal{}, refusal{}, false, err
	}
	s.workloads.remember(token, w, now)
	return workloadPrincipal(w, now), refusal{}, true, nil
}

// A client that sends a CI token as the password of every request (Basic
// on /v2) would cost a signature check and an audited sign-in per request.
// workloadCache remembers, for workloadTTL and never past the token's own
// expiry, what a verified token maps to, keyed by its SHA-256. The rules
// are the configuration's, fixed while the process runs, and a JWT cannot
// be revoked at its issuer, so nothing the cache skips could have changed
// the answer but the clock.
const (
	workloadTTL        = time.Minute
	maxWorkloadEntries = 10_000
)

type workloadCache struct {
	mu sync.Mutex
	m  map[string]workloadEntry
}

type workloadEntry struct {
	w     Workload
	until time.Time
}

func (c *workloadCache) verified(token string, now time.Time) (Workload, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[auth.HashSecret(token)]
	if !ok || !now.Before(e.until) || now.Before(e.until.Add(-workloadTTL)) {
		return Workload{}, false
	}
	return e.w, true
}

func (c *workloadCache) remember(token string, w Workload, now time.Time) {
	until := now.Add(workloadTTL)
	if !w.Expires.IsZero() && w.Expires.Before(until) {
		until = w.Expires
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxWorkloadEntries {
		c.m = map[string]workloadEntry{} // crude, but bounded: one verification per active job
	}
	c.m[auth.HashSecret(token)] = workloadEntry{w: w, until: until}
}

// ExchangeWorkloadToken checks a CI token presented for an OAuth2 token
// exchange and returns the principal of its workload, limited and audited
// as a login from client.
func (s *Service) ExchangeWorkloadToken(ctx context.Context, token string, client netip.Addr) (auth.Principal, error) {
	if s.opts.Identity.Workload == nil {
		return auth.Principal{}, &SourceRefusal{Reason: FailTokenInvalid, Detail: "workload identity is not configured (auth.workload.rules)"}
	}
	if !looksLikeJWT(token) {
		return auth.Principal{}, &SourceRefusal{Reason: FailTokenInvalid, Detail: "the subject token is not a JWT"}
	}
	return s.Login(ctx, "workload", token, client)
}

// resolveWorkload is what a bearer token issued to workload name may do now:
// the rule's scopes as configured today, or nothing if the rule is gone.
func (s *Service) resolveWorkload(name string, now time.Time) auth.Principal {
	if s.opts.Identity.Workload != nil {
		if w, ok := s.opts.Identity.Workload.Rule(name); ok {
			return workloadPrincipal(w, now)
		}
	}
	return auth.Principal{Kind: auth.KindAnonymous, At: now}
}

// workloadOwner is the namespace of workload name, NAMESPACE+RULE.
func workloadOwner(name string) string {
	ns, _, _ := strings.Cut(name, "+")
	return ns
}
