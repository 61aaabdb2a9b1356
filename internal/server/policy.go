package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/metrics"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/trust"
)

// policyHooks counts the image policy's refusals, warnings, verifications
// and cache look-ups in m, adding them to h, and records each signature
// verified (not read from the verdict cache) as a signature.verified event
// with record. Refused and warned pulls are counted, not recorded: a pull
// is an event of its own, and a refused one would flood the stream.
func policyHooks(h registry.Hooks, m *metrics.Policy, record func(events.Event)) registry.Hooks {
	h.PullRefused = func(_ context.Context, o registry.PolicyOutcome) { m.PullBroke(o.Namespace, o.Rule, string(o.Mode)) }
	h.PullWarned = func(_ context.Context, o registry.PolicyOutcome) {
		mode := string(o.Mode)
		if o.Pusher {
			mode = "pusher"
		}
		m.PullBroke(o.Namespace, o.Rule, mode)
	}
	h.SignatureVerified = func(ctx context.Context, repo string, image digest.Digest, v trust.Verdict) {
		result := v.Reason
		if v.Valid {
			result = "valid"
		} else if result == "" {
			result = "malformed"
		}
		m.Verified(string(v.Format), result)
		e := &events.SignatureVerified{Digest: image, Format: string(v.Format), Verified: v.Valid, Reason: v.Message}
		if v.Signer != nil {
			e.Signer, e.Policy = v.Signer.String(), v.Signer.TrustPolicy
		}
		record(events.New(ctx, repo, e))
	}
	h.PolicyCache = m.Cache
	return h
}

// verifyOptions are the options of signature verification cfg gives.
func verifyOptions(cfg config.Config) trust.Options {
	return trust.Options{RegistryHost: registryHost(cfg)}
}

// registryHost is trust.registryHost, or localhost with the port of
// http.addr.
func registryHost(cfg config.Config) string {
	if cfg.Trust.RegistryHost != "" {
		return cfg.Trust.RegistryHost
	}
	if _, port, err := net.SplitHostPort(cfg.HTTP.Addr); err == nil && port != "" {
		return net.JoinHostPort("localhost", port)
	}
	return "localhost"
}

// systemTrust reads the system-wide key set and image policy that
// trust.keySetFile and trust.imagePolicyFile name, validated as a
// namespace's are; nil for a file not configured.
func systemTrust(cfg config.Trust) (*trust.KeySetConfig, *policy.ImagePolicy, error) {
	var ks *trust.KeySetConfig
	if cfg.KeySetFile != "" {
		b, err := os.ReadFile(cfg.KeySetFile)
		if err != nil {
			return nil, nil, fmt.Errorf("trust.keySetFile: %w", err)
		}
		var c trust.KeySetConfig
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, nil, fmt.Errorf("trust.keySetFile %s: %w", cfg.KeySetFile, err)
		}
		if dec.More() {
			return nil, nil, fmt.Errorf("trust.keySetFile %s: more than one JSON value", cfg.KeySetFile)
		}
		if _, err := trust.NewKeySet(c); err != nil {
			return nil, nil, fmt.Errorf("trust.keySetFile %s: %w", cfg.KeySetFile, err)
		}
		ks = &c
	}
	var p *policy.ImagePolicy
	if cfg.ImagePolicyFile != "" {
		b, err := os.ReadFile(cfg.ImagePolicyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("trust.imagePolicyFile: %w", err)
		}
		ip, err := policy.ParseImagePolicy(b)
		if err == nil {
			err = ip.Validate()
		}
		if err != nil {
			return nil, nil, errors.Join(fmt.Errorf("trust.imagePolicyFile %s", cfg.ImagePolicyFile), err)
		}
		ip = ip.WithDefaults()
		p = &ip
	}
	return ks, p, nil
}
