package config

import (
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
)

// Promotion is where images may be promoted besides this registry's own
// namespaces (see docs/promotion.md).
type Promotion struct {
	// Remotes are the other registries images may be promoted to, each
	// under a name `wharf promote --remote NAME` gives.
	Remotes []PromotionRemote `yaml:"remotes"`
}

// PromotionRemote is a registry images may be promoted to.
type PromotionRemote struct {
	Name string `yaml:"name"`
	// URL is the registry's base URL, http(s)://host[:port].
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	// Password (or an access token) logs in; PasswordFile reads it from a
	// file instead.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"passwordFile"`
	// CAFile is a PEM file with the CA of the registry's certificate.
	CAFile string `yaml:"caFile"`
	// Policy is the local namespace whose promotion policy gates
	// promotions to this remote, and into which the promoter must be
	// allowed to promote; "" is the namespace of the target repository.
	Policy string `yaml:"policy"`
}

var remoteNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func (c *Config) validatePromotion(bad func(option, format string, args ...any)) {
	seen := map[string]bool{}
	for i, r := range c.Promotion.Remotes {
		at := func(field string) string { return "promotion.remotes[" + strconv.Itoa(i) + "]." + field }
		if !remoteNameRE.MatchString(r.Name) {
			bad(at("name"), "%q: 1 to 63 lower-case letters, digits, '.', '_' or '-'", r.Name)
		}
		if seen[r.Name] {
			bad(at("name"), "%q is the name of another remote", r.Name)
		}
		seen[r.Name] = true
		if u, err := url.Parse(r.URL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
			bad(at("url"), "%q: want http:// or https://host[:port]", r.URL)
		}
		if r.Password != "" && r.PasswordFile != "" {
			bad(at("password"), "set password or passwordFile, not both")
		}
	}
}

// Network is the registry-wide network rules: CIDR allow-lists of the
// clients that may pull and that may push (or delete). Each namespace may
// have its own besides (see docs/promotion.md).
type Network struct {
	Pull []string `yaml:"pull"`
	Push []string `yaml:"push"`
}

func (c *Config) validateNetwork(bad func(option, format string, args ...any)) {
	for name, cidrs := range map[string][]string{"network.pull": c.Network.Pull, "network.push": c.Network.Push} {
		for _, s := range cidrs {
			if _, err := netip.ParsePrefix(s); err == nil {
				continue
			}
			if _, err := netip.ParseAddr(s); err != nil {
				bad(name, "%q is not a CIDR (10.0.0.0/8) or an address", s)
			}
		}
	}
}
