// Package oidc signs users in with an OpenID Connect provider (Keycloak,
// Okta, Entra ID, Google, GitLab, Dex, ...) and verifies the OIDC tokens of
// CI jobs (workload identity), over go-oidc and x/oauth2.
//
// [Provider] is the relying party of the web UI's sign-in: the
// authorization code flow with PKCE (S256) and a nonce, the device flow of
// `wharf login`, the claims of the ID token (or, for those it lacks, of
// userinfo) turned into an [access.Identity], and the periodic check of a
// user with its refresh token. It speaks the protocol only; the HTTP
// routes are package signin's, the provisioning the access service's.
//
// [Workloads] checks CI tokens against rules: the signature with the
// issuer's published keys (fetched once and cached, fetched again for a
// key it has not seen), the expiry, the audience, then the rule's subject
// and claim patterns.
package oidc

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/meta"
)

// Options configure a [Provider].
type Options struct {
	// Issuer is the provider's issuer URL; discovery is read from
	// Issuer/.well-known/openid-configuration.
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is wharf's callback, .../auth/oidc/callback, as
	// registered with the provider.
	RedirectURL string
	// Scopes asked for; "openid" must be one. OfflineAccess adds
	// offline_access, for a refresh token the identity check uses.
	Scopes        []string
	OfflineAccess bool
	// UserNameClaim, EmailClaim and GroupsClaim name the claims read from
	// the ID token, or from userinfo when the ID token lacks them.
	UserNameClaim string
	EmailClaim    string
	GroupsClaim   string
	// MaxAge: a user with no refresh token, whom the provider has not
	// vouched for in this long, is gone for the identity check; zero
	// leaves such users alone.
	MaxAge time.Duration
	// Mapping turns the groups into wharf's rights.
	Mapping access.Mapping
	// HTTPClient talks to the provider; nil builds one (with CAFile).
	HTTPClient *http.Client
	CAFile     string
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Provider is the OpenID Connect provider users sign in with.
type Provider struct {
	opts   Options
	client *http.Client
	seal   cipher.AEAD // seals refresh tokens for the store; nil without a client secret
	now    func() time.Time

	mu        sync.Mutex
	discovery *discovered // nil until discovery succeeds
	lastTry   time.Time
}

type discovered struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
	device   bool // the provider has a device authorization endpoint
}

var _ access.IdentitySource = (*Provider)(nil)

// New returns the provider opts describes. Discovery happens at the first
// sign-in and is retried until it succeeds, so a provider that is down
// when wharf starts delays sign-ins, not the registry.
func New(opts Options) (*Provider, error) {
	if opts.Issuer == "" || opts.ClientID == "" || opts.RedirectURL == "" {
		return nil, errors.New("issuer, clientID and redirectURL must be set")
	}
	if opts.UserNameClaim == "" {
		opts.UserNameClaim = "preferred_username"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	client, err := httpClient(opts.HTTPClient, opts.CAFile)
	if err != nil {
		return nil, err
	}
	p := &Provider{opts: opts, client: client, now: opts.Now}
	if opts.ClientSecret != "" {
		// The refresh tokens in the store are sealed with a key derived
		// from the client secret: a copy of the database alone does not
		// hold tokens good at the provider, and rotating the secret makes
		// the old ones unreadable (those users are then checked by MaxAge
		// until they sign in again).
		key := sha256.Sum256([]byte("wharf oidc refresh token\x00" + opts.ClientSecret))
		block, err := aes.NewCipher(key[:])
		if err != nil {
			return nil, err
		}
		if p.seal, err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// httpClient is c, or a client that trusts the CAs in caFile (or the
// system's), with timeouts fit for talking to an identity provider.
func httpClient(c *http.Client, caFile string) (*http.Client, error) {
	if c != nil {
		return c, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("caFile %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}, nil
}

// Source is access.SourceOIDC.
func (p *Provider) Source() string { return access.SourceOIDC }

// Mapping is the configured group mapping.
func (p *Provider) Mapping() access.Mapping { return p.opts.Mapping }

func (p *Provider) context(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, p.client)
}

// discover reads the provider's discovery document once it can; a
// failure is retried no more than once a second.
func (p *Provider) discover(ctx context.Context) (*discovered, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.discovery != nil {
		return p.discovery, nil
	}
	if now := p.now(); now.Sub(p.lastTry) < time.Second {
		return nil, unavailable(errors.New("discovery failed less than a second ago"))
	} else {
		p.lastTry = now
	}
	// The keys are fetched with a context that outlives this request.
	kctx := p.context(context.WithoutCancel(ctx))
	op, err := oidc.NewProvider(kctx, p.opts.Issuer)
	if err != nil {
		return nil, unavailable(fmt.Errorf("discovery at %s: %w", p.opts.Issuer, err))
	}
	var extra struct {
		DeviceAuthURL string `json:"device_authorization_endpoint"`
	}
	_ = op.Claims(&extra)
	scopes := append([]string(nil), p.opts.Scopes...)
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email"}
	}
	if p.opts.OfflineAccess && !contains(scopes, oidc.ScopeOfflineAccess) {
		scopes = append(scopes, oidc.ScopeOfflineAccess)
	}
	d := &discovered{
		provider: op,
		verifier: op.VerifierContext(kctx, &oidc.Config{ClientID: p.opts.ClientID, Now: p.now}),
		oauth: oauth2.Config{ClientID: p.opts.ClientID, ClientSecret: p.opts.ClientSecret, Endpoint: op.Endpoint(),
			RedirectURL: p.opts.RedirectURL, Scopes: scopes},
		device: extra.DeviceAuthURL != "",
	}
	p.discovery = d
	return d, nil
}

func unavailable(err error) error {
	return &access.SourceUnavailableError{Source: "OIDC provider", Err: err}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// Login is a browser sign-in begun: where to send the browser, and what
// to keep until its callback (in the store, under the hash of State).
type Login struct {
	URL      string
	State    string
	Nonce    string
	Verifier string
}

// BeginLogin starts a browser sign-in: a fresh state, nonce and PKCE
// verifier, and the provider's authorization URL for them.
func (p *Provider) BeginLogin(ctx context.Context) (Login, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return Login{}, err
	}
	l := Login{State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), Verifier: oauth2.GenerateVerifier()}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(l.Nonce), oauth2.S256ChallengeOption(l.Verifier)}
	if p.opts.OfflineAccess && strings.HasPrefix(p.opts.Issuer, "https://accounts.google.com") {
		// Google gives refresh tokens for access_type=offline, not for the
		// offline_access scope.
		opts = append(opts, oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("prompt", "consent"))
	}
	l.URL = d.oauth.AuthCodeURL(l.State, opts...)
	return l, nil
}

// FinishLogin redeems the authorization code of a browser sign-in with its
// PKCE verifier, verifies the ID token (signature, issuer, audience,
// expiry, and the nonce of the login) and returns the identity it names.
// A refusal (a code or token that does not verify) is an
// *access.SourceRefusal.
func (p *Provider) FinishLogin(ctx context.Context, l Login, code string) (access.Identity, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return access.Identity{}, err
	}
	tok, err := d.oauth.Exchange(p.context(ctx), code, oauth2.VerifierOption(l.Verifier))
	if err != nil {
		return access.Identity{}, tokenError("redeem the authorization code", err)
	}
	return p.identity(ctx, d, tok, l.Nonce)
}

// tokenError classifies an error of the token endpoint: the provider's
// refusal (an OAuth2 error answer) or an outage.
func tokenError(what string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
		return &access.SourceRefusal{Reason: access.FailTokenInvalid, Detail: fmt.Sprintf("%s: the provider answered %s %s", what, re.ErrorCode, re.ErrorDescription)}
	}
	return unavailable(fmt.Errorf("%s: %w", what, err))
}

// identity verifies the ID token of tok and reads the identity from its
// claims and, for claims it lacks, from userinfo. nonce, if set, must be
// the token's.
func (p *Provider) identity(ctx context.Context, d *discovered, tok *oauth2.Token, nonce string) (access.Identity, error) {
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return access.Identity{}, &access.SourceRefusal{Reason: access.FailTokenInvalid, Detail: "the provider's answer has no ID token (is openid among auth.oidc.scopes?)"}
	}
	idt, err := d.verifier.Verify(p.context(ctx), raw)
	if err != nil {
		return access.Identity{}, &access.SourceRefusal{Reason: access.FailBearerInvalid, Detail: "the ID token does not verify: " + err.Error()}
	}
	if nonce != "" && idt.Nonce != nonce {
		return access.Identity{}, &access.SourceRefusal{Reason: access.FailBearerInvalid, Detail: "the ID token's nonce is not this sign-in's"}
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return access.Identity{}, &access.SourceRefusal{Reason: access.FailBearerInvalid, Detail: "the ID token's claims: " + err.Error()}
	}
	if p.lacks(claims) && d.provider.UserInfoEndpoint() != "" {
		ui, err := d.provider.UserInfo(p.context(ctx), oauth2.StaticTokenSource(tok))
		if err != nil {
			return access.Identity{}, unavailable(fmt.Errorf("userinfo: %w", err))
		}
		if ui.Subject != idt.Subject {
			return access.Identity{}, &access.SourceRefusal{Reason: access.FailBearerInvalid, Detail: "userinfo names another subject than the ID token"}
		}
		more := map[string]any{}
		if err := ui.Claims(&more); err == nil {
			for k, v := range more {
				if _, ok := claims[k]; !ok {
					claims[k] = v
				}
			}
		}
	}
	id := access.Identity{Source: access.SourceOIDC, Subject: idt.Issuer + " " + idt.Subject}
	id.Name, _ = claims[p.opts.UserNameClaim].(string)
	if id.Name == "" {
		return access.Identity{}, &access.SourceRefusal{Reason: access.FailUnknownUser,
			Detail: fmt.Sprintf("neither the ID token nor userinfo has the claim %q (auth.oidc.userNameClaim)", p.opts.UserNameClaim)}
	}
	if p.opts.EmailClaim != "" {
		id.Email, _ = claims[p.opts.EmailClaim].(string)
	}
	if p.opts.GroupsClaim != "" {
		id.Groups = stringsOf(claims[p.opts.GroupsClaim])
	}
	if tok.RefreshToken != "" && p.seal != nil {
		sealed, err := p.sealToken(tok.RefreshToken)
		if err != nil {
			return access.Identity{}, err
		}
		id.RefreshToken = sealed
	}
	return id, nil
}

// lacks reports whether claims lacks a claim the identity is read from.
func (p *Provider) lacks(claims map[string]any) bool {
	for _, c := range []string{p.opts.UserNameClaim, p.opts.EmailClaim, p.opts.GroupsClaim} {
		if _, ok := claims[c]; c != "" && !ok {
			return true
		}
	}
	return false
}

// stringsOf reads a claim that is a list of strings, or one string.
func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Check asks the provider about a user it vouched for: with the stored
// refresh token, a refresh whose new ID token (or userinfo) gives the
// identity now; access.ErrIdentityGone if the provider refuses the refresh
// (the user was removed or disabled, or the grant revoked). Without a
// refresh token the provider cannot be asked: the user is gone once MaxAge
// has passed since the provider last vouched for it, and otherwise
// access.ErrNotChecked.
func (p *Provider) Check(ctx context.Context, prev meta.ExternalIdentity) (access.Identity, error) {
	refresh := ""
	if len(prev.RefreshToken) > 0 && p.seal != nil {
		refresh, _ = p.unsealToken(prev.RefreshToken) // unreadable: the client secret changed
	}
	if refresh == "" {
		if p.opts.MaxAge > 0 && p.now().Sub(prev.CheckedAt) > p.opts.MaxAge {
			return access.Identity{}, fmt.Errorf("not vouched for since %s (auth.oidc.maxAge %s): %w", prev.CheckedAt.Format(time.RFC3339), p.opts.MaxAge, access.ErrIdentityGone)
		}
		return access.Identity{}, access.ErrNotChecked
	}
	d, err := p.discover(ctx)
	if err != nil {
		return access.Identity{}, err
	}
	tok, err := d.oauth.TokenSource(p.context(ctx), &oauth2.Token{RefreshToken: refresh, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return access.Identity{}, fmt.Errorf("the provider refused the refresh (%s %s): %w", re.ErrorCode, re.ErrorDescription, access.ErrIdentityGone)
		}
		return access.Identity{}, unavailable(fmt.Errorf("refresh: %w", err))
	}
	if _, ok := tok.Extra("id_token").(string); !ok {
		// Some providers give no new ID token on refresh: userinfo vouches.
		return p.userinfoIdentity(ctx, d, tok, prev)
	}
	id, err := p.identity(ctx, d, tok, "")
	if err != nil {
		return id, err
	}
	if id.Subject != prev.Subject {
		return access.Identity{}, fmt.Errorf("the refreshed ID token names %q, not %q: %w", id.Subject, prev.Subject, access.ErrIdentityGone)
	}
	if id.RefreshToken == nil {
		id.RefreshToken = prev.RefreshToken // not rotated: keep the one that worked
	}
	return id, nil
}

// userinfoIdentity reads the identity of prev's subject from userinfo.
func (p *Provider) userinfoIdentity(ctx context.Context, d *discovered, tok *oauth2.Token, prev meta.ExternalIdentity) (access.Identity, error) {
	ui, err := d.provider.UserInfo(p.context(ctx), oauth2.StaticTokenSource(tok))
	if err != nil {
		return access.Identity{}, unavailable(fmt.Errorf("userinfo: %w", err))
	}
	claims := map[string]any{}
	if err := ui.Claims(&claims); err != nil {
		return access.Identity{}, unavailable(fmt.Errorf("userinfo claims: %w", err))
	}
	id := access.Identity{Source: access.SourceOIDC, Subject: p.opts.Issuer + " " + ui.Subject, Name: prev.User}
	if id.Subject != prev.Subject {
		return access.Identity{}, fmt.Errorf("userinfo names %q, not %q: %w", id.Subject, prev.Subject, access.ErrIdentityGone)
	}
	id.Email, _ = claims[p.opts.EmailClaim].(string)
	id.Groups = stringsOf(claims[p.opts.GroupsClaim])
	id.RefreshToken = prev.RefreshToken
	if tok.RefreshToken != "" {
		if sealed, err := p.sealToken(tok.RefreshToken); err == nil {
			id.RefreshToken = sealed
		}
	}
	return id, nil
}

func (p *Provider) sealToken(token string) ([]byte, error) {
	nonce := make([]byte, p.seal.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal refresh token: %w", err)
	}
	return p.seal.Seal(nonce, nonce, []byte(token), nil), nil
}

func (p *Provider) unsealToken(b []byte) (string, error) {
	n := p.seal.NonceSize()
	if len(b) < n {
		return "", errors.New("sealed refresh token too short")
	}
	out, err := p.seal.Open(nil, b[:n], b[n:], nil)
	return string(out), err
}

// MarshalLogin and UnmarshalLogin keep a Login or Device in the store.
func MarshalLogin(v any) ([]byte, error) { return json.Marshal(v) }

// UnmarshalLogin reads what MarshalLogin wrote.
func UnmarshalLogin(b []byte, v any) error { return json.Unmarshal(b, v) }
