package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/wharf-dev/wharf/internal/access"
)

// Device is a device sign-in begun (RFC 8628): what to show the user, and
// what to keep (in the store) to finish it.
type Device struct {
	UserCode                string    `json:"user_code"`
	VerificationURI         string    `json:"verification_uri"`
	VerificationURIComplete string    `json:"verification_uri_complete,omitempty"`
	Interval                int64     `json:"interval"`
	Expiry                  time.Time `json:"expiry"`
	DeviceCode              string    `json:"device_code"`
	Verifier                string    `json:"verifier"`
}

// ErrNoDeviceFlow: the provider has no device authorization endpoint.
var ErrNoDeviceFlow = errors.New("the OIDC provider offers no device flow (no device_authorization_endpoint in its discovery document)")

// BeginDevice starts a device sign-in at the provider, with PKCE.
func (p *Provider) BeginDevice(ctx context.Context) (Device, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return Device{}, err
	}
	if !d.device {
		return Device{}, ErrNoDeviceFlow
	}
	v := oauth2.GenerateVerifier()
	// x/oauth2 asks as a public client would, with the client ID alone;
	// wharf is a confidential client, which authenticates at the device
	// authorization endpoint as at the token endpoint (RFC 8628 3.1):
	// providers that know the client has a secret refuse it otherwise.
	c := *p.client
	c.Transport = clientAuth{base: p.client.Transport, url: d.oauth.Endpoint.DeviceAuthURL, id: p.opts.ClientID, secret: p.opts.ClientSecret}
	da, err := d.oauth.DeviceAuth(oidc.ClientContext(ctx, &c), oauth2.S256ChallengeOption(v))
	if err != nil {
		return Device{}, tokenError("device authorization", err)
	}
	return Device{UserCode: da.UserCode, VerificationURI: da.VerificationURI, VerificationURIComplete: da.VerificationURIComplete,
		Interval: da.Interval, Expiry: da.Expiry, DeviceCode: da.DeviceCode, Verifier: v}, nil
}

// ErrPending: the user has not finished the device sign-in yet.
var ErrPending = errors.New("authorization pending")

// PollDevice waits, until ctx is done, for the user to finish the device
// sign-in, and returns the identity: ErrPending if ctx ended first, an
// *access.SourceRefusal if the user refused or the code expired.
func (p *Provider) PollDevice(ctx context.Context, dev Device) (access.Identity, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return access.Identity{}, err
	}
	da := &oauth2.DeviceAuthResponse{DeviceCode: dev.DeviceCode, UserCode: dev.UserCode, VerificationURI: dev.VerificationURI,
		Interval: dev.Interval, Expiry: dev.Expiry}
	tok, err := d.oauth.DeviceAccessToken(p.context(ctx), da, oauth2.VerifierOption(dev.Verifier))
	if err != nil {
		if ctx.Err() != nil && p.now().Before(dev.Expiry) {
			return access.Identity{}, ErrPending
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return access.Identity{}, &access.SourceRefusal{Reason: access.FailTokenExpired, Detail: "the device code expired"}
		}
		return access.Identity{}, tokenError("device sign-in", err)
	}
	return p.identity(ctx, d, tok, "")
}

// clientAuth authenticates the client with HTTP Basic (RFC 6749 2.3.1:
// both parts form-encoded) on requests to url, and passes others as they
// are.
type clientAuth struct {
	base            http.RoundTripper
	url, id, secret string
}

func (c clientAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	base := c.base
	if base == nil {
		base = http.DefaultTransport
	}
	if c.secret == "" || r.URL.String() != c.url {
		return base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	return base.RoundTrip(r)
}
