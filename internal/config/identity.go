package config

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

// Company sign-in (docs/identity.md): LDAP, OIDC, workload identity, the
// local accounts and web sessions, under auth.

// AuthLocal is the local accounts: users wharf keeps passwords for.
type AuthLocal struct {
	// Passwords lets local accounts sign in with their passwords; off,
	// only the BreakGlass accounts may.
	Passwords bool `yaml:"passwords"`
	// BreakGlass are the local accounts whose passwords work even with
	// Passwords off.
	BreakGlass []string `yaml:"breakGlass"`
}

// GroupRole maps a group of a directory or provider to a role in a
// namespace.
type GroupRole struct {
	Group     string `yaml:"group"`
	Namespace string `yaml:"namespace"`
	Role      string `yaml:"role"`
}

// AuthLDAP is the LDAP directory or Active Directory users sign in with;
// off while URL is empty.
type AuthLDAP struct {
	URL                  string        `yaml:"url"`
	StartTLS             bool          `yaml:"startTLS"`
	CAFile               string        `yaml:"caFile"`
	BindDN               string        `yaml:"bindDN"`
	BindPassword         string        `yaml:"bindPassword"`
	UserBaseDN           string        `yaml:"userBaseDN"`
	UserFilter           string        `yaml:"userFilter"`
	UserAttribute        string        `yaml:"userAttribute"`
	NameAttribute        string        `yaml:"nameAttribute"`
	EmailAttribute       string        `yaml:"emailAttribute"`
	GroupBaseDN          string        `yaml:"groupBaseDN"`
	GroupFilter          string        `yaml:"groupFilter"`
	GroupMemberAttribute string        `yaml:"groupMemberAttribute"`
	GroupNameAttribute   string        `yaml:"groupNameAttribute"`
	MemberOfAttribute    string        `yaml:"memberOfAttribute"`
	NestedGroups         bool          `yaml:"nestedGroups"`
	Timeout              time.Duration `yaml:"timeout"`
	PoolSize             int           `yaml:"poolSize"`
	CacheTTL             time.Duration `yaml:"cacheTTL"`
	AdminGroups          []string      `yaml:"adminGroups"`
	GroupRoles           []GroupRole   `yaml:"groupRoles"`
}

// AuthOIDC is the OpenID Connect provider users sign in with in a browser
// (and `wharf login`); off while Issuer is empty.
type AuthOIDC struct {
	Issuer       string   `yaml:"issuer"`
	ClientID     string   `yaml:"clientID"`
	ClientSecret string   `yaml:"clientSecret"`
	RedirectURL  string   `yaml:"redirectURL"`
	Scopes       []string `yaml:"scopes"`
	// OfflineAccess asks for a refresh token, with which the identity
	// check asks the provider about each user.
	OfflineAccess bool   `yaml:"offlineAccess"`
	CAFile        string `yaml:"caFile"`
	UserNameClaim string `yaml:"userNameClaim"`
	EmailClaim    string `yaml:"emailClaim"`
	GroupsClaim   string `yaml:"groupsClaim"`
	// MaxAge suspends users the provider has not vouched for (a sign-in,
	// or a refresh by the identity check) for this long; 0 never does.
	MaxAge      time.Duration `yaml:"maxAge"`
	DeviceFlow  bool          `yaml:"deviceFlow"`
	AdminGroups []string      `yaml:"adminGroups"`
	GroupRoles  []GroupRole   `yaml:"groupRoles"`
}

// WorkloadRule lets CI jobs whose OIDC tokens match it act as a workload
// of a namespace.
type WorkloadRule struct {
	Name      string `yaml:"name"`
	Issuer    string `yaml:"issuer"`
	Audience  string `yaml:"audience"`
	Subject   string `yaml:"subject"`
	JWKSURL   string `yaml:"jwksURL"`
	Namespace string `yaml:"namespace"`
	// Claims must all match: claim name to a pattern (* matches any run of
	// characters but /; ** any run).
	Claims map[string]string `yaml:"claims"`
	Scopes []string          `yaml:"scopes"`
}

// AuthWorkload is workload identity: rules for CI jobs' OIDC tokens.
type AuthWorkload struct {
	Rules []WorkloadRule `yaml:"rules"`
	// CAFile is a PEM file of the CAs of issuers with private
	// certificates; empty trusts the system's.
	CAFile string `yaml:"caFile"`
}

// AuthSession is the web UI's sessions.
type AuthSession struct {
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	MaxAge      time.Duration `yaml:"maxAge"`
	// SecureCookie: "auto" (Secure when the request came over HTTPS,
	// directly or through a trusted proxy), "true" or "false".
	SecureCookie string `yaml:"secureCookie"`
}

func defaultIdentity(a *Auth) {
	a.Local = AuthLocal{Passwords: true, BreakGlass: []string{"admin"}}
	a.LDAP = AuthLDAP{UserAttribute: "uid", EmailAttribute: "mail", GroupMemberAttribute: "member", GroupNameAttribute: "cn",
		Timeout: 5 * time.Second, PoolSize: 4, CacheTTL: time.Minute}
	a.OIDC = AuthOIDC{Scopes: []string{"openid", "profile", "email"}, UserNameClaim: "preferred_username", EmailClaim: "email", GroupsClaim: "groups"}
	a.Session = AuthSession{IdleTimeout: 30 * time.Minute, MaxAge: 12 * time.Hour, SecureCookie: "auto"}
	a.IdentityCheckInterval = 15 * time.Minute
}

// roles lists the role names, as auth defines them.
var roles = []string{"admin", "maintainer", "developer", "ci", "readonly"}

func (c *Config) validateIdentity(bad func(option, format string, args ...any)) {
	a := c.Auth
	for _, u := range a.Local.BreakGlass {
		if u == "" {
			bad("auth.local.breakGlass", "must not hold an empty name")
		}
	}
	if !a.Local.Passwords && len(a.Local.BreakGlass) == 0 && a.Enabled {
		bad("auth.local.breakGlass", "must name at least one account when auth.local.passwords is off: the way in when the directory or provider is down")
	}
	if a.IdentityCheckInterval < 0 || (a.IdentityCheckInterval > 0 && a.IdentityCheckInterval < time.Minute) {
		bad("auth.identityCheckInterval", "must be 0 (off) or at least 1m, got %s", a.IdentityCheckInterval)
	}
	validateLDAP(a.LDAP, bad)
	validateOIDC(a.OIDC, bad)
	validateWorkload(a.Workload, bad)
	s := a.Session
	if s.IdleTimeout < time.Minute {
		bad("auth.session.idleTimeout", "must be at least 1m, got %s", s.IdleTimeout)
	}
	if s.MaxAge < s.IdleTimeout {
		bad("auth.session.maxAge", "must not be shorter than auth.session.idleTimeout (%s), got %s", s.IdleTimeout, s.MaxAge)
	}
	switch s.SecureCookie {
	case "auto", "true", "false":
	default:
		bad("auth.session.secureCookie", "must be auto, true or false, got %q", s.SecureCookie)
	}
}

func validateGroupRoles(option string, grs []GroupRole, bad func(option, format string, args ...any)) {
	for i, gr := range grs {
		at := fmt.Sprintf("%s[%d]", option, i)
		if gr.Group == "" || gr.Namespace == "" {
			bad(at, "needs group and namespace")
		}
		if !slices.Contains(roles, gr.Role) {
			bad(at+".role", "must be admin, maintainer, developer, ci or readonly, got %q", gr.Role)
		}
	}
}

func validateLDAP(l AuthLDAP, bad func(option, format string, args ...any)) {
	if l.URL == "" {
		return
	}
	u, err := url.Parse(l.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		bad("auth.ldap.url", "must be ldap://HOST[:PORT] or ldaps://HOST[:PORT], got %q", l.URL)
	} else if l.StartTLS && u.Scheme == "ldaps" {
		bad("auth.ldap.startTLS", "is for ldap:// URLs; %s is TLS already", l.URL)
	}
	if l.BindDN == "" || l.BindPassword == "" {
		bad("auth.ldap.bindDN", "auth.ldap.bindDN and auth.ldap.bindPassword must be set: wharf searches as a service account, never anonymously")
	}
	if l.UserBaseDN == "" {
		bad("auth.ldap.userBaseDN", "must be set with auth.ldap.url")
	}
	if l.UserAttribute == "" {
		bad("auth.ldap.userAttribute", "must be set with auth.ldap.url (uid, or sAMAccountName for Active Directory)")
	}
	if l.UserFilter != "" && !balanced(l.UserFilter) {
		bad("auth.ldap.userFilter", "is not an LDAP filter in parentheses: %q", l.UserFilter)
	}
	if l.GroupFilter != "" && !balanced(l.GroupFilter) {
		bad("auth.ldap.groupFilter", "is not an LDAP filter in parentheses: %q", l.GroupFilter)
	}
	if l.GroupBaseDN != "" && (l.GroupMemberAttribute == "" || l.GroupNameAttribute == "") {
		bad("auth.ldap.groupMemberAttribute", "auth.ldap.groupMemberAttribute and auth.ldap.groupNameAttribute must be set with auth.ldap.groupBaseDN")
	}
	if l.Timeout < 100*time.Millisecond || l.Timeout > time.Minute {
		bad("auth.ldap.timeout", "must be between 100ms and 1m, got %s", l.Timeout)
	}
	if l.PoolSize < 1 || l.PoolSize > 256 {
		bad("auth.ldap.poolSize", "must be between 1 and 256, got %d", l.PoolSize)
	}
	if l.CacheTTL < 0 || l.CacheTTL > time.Hour {
		bad("auth.ldap.cacheTTL", "must be between 0 (ask every time) and 1h, got %s", l.CacheTTL)
	}
	validateGroupRoles("auth.ldap.groupRoles", l.GroupRoles, bad)
}

// balanced reports whether f is parenthesized with matching parentheses.
func balanced(f string) bool {
	if !strings.HasPrefix(f, "(") || !strings.HasSuffix(f, ")") {
		return false
	}
	depth := 0
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

func validateOIDC(o AuthOIDC, bad func(option, format string, args ...any)) {
	if o.Issuer == "" {
		return
	}
	if u, err := url.Parse(o.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("auth.oidc.issuer", "must be the provider's https:// URL, got %q", o.Issuer)
	}
	if o.ClientID == "" {
		bad("auth.oidc.clientID", "must be set with auth.oidc.issuer")
	}
	if u, err := url.Parse(o.RedirectURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || path.Base(u.Path) != "callback" {
		bad("auth.oidc.redirectURL", "must be wharf's external URL followed by /auth/oidc/callback, e.g. https://registry.example.com/auth/oidc/callback; got %q", o.RedirectURL)
	}
	if !slices.Contains(o.Scopes, "openid") {
		bad("auth.oidc.scopes", "must include openid, got %v", o.Scopes)
	}
	if o.UserNameClaim == "" {
		bad("auth.oidc.userNameClaim", "must be set (preferred_username, email, upn, ...)")
	}
	if o.MaxAge < 0 || (o.MaxAge > 0 && o.MaxAge < 5*time.Minute) {
		bad("auth.oidc.maxAge", "must be 0 (never) or at least 5m, got %s", o.MaxAge)
	}
	validateGroupRoles("auth.oidc.groupRoles", o.GroupRoles, bad)
}

func validateWorkload(w AuthWorkload, bad func(option, format string, args ...any)) {
	names := map[string]bool{}
	for i, r := range w.Rules {
		at := fmt.Sprintf("auth.workload.rules[%d]", i)
		if !ruleNameRE(r.Name) {
			bad(at+".name", "must be 1 to 64 lower-case letters, digits, '.', '_' or '-', got %q", r.Name)
		}
		key := r.Namespace + "+" + r.Name
		if names[key] {
			bad(at+".name", "%q is the name of another rule of namespace %s", r.Name, r.Namespace)
		}
		names[key] = true
		if u, err := url.Parse(r.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad(at+".issuer", "must be the issuer's URL, e.g. https://token.actions.githubusercontent.com, got %q", r.Issuer)
		}
		if r.Audience == "" {
			bad(at+".audience", "must be set: the audience the CI job asks its token for, so that a token meant for another service is refused")
		}
		if r.Namespace == "" {
			bad(at+".namespace", "must be set: the namespace the workload acts in")
		}
		if r.Subject == "" && len(r.Claims) == 0 {
			bad(at+".subject", "a rule needs subject or claims: without them every token of the issuer would match")
		}
		if len(r.Scopes) == 0 {
			bad(at+".scopes", "must list at least one scope, such as %s/app:pull,push", r.Namespace)
		}
		if r.JWKSURL != "" {
			if u, err := url.Parse(r.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
				bad(at+".jwksURL", "must be an http(s) URL, got %q", r.JWKSURL)
			}
		}
	}
}

func ruleNameRE(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '.' || c == '_' || c == '-'))
		if !ok {
			return false
		}
	}
	return true
}
