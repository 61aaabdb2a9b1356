package server

import (
	"fmt"
	"net/http"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/access/ldap"
	"github.com/wharf-dev/wharf/internal/access/oidc"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/httpapi/signin"
)

// identity is company sign-in as configured: the directory, the provider
// and the workload rules, each nil when off.
type identity struct {
	ldap     *ldap.Directory
	oidc     *oidc.Provider
	workload *oidc.Workloads
}

// openIdentity builds the identity sources cfg names. It contacts none of
// them: a directory or provider that is down at start fails sign-ins, not
// the registry.
func openIdentity(cfg config.Auth) (identity, access.IdentityOptions, error) {
	var id identity
	opts := access.IdentityOptions{
		LocalPasswordsOff:  !cfg.Local.Passwords,
		BreakGlass:         cfg.Local.BreakGlass,
		DirectoryCacheTTL:  cfg.LDAP.CacheTTL,
		SessionIdleTimeout: cfg.Session.IdleTimeout,
		SessionMaxAge:      cfg.Session.MaxAge,
	}
	var err error
	if l := cfg.LDAP; l.URL != "" {
		id.ldap, err = ldap.New(ldap.Options{
			URL: l.URL, StartTLS: l.StartTLS, CAFile: l.CAFile, BindDN: l.BindDN, BindPassword: l.BindPassword,
			UserBaseDN: l.UserBaseDN, UserFilter: l.UserFilter, UserAttribute: l.UserAttribute, NameAttribute: l.NameAttribute,
			EmailAttribute: l.EmailAttribute, GroupBaseDN: l.GroupBaseDN, GroupFilter: l.GroupFilter,
			GroupMemberAttribute: l.GroupMemberAttribute, GroupNameAttribute: l.GroupNameAttribute,
			MemberOfAttribute: l.MemberOfAttribute, NestedGroups: l.NestedGroups, Timeout: l.Timeout, PoolSize: l.PoolSize,
			Mapping: mapping(l.AdminGroups, l.GroupRoles, true),
		})
		if err != nil {
			return id, opts, fmt.Errorf("auth.ldap: %w", err)
		}
		opts.LDAP = id.ldap
	}
	if o := cfg.OIDC; o.Issuer != "" {
		id.oidc, err = oidc.New(oidc.Options{
			Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
			Scopes: o.Scopes, OfflineAccess: o.OfflineAccess, CAFile: o.CAFile,
			UserNameClaim: o.UserNameClaim, EmailClaim: o.EmailClaim, GroupsClaim: o.GroupsClaim, MaxAge: o.MaxAge,
			Mapping: mapping(o.AdminGroups, o.GroupRoles, false),
		})
		if err != nil {
			return id, opts, fmt.Errorf("auth.oidc: %w", err)
		}
		opts.OIDC = id.oidc
	}
	if len(cfg.Workload.Rules) > 0 {
		rules := make([]oidc.Rule, len(cfg.Workload.Rules))
		for i, r := range cfg.Workload.Rules {
			rules[i] = oidc.Rule{Name: r.Name, Namespace: r.Namespace, Issuer: r.Issuer, JWKSURL: r.JWKSURL, Audience: r.Audience,
				Subject: r.Subject, Claims: r.Claims, Scopes: r.Scopes}
		}
		id.workload, err = oidc.NewWorkloads(oidc.WorkloadOptions{Rules: rules, CAFile: cfg.Workload.CAFile})
		if err != nil {
			return id, opts, fmt.Errorf("auth.workload.%w", err)
		}
		opts.Workload = id.workload
	}
	return id, opts, nil
}

// mapping is the access mapping of a source's configured groups.
func mapping(admins []string, roles []config.GroupRole, foldCase bool) access.Mapping {
	m := access.Mapping{AdminGroups: admins, FoldCase: foldCase}
	for _, r := range roles {
		m.Roles = append(m.Roles, access.GroupRole{Group: r.Group, Namespace: r.Namespace, Role: auth.Role(r.Role)})
	}
	return m
}

// close releases what the sources hold.
func (id identity) close() {
	if id.ldap != nil {
		id.ldap.Close()
	}
}

// signinHandler serves /auth: the browser's and the CLI's sign-in.
func (s *Server) signinHandler() http.Handler {
	proxies, _ := s.cfg.HTTP.ProxyPrefixes() // validated
	h := signin.New(signin.Options{
		Access: s.access, OIDC: s.identity.oidc, DeviceFlow: s.cfg.Auth.OIDC.DeviceFlow, Logger: s.log,
		SecureCookie: s.cfg.Auth.Session.SecureCookie, TrustedProxies: proxies, SessionMaxAge: s.cfg.Auth.Session.MaxAge,
	})
	return mw.Wrap(s.authenticate(h, true), mw.Options{
		Logger:  s.log,
		Metrics: s.metrics.HTTP,
		Route:   func(*http.Request) string { return "auth" },
	})
}
