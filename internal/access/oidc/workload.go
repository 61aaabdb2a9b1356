package oidc

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/oci"
)

// Rule lets the CI jobs whose tokens match it act as workload Name of
// Namespace, with Scopes.
type Rule struct {
	Name      string
	Namespace string
	// Issuer is the token's "iss"; JWKSURL, if set, is where its keys are
	// (otherwise from the issuer's discovery document).
	Issuer  string
	JWKSURL string
	// Audience must be among the token's "aud".
	Audience string
	// Subject and Claims are patterns the token's "sub" and claims must
	// match: * matches any run of characters but /, ** any run, ? one
	// character but /. A claim of an object is named by a dotted path
	// ("kubernetes.io.namespace"); numbers and booleans match as text.
	Subject string
	Claims  map[string]string
	// Scopes are "PATTERN:ACTIONS", inside Namespace.
	Scopes []string
}

// rule is a Rule ready to match.
type rule struct {
	Rule
	subject *regexp.Regexp
	claims  map[string]*regexp.Regexp
	scopes  auth.ScopeSet
}

// WorkloadOptions configure [Workloads].
type WorkloadOptions struct {
	Rules []Rule
	// HTTPClient fetches discovery documents and keys; nil builds one
	// (with CAFile).
	HTTPClient *http.Client
	CAFile     string
	Now        func() time.Time
}

// Workloads verifies CI tokens against rules: it is the
// access.WorkloadVerifier.
type Workloads struct {
	rules  []rule
	byName map[string]*rule
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	issuers map[string]*issuer // by issuer URL and JWKS URL
}

var _ access.WorkloadVerifier = (*Workloads)(nil)

// issuer is the key set of one issuer, found lazily.
type issuer struct {
	url, jwks string
	keys      *oidc.RemoteKeySet
	lastTry   time.Time
}

// NewWorkloads checks the rules and returns their verifier. It fetches
// nothing: the issuers' keys are fetched at the first token of each and
// cached.
func NewWorkloads(opts WorkloadOptions) (*Workloads, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	client, err := httpClient(opts.HTTPClient, opts.CAFile)
	if err != nil {
		return nil, err
	}
	w := &Workloads{byName: map[string]*rule{}, client: client, now: opts.Now, issuers: map[string]*issuer{}}
	for i, r := range opts.Rules {
		cr, err := compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("rules[%d] (%s): %w", i, r.Name, err)
		}
		w.rules = append(w.rules, cr)
	}
	for i := range w.rules {
		r := &w.rules[i]
		w.byName[access.RobotName(r.Namespace, r.Name)] = r
	}
	return w, nil
}

func compileRule(r Rule) (rule, error) {
	cr := rule{Rule: r, claims: map[string]*regexp.Regexp{}}
	if r.Audience == "" {
		return cr, errors.New("audience must be set")
	}
	if err := oci.ValidateNamespace(r.Namespace); err != nil {
		return cr, fmt.Errorf("namespace: %w", err)
	}
	if r.Subject == "" && len(r.Claims) == 0 {
		return cr, errors.New("a rule needs subject or claims: without them every token of the issuer would match")
	}
	if r.Subject != "" {
		cr.subject = glob(r.Subject)
	}
	for k, v := range r.Claims {
		cr.claims[k] = glob(v)
	}
	if len(r.Scopes) == 0 {
		return cr, errors.New("scopes must list at least one scope")
	}
	for _, s := range r.Scopes {
		sc, err := auth.ParseScope(s)
		if err != nil {
			return cr, fmt.Errorf("scopes: %w", err)
		}
		if !oci.InNamespace(sc.Pattern, r.Namespace) {
			return cr, fmt.Errorf("scope %q reaches outside namespace %s", s, r.Namespace)
		}
		cr.scopes = append(cr.scopes, sc)
	}
	return cr, nil
}

// glob compiles a pattern: * any run but /, ** any run, ? one but /.
func glob(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch {
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case p[i] == '*':
			b.WriteString("[^/]*")
		case p[i] == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// Rule returns the workload of the rule named NAMESPACE+RULE.
func (w *Workloads) Rule(name string) (access.Workload, bool) {
	r, ok := w.byName[name]
	if !ok {
		return access.Workload{}, false
	}
	return access.Workload{Rule: r.Name, Namespace: r.Namespace, Scopes: r.scopes}, true
}

// maxCITokenLength bounds what is parsed.
const maxCITokenLength = 16 << 10

// Verify checks a CI token and returns the workload of the first rule it
// matches.
func (w *Workloads) Verify(ctx context.Context, token string) (access.Workload, error) {
	refuse := func(format string, args ...any) (access.Workload, error) {
		return access.Workload{}, &access.SourceRefusal{Reason: access.FailBearerInvalid, Detail: fmt.Sprintf(format, args...)}
	}
	if len(token) > maxCITokenLength {
		return refuse("the token is longer than %d bytes", maxCITokenLength)
	}
	iss, err := unverifiedIssuer(token)
	if err != nil {
		return refuse("%v", err)
	}
	var candidates []*rule
	for i := range w.rules {
		if w.rules[i].Issuer == iss {
			candidates = append(candidates, &w.rules[i])
		}
	}
	if len(candidates) == 0 {
		return refuse("no workload rule trusts issuer %q", truncate(iss))
	}
	// One verification per key set: rules of one issuer share it, and the
	// audience is checked per rule below.
	var claims map[string]any
	var verified *oidc.IDToken
	var lastErr error
	for _, r := range candidates {
		if verified == nil || r.JWKSURL != candidates[0].JWKSURL {
			keys, err := w.keys(ctx, r)
			if err != nil {
				return access.Workload{}, err
			}
			v := oidc.NewVerifier(r.Issuer, keys, &oidc.Config{SkipClientIDCheck: true, Now: w.now,
				SupportedSigningAlgs: []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.EdDSA}})
			idt, err := v.Verify(oidc.ClientContext(ctx, w.client), token)
			if err != nil {
				lastErr = err
				continue
			}
			verified, claims = idt, map[string]any{}
			if err := idt.Claims(&claims); err != nil {
				return refuse("the token's claims: %v", err)
			}
		}
		if !slices.Contains(verified.Audience, r.Audience) {
			lastErr = fmt.Errorf("audience %v is not %q", verified.Audience, r.Audience)
			continue
		}
		if r.subject != nil && !r.subject.MatchString(verified.Subject) {
			lastErr = fmt.Errorf("subject %q does not match rule %s", truncate(verified.Subject), r.Name)
			continue
		}
		if k, ok := r.mismatch(claims); !ok {
			lastErr = fmt.Errorf("claim %s does not match rule %s", k, r.Name)
			continue
		}
		return access.Workload{Rule: r.Name, Namespace: r.Namespace, Scopes: r.scopes, Subject: verified.Issuer + " " + verified.Subject, Expires: verified.Expiry}, nil
	}
	var unavail *access.SourceUnavailableError
	if errors.As(lastErr, &unavail) {
		return access.Workload{}, lastErr
	}
	if verified == nil && lastErr != nil && isFetchError(lastErr) {
		return access.Workload{}, unavailable(lastErr)
	}
	return refuse("the token matches no workload rule: %v", lastErr)
}

// mismatch returns the first claim of r that claims does not match.
func (r *rule) mismatch(claims map[string]any) (string, bool) {
	for _, k := range sortedKeys(r.claims) {
		v, ok := lookup(claims, k)
		if !ok || !r.claims[k].MatchString(text(v)) {
			return k, false
		}
	}
	return "", true
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// lookup finds a claim by name, or by a dotted path into objects whose
// keys may hold dots themselves ("kubernetes.io.namespace").
func lookup(m map[string]any, path string) (any, bool) {
	if v, ok := m[path]; ok {
		return v, true
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		if sub, ok := m[path[:i]].(map[string]any); ok {
			if v, ok := lookup(sub, path[i+1:]); ok {
				return v, true
			}
		}
	}
	return nil, false
}

// text is a claim's value as a pattern matches it.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// keys returns the key set of r's issuer, finding its JWKS URL by
// discovery the first time; a failed discovery is retried no more than
// once a second.
func (w *Workloads) keys(ctx context.Context, r *rule) (*oidc.RemoteKeySet, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := r.Issuer + " " + r.JWKSURL
	is := w.issuers[key]
	if is == nil {
		is = &issuer{url: r.Issuer, jwks: r.JWKSURL}
		w.issuers[key] = is
	}
	if is.keys != nil {
		return is.keys, nil
	}
	if now := w.now(); now.Sub(is.lastTry) < time.Second {
		return nil, unavailable(fmt.Errorf("the keys of %s could not be had less than a second ago", r.Issuer))
	} else {
		is.lastTry = now
	}
	kctx := oidc.ClientContext(context.WithoutCancel(ctx), w.client)
	jwks := is.jwks
	if jwks == "" {
		p, err := oidc.NewProvider(kctx, r.Issuer)
		if err != nil {
			return nil, unavailable(fmt.Errorf("discovery at %s: %w", r.Issuer, err))
		}
		var d struct {
			JWKS string `json:"jwks_uri"`
		}
		if err := p.Claims(&d); err != nil || d.JWKS == "" {
			return nil, unavailable(fmt.Errorf("discovery at %s has no jwks_uri", r.Issuer))
		}
		jwks = d.JWKS
	}
	is.keys = oidc.NewRemoteKeySet(kctx, jwks)
	return is.keys, nil
}

// isFetchError reports whether err is go-oidc's failure to fetch keys
// rather than a token it refused.
func isFetchError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "fetching keys") || strings.Contains(s, "get keys failed")
}

// unverifiedIssuer reads the "iss" of a JWT without verifying it, to pick
// the rules (and keys) to verify it with.
func unverifiedIssuer(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("the token is not a JWT")
	}
	payload, err := decodeSegment(parts[1])
	if err != nil {
		return "", fmt.Errorf("the token's payload: %w", err)
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if err := UnmarshalLogin(payload, &c); err != nil || c.Issuer == "" {
		return "", errors.New("the token has no issuer")
	}
	return c.Issuer, nil
}

func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

// decodeSegment decodes a base64url segment of a JWT, with or without
// padding.
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
