// Package ldap signs users in with an LDAP directory (OpenLDAP, Active
// Directory, FreeIPA, ...): a service account searches for the user with an
// escaped filter, the user's own bind proves the password, and the groups
// come from group entries that list the user (member, or memberUid) or from
// the user's memberOf attribute, nested ones through Active Directory's
// LDAP_MATCHING_RULE_IN_CHAIN if asked. It is an [access.PasswordSource]:
// the access service provisions the user and maps the groups to roles.
//
// An empty password is refused before the directory is asked: an LDAP
// simple bind with a name and no password is an unauthenticated bind,
// which many directories accept as success. Connections are pooled and
// every operation has a deadline, so a slow directory delays sign-ins by
// at most the timeout and never takes the registry with it.
package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/meta"
)

// Options configure a [Directory].
type Options struct {
	// URL is ldap://HOST[:PORT] or ldaps://HOST[:PORT].
	URL string
	// StartTLS upgrades an ldap:// connection to TLS before binding.
	StartTLS bool
	// CAFile is a PEM file of the certificate authorities that sign the
	// directory's certificate; empty trusts the system's.
	CAFile string
	// BindDN and BindPassword are the service account that searches.
	BindDN       string
	BindPassword string
	// UserBaseDN is where users are searched, the whole subtree;
	// UserFilter narrows the search (e.g. "(objectClass=person)", or for
	// Active Directory "(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
	// which leaves disabled accounts out); UserAttribute is the attribute
	// the name signed in with is matched against ("uid", "sAMAccountName").
	UserBaseDN    string
	UserFilter    string
	UserAttribute string
	// NameAttribute holds the wharf user name; UserAttribute if empty.
	NameAttribute string
	// EmailAttribute holds the user's e-mail address ("mail").
	EmailAttribute string
	// GroupBaseDN and GroupFilter find the groups that list the user in
	// GroupMemberAttribute ("member" holds DNs, "memberUid" user names);
	// GroupNameAttribute is the group's name in mappings ("cn"). Empty
	// GroupBaseDN reads MemberOfAttribute instead.
	GroupBaseDN          string
	GroupFilter          string
	GroupMemberAttribute string
	GroupNameAttribute   string
	// MemberOfAttribute ("memberOf") lists the DNs of the user's groups on
	// the user's entry; a group's name is the value of its DN's first RDN.
	MemberOfAttribute string
	// NestedGroups finds groups within groups with Active Directory's
	// LDAP_MATCHING_RULE_IN_CHAIN (member:1.2.840.113556.1.4.1941:=DN).
	NestedGroups bool
	// Timeout bounds each dial and each operation; PoolSize the
	// connections kept open (and sign-ins served at once).
	Timeout  time.Duration
	PoolSize int
	// Mapping turns the groups into wharf's rights.
	Mapping access.Mapping
}

// Directory is an LDAP directory users sign in with.
type Directory struct {
	opts Options
	pool *pool
}

var _ access.PasswordSource = (*Directory)(nil)

// New returns the directory opts describes. It does not connect: a
// directory that is down at start makes sign-ins fail, not the registry.
func New(opts Options) (*Directory, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return nil, fmt.Errorf("url %q is not ldap://HOST[:PORT] or ldaps://HOST[:PORT]", opts.URL)
	}
	if opts.StartTLS && u.Scheme == "ldaps" {
		return nil, errors.New("startTLS is for ldap:// URLs; ldaps:// is TLS already")
	}
	if opts.BindDN == "" || opts.BindPassword == "" {
		return nil, errors.New("bindDN and bindPassword must be set: the directory is searched as a service account, never anonymously")
	}
	if opts.UserBaseDN == "" || opts.UserAttribute == "" {
		return nil, errors.New("userBaseDN and userAttribute must be set")
	}
	for name, f := range map[string]string{"userFilter": opts.UserFilter, "groupFilter": opts.GroupFilter} {
		if f == "" {
			continue
		}
		if _, err := ldap.CompileFilter(f); err != nil {
			return nil, fmt.Errorf("%s %q: %w", name, f, err)
		}
	}
	if opts.NameAttribute == "" {
		opts.NameAttribute = opts.UserAttribute
	}
	if opts.GroupBaseDN != "" && (opts.GroupMemberAttribute == "" || opts.GroupNameAttribute == "") {
		return nil, errors.New("groupMemberAttribute and groupNameAttribute must be set with groupBaseDN")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 4
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		host = u.Host
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("caFile: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("caFile %s holds no PEM certificate", opts.CAFile)
		}
	}
	return &Directory{opts: opts, pool: newPool(opts.URL, opts.StartTLS, tc, opts.Timeout, opts.PoolSize)}, nil
}

// Close closes the idle connections.
func (d *Directory) Close() { d.pool.close() }

// Source is access.SourceLDAP.
func (d *Directory) Source() string { return access.SourceLDAP }

// Mapping is the configured group mapping.
func (d *Directory) Mapping() access.Mapping { return d.opts.Mapping }

// maxName bounds the user names sent to the directory.
const maxName = 256

// Authenticate checks user's password with the directory.
func (d *Directory) Authenticate(ctx context.Context, user, password string) (access.Identity, error) {
	switch {
	case password == "":
		return access.Identity{}, &access.SourceRefusal{Reason: access.FailWrongPassword, Detail: "empty password"}
	case user == "" || len(user) > maxName || strings.ContainsRune(user, 0):
		return access.Identity{}, &access.SourceRefusal{Reason: access.FailUnknownUser, Detail: "not a directory user name"}
	}
	var id access.Identity
	err := d.with(ctx, func(c *ldap.Conn) error {
		e, err := d.findUser(c, ldap.ScopeWholeSubtree, d.opts.UserBaseDN,
			"("+ldap.EscapeFilter(d.opts.UserAttribute)+"="+ldap.EscapeFilter(user)+")")
		if err != nil {
			return err
		}
		if e == nil {
			// The same round trip a wrong password costs, so the time of
			// the answer does not tell which names the directory has.
			_ = c.Bind("cn=wharf-no-such-user,"+d.opts.UserBaseDN, password)
			return &access.SourceRefusal{Reason: access.FailUnknownUser, Detail: "no such user in the directory"}
		}
		if err := c.Bind(e.DN, password); err != nil {
			if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				return &access.SourceRefusal{Reason: access.FailWrongPassword, Detail: "the directory refused the password of " + e.DN}
			}
			return fmt.Errorf("bind as %s: %w", e.DN, err)
		}
		// The groups are read as the service account: users may not be
		// allowed to read them.
		if err := c.Bind(d.opts.BindDN, d.opts.BindPassword); err != nil {
			return fmt.Errorf("bind as the service account %s: %w", d.opts.BindDN, err)
		}
		id, err = d.identity(c, e)
		return err
	})
	return id, err
}

// Check finds the user of id again, by its DN, with the service account:
// access.ErrIdentityGone if the entry is gone or no longer matches
// UserFilter (a disabled Active Directory account, with the filter above).
func (d *Directory) Check(ctx context.Context, id meta.ExternalIdentity) (access.Identity, error) {
	var out access.Identity
	err := d.with(ctx, func(c *ldap.Conn) error {
		e, err := d.findUser(c, ldap.ScopeBaseObject, id.Subject, "")
		if err != nil {
			return err
		}
		if e == nil {
			return fmt.Errorf("%s: %w", id.Subject, access.ErrIdentityGone)
		}
		out, err = d.identity(c, e)
		return err
	})
	return out, err
}

// with lends fn a connection bound as the service account, and classifies
// what went wrong: a refusal passes through, an outage becomes a
// *access.SourceUnavailableError.
func (d *Directory) with(ctx context.Context, fn func(*ldap.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, 3*d.opts.Timeout)
	defer cancel()
	c, err := d.pool.get(ctx)
	if err != nil {
		return unavailable(err)
	}
	// A request that gives up closes the connection, which ends the
	// operation in flight at once.
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	err = c.Bind(d.opts.BindDN, d.opts.BindPassword)
	if err != nil {
		err = fmt.Errorf("bind as the service account %s: %w", d.opts.BindDN, err)
	} else {
		err = fn(c)
	}
	stopped := stop()
	var refusal *access.SourceRefusal
	broken := !stopped || (err != nil && !errors.As(err, &refusal) && !errors.Is(err, access.ErrIdentityGone))
	d.pool.put(c, broken)
	switch {
	case err == nil, errors.As(err, &refusal), errors.Is(err, access.ErrIdentityGone):
		return err
	case !stopped:
		return unavailable(fmt.Errorf("no answer within %s: %w", 3*d.opts.Timeout, ctx.Err()))
	}
	return unavailable(err)
}

func unavailable(err error) error {
	return &access.SourceUnavailableError{Source: "LDAP directory", Err: err}
}

// findUser searches for one user entry: nil if none, an error if several.
func (d *Directory) findUser(c *ldap.Conn, scope int, base, match string) (*ldap.Entry, error) {
	filter := match
	if d.opts.UserFilter != "" {
		filter = "(&" + d.opts.UserFilter + match + ")"
	}
	if filter == "" {
		filter = "(objectClass=*)"
	}
	attrs := []string{d.opts.NameAttribute}
	if d.opts.EmailAttribute != "" {
		attrs = append(attrs, d.opts.EmailAttribute)
	}
	if d.opts.GroupBaseDN == "" && d.opts.MemberOfAttribute != "" {
		attrs = append(attrs, d.opts.MemberOfAttribute)
	}
	res, err := c.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 2, int(d.opts.Timeout/time.Second), false, filter, attrs, nil))
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return nil, nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
		return nil, &access.SourceRefusal{Reason: access.FailUnknownUser, Detail: "the name matches several directory entries"}
	case err != nil:
		return nil, fmt.Errorf("search for the user: %w", err)
	case len(res.Entries) > 1:
		return nil, &access.SourceRefusal{Reason: access.FailUnknownUser, Detail: "the name matches several directory entries"}
	case len(res.Entries) == 0:
		return nil, nil
	}
	return res.Entries[0], nil
}

// identity reads the identity of user entry e, its groups included.
func (d *Directory) identity(c *ldap.Conn, e *ldap.Entry) (access.Identity, error) {
	id := access.Identity{Source: access.SourceLDAP, Subject: e.DN, Name: e.GetAttributeValue(d.opts.NameAttribute)}
	if d.opts.EmailAttribute != "" {
		id.Email = e.GetAttributeValue(d.opts.EmailAttribute)
	}
	if id.Name == "" {
		return id, &access.SourceRefusal{Reason: access.FailUnknownUser, Detail: e.DN + " has no " + d.opts.NameAttribute}
	}
	if d.opts.GroupBaseDN == "" {
		if d.opts.MemberOfAttribute != "" {
			for _, dn := range e.GetAttributeValues(d.opts.MemberOfAttribute) {
				if name := firstRDNValue(dn); name != "" {
					id.Groups = append(id.Groups, name)
				}
			}
		}
		return id, nil
	}
	var match string
	switch {
	case d.opts.NestedGroups:
		match = "(" + ldap.EscapeFilter(d.opts.GroupMemberAttribute) + ":1.2.840.113556.1.4.1941:=" + ldap.EscapeFilter(e.DN) + ")"
	case strings.EqualFold(d.opts.GroupMemberAttribute, "memberUid"):
		match = "(memberUid=" + ldap.EscapeFilter(id.Name) + ")"
	default:
		match = "(" + ldap.EscapeFilter(d.opts.GroupMemberAttribute) + "=" + ldap.EscapeFilter(e.DN) + ")"
	}
	filter := match
	if d.opts.GroupFilter != "" {
		filter = "(&" + d.opts.GroupFilter + match + ")"
	}
	res, err := c.Search(ldap.NewSearchRequest(d.opts.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0,
		int(d.opts.Timeout/time.Second), false, filter, []string{d.opts.GroupNameAttribute}, nil))
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return id, fmt.Errorf("search for the groups of %s: %w", e.DN, err)
	}
	if res != nil {
		for _, g := range res.Entries {
			if name := g.GetAttributeValue(d.opts.GroupNameAttribute); name != "" {
				id.Groups = append(id.Groups, name)
			}
		}
	}
	return id, nil
}

// firstRDNValue is the value of a DN's first RDN: "devs" of
// "cn=devs,ou=groups,dc=example,dc=org".
func firstRDNValue(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil || len(p.RDNs) == 0 || len(p.RDNs[0].Attributes) == 0 {
		return ""
	}
	return p.RDNs[0].Attributes[0].Value
}
