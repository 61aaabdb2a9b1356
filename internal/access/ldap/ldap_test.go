package ldap_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/access/ldap"
	"github.com/wharf-dev/wharf/internal/access/ldap/slapdtest"
	"github.com/wharf-dev/wharf/internal/meta"
)

func options(s *slapdtest.Server) ldap.Options {
	return ldap.Options{
		URL:                  s.URL,
		BindDN:               slapdtest.ServiceDN,
		BindPassword:         slapdtest.ServicePassword,
		UserBaseDN:           slapdtest.PeopleDN,
		UserFilter:           "(objectClass=inetOrgPerson)",
		UserAttribute:        "uid",
		EmailAttribute:       "mail",
		GroupBaseDN:          slapdtest.GroupsDN,
		GroupFilter:          "(objectClass=groupOfNames)",
		GroupMemberAttribute: "member",
		GroupNameAttribute:   "cn",
		Timeout:              2 * time.Second,
		PoolSize:             2,
	}
}

func newDirectory(t *testing.T, o ldap.Options) *ldap.Directory {
	t.Helper()
	d, err := ldap.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func refusal(t *testing.T, err error) access.AuthFailure {
	t.Helper()
	var r *access.SourceRefusal
	if !errors.As(err, &r) {
		t.Fatalf("want a refusal, got %v", err)
	}
	if !errors.Is(err, access.ErrUnauthenticated) {
		t.Errorf("a refusal that is not ErrUnauthenticated: %v", err)
	}
	return r.Reason
}

func TestAuthenticate(t *testing.T) {
	s := slapdtest.Start(t)
	s.AddUser("alice", "alice-pw")
	s.AddUser("bob", "bob-pw")
	s.SetGroup("devs", "alice", "bob")
	s.SetGroup("ops", "alice")
	ctx := context.Background()

	for name, o := range map[string]func(*ldap.Options){
		"member":   func(*ldap.Options) {},
		"memberOf": func(o *ldap.Options) { o.GroupBaseDN, o.MemberOfAttribute = "", "memberOf" },
	} {
		t.Run(name, func(t *testing.T) {
			opts := options(s)
			o(&opts)
			d := newDirectory(t, opts)
			id, err := d.Authenticate(ctx, "alice", "alice-pw")
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(id.Groups)
			if id.Name != "alice" || id.Email != "alice@example.org" || id.Subject != slapdtest.UserDN("alice") ||
				id.Source != access.SourceLDAP || !slices.Equal(id.Groups, []string{"devs", "ops"}) {
				t.Errorf("alice: %+v", id)
			}
			if _, err := d.Authenticate(ctx, "alice", "wrong"); refusal(t, err) != access.FailWrongPassword {
				t.Errorf("wrong password: %v", err)
			}
			if _, err := d.Authenticate(ctx, "nobody", "alice-pw"); refusal(t, err) != access.FailUnknownUser {
				t.Errorf("unknown user: %v", err)
			}
		})
	}
}

// TestFilterInjection: names that would widen the search filter if they
// were not escaped match no one, whatever the password.
func TestFilterInjection(t *testing.T) {
	s := slapdtest.Start(t)
	s.AddUser("alice", "alice-pw")
	s.AddUser("admin", "alice-pw") // a second entry, so that a widened filter would match two or the wrong one
	d := newDirectory(t, options(s))
	ctx := context.Background()
	for _, name := range []string{
		"*", "*)(uid=*", "alice)(uid=*", "*)(|(uid=*", "alice)(|(objectClass=*)", "ali*", "*lice",
		`\2a`, "alice\x00", "(uid=alice)", "alice)(&", "*)(userPassword=*", "alice\\", "admin*)(uid=alice",
	} {
		id, err := d.Authenticate(ctx, name, "alice-pw")
		if err == nil {
			t.Errorf("name %q signed in as %+v", name, id)
			continue
		}
		if r := refusal(t, err); r != access.FailUnknownUser {
			t.Errorf("name %q: %s (%v), want unknown_user", name, r, err)
		}
	}
	if _, err := d.Authenticate(ctx, "alice", "alice-pw"); err != nil {
		t.Errorf("alice herself: %v", err)
	}
}

// TestEmptyPassword: refused before the directory is asked (here there is
// no directory at all: asking would be an outage, not a refusal).
func TestEmptyPassword(t *testing.T) {
	opts := ldap.Options{URL: "ldap://127.0.0.1:1", BindDN: "cn=x", BindPassword: "y", UserBaseDN: "dc=x", UserAttribute: "uid"}
	d := newDirectory(t, opts)
	if _, err := d.Authenticate(context.Background(), "alice", ""); refusal(t, err) != access.FailWrongPassword {
		t.Errorf("empty password: %v", err)
	}
}

// TestTLS: ldaps:// and StartTLS with the directory's CA; a certificate
// the CA did not sign is an outage that says why.
func TestTLS(t *testing.T) {
	s := slapdtest.Start(t)
	s.AddUser("alice", "alice-pw")
	ctx := context.Background()
	for name, o := range map[string]func(*ldap.Options){
		"ldaps":    func(o *ldap.Options) { o.URL, o.CAFile = s.TLSURL, s.CAFile },
		"StartTLS": func(o *ldap.Options) { o.StartTLS, o.CAFile = true, s.CAFile },
	} {
		t.Run(name, func(t *testing.T) {
			opts := options(s)
			o(&opts)
			if _, err := newDirectory(t, opts).Authenticate(ctx, "alice", "alice-pw"); err != nil {
				t.Errorf("with the CA: %v", err)
			}
			opts.CAFile = ""
			_, err := newDirectory(t, opts).Authenticate(ctx, "alice", "alice-pw")
			var su *access.SourceUnavailableError
			if !errors.As(err, &su) || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("without the CA: %v, want an outage naming the certificate", err)
			}
		})
	}
}

// TestDirectoryDown: a stopped directory is an outage, not a refusal; the
// pool's broken connections are replaced when it comes back.
func TestDirectoryDown(t *testing.T) {
	s := slapdtest.Start(t)
	s.AddUser("alice", "alice-pw")
	d := newDirectory(t, options(s))
	ctx := context.Background()
	if _, err := d.Authenticate(ctx, "alice", "alice-pw"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	for range 3 {
		_, err := d.Authenticate(ctx, "alice", "alice-pw")
		var su *access.SourceUnavailableError
		if !errors.As(err, &su) || errors.Is(err, access.ErrUnauthenticated) {
			t.Fatalf("directory down: %v, want an outage", err)
		}
	}
	s.Restart()
	if _, err := d.Authenticate(ctx, "alice", "alice-pw"); err != nil {
		t.Errorf("after the directory came back: %v", err)
	}
}

// TestSlowDirectory: a directory that accepts connections and never
// answers fails a sign-in within the configured bounds.
func TestSlowDirectory(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(slapdtest.Port(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	opts := ldap.Options{URL: "ldap://" + l.Addr().String(), BindDN: "cn=x", BindPassword: "y", UserBaseDN: "dc=x",
		UserAttribute: "uid", Timeout: 300 * time.Millisecond, PoolSize: 1}
	d := newDirectory(t, opts)
	start := time.Now()
	_, err = d.Authenticate(context.Background(), "alice", "pw")
	var su *access.SourceUnavailableError
	if !errors.As(err, &su) {
		t.Errorf("silent directory: %v, want an outage", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("the sign-in took %s with a timeout of 300ms", el)
	}
}

// TestCheck: the periodic check finds a user by DN with the groups it has
// now, and reports a deleted user gone.
func TestCheck(t *testing.T) {
	s := slapdtest.Start(t)
	s.AddUser("alice", "alice-pw")
	s.SetGroup("devs", "alice")
	d := newDirectory(t, options(s))
	ctx := context.Background()
	id := meta.ExternalIdentity{User: "alice", Source: meta.SourceLDAP, Subject: slapdtest.UserDN("alice")}
	got, err := d.Check(ctx, id)
	if err != nil || !slices.Equal(got.Groups, []string{"devs"}) {
		t.Fatalf("check: %+v, %v", got, err)
	}
	s.SetGroup("devs")
	s.SetGroup("ops", "alice")
	if got, err = d.Check(ctx, id); err != nil || !slices.Equal(got.Groups, []string{"ops"}) {
		t.Errorf("check after the groups changed: %+v, %v", got, err)
	}
	s.DeleteUser("alice")
	if _, err := d.Check(ctx, id); !errors.Is(err, access.ErrIdentityGone) {
		t.Errorf("check of a deleted user: %v, want ErrIdentityGone", err)
	}
	// An entry the user filter no longer matches (a disabled account, in
	// Active Directory's filter) is gone too.
	s.AddUser("bob", "bob-pw")
	opts := options(s)
	opts.UserFilter = "(&(objectClass=inetOrgPerson)(!(uid=bob)))"
	if _, err := newDirectory(t, opts).Check(ctx, meta.ExternalIdentity{User: "bob", Subject: slapdtest.UserDN("bob")}); !errors.Is(err, access.ErrIdentityGone) {
		t.Errorf("check of a user the filter leaves out: %v, want ErrIdentityGone", err)
	}
}

func TestOptions(t *testing.T) {
	base := ldap.Options{URL: "ldap://dc:389", BindDN: "cn=x", BindPassword: "y", UserBaseDN: "dc=x", UserAttribute: "uid"}
	for name, mutate := range map[string]func(*ldap.Options){
		"url":           func(o *ldap.Options) { o.URL = "http://dc" },
		"startTLS":      func(o *ldap.Options) { o.URL, o.StartTLS = "ldaps://dc", true },
		"bindPassword":  func(o *ldap.Options) { o.BindPassword = "" },
		"userBaseDN":    func(o *ldap.Options) { o.UserBaseDN = "" },
		"userFilter":    func(o *ldap.Options) { o.UserFilter = "(objectClass=person" },
		"groupBaseDN":   func(o *ldap.Options) { o.GroupBaseDN = "ou=g" },
		"caFile":        func(o *ldap.Options) { o.CAFile = "/nonexistent/ca.pem" },
		"anonymousBind": func(o *ldap.Options) { o.BindDN = "" },
	} {
		o := base
		mutate(&o)
		if _, err := ldap.New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ldap.New(base); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
}
