// Package slapdtest runs Debian's OpenLDAP server, slapd, with a private
// configuration on loopback for tests: a directory of people and groups
// (groupOfNames, with the memberOf overlay), a service account, and TLS
// with a CA of its own, which tests change while wharf signs users in.
package slapdtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wharf-dev/wharf/internal/testport"
)

// The directory's names.
const (
	BaseDN        = "dc=example,dc=org"
	PeopleDN      = "ou=people," + BaseDN
	GroupsDN      = "ou=groups," + BaseDN
	AdminDN       = "cn=admin," + BaseDN
	AdminPassword = "slapd-admin-secret"
	// ServiceDN is the account wharf searches with.
	ServiceDN       = "cn=wharf,ou=services," + BaseDN
	ServicePassword = "wharf-service-secret"
)

// Server is a running slapd.
type Server struct {
	// URL is ldap://127.0.0.1:PORT (StartTLS offered); TLSURL is
	// ldaps://127.0.0.1:PORT.
	URL, TLSURL string
	// CAFile is the PEM of the CA that signed the server's certificate.
	CAFile string

	dir   string
	ports [2]int
	cmd   *exec.Cmd
	done  chan error
	t     testing.TB
}

// Require fails the test if slapd is not installed, or skips it outside
// CI (which installs it: .ci/run).
func Require(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/slapd", "slapd"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("slapd is not installed; .ci/run installs Debian's slapd")
	}
	t.Skip("slapd is not installed (apt-get install slapd)")
	return ""
}

// Start runs slapd with a fresh directory: the base, ou=people, ou=groups,
// ou=services with the service account. It stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Require(t)
	s := &Server{dir: t.TempDir(), t: t}
	if err := os.MkdirAll(filepath.Join(s.dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.CAFile = s.writeCerts()
	var err error
	for range 20 {
		s.ports = [2]int{Port(t), Port(t)}
		if err = s.start(bin); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	s.seed()
	return s
}

const config = `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {{dir}}/slapd.pid
argsfile {{dir}}/slapd.args
TLSCertificateFile {{dir}}/server.pem
TLSCertificateKeyFile {{dir}}/server.key
TLSCACertificateFile {{dir}}/ca.pem
database mdb
maxsize 16777216
suffix "` + BaseDN + `"
rootdn "` + AdminDN + `"
rootpw ` + AdminPassword + `
directory {{dir}}/db
overlay memberof
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
`

func (s *Server) start(bin string) error {
	conf := filepath.Join(s.dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(strings.ReplaceAll(config, "{{dir}}", s.dir)), 0o600); err != nil {
		return err
	}
	s.URL = "ldap://127.0.0.1:" + strconv.Itoa(s.ports[0])
	s.TLSURL = "ldaps://127.0.0.1:" + strconv.Itoa(s.ports[1])
	var out bytes.Buffer
	s.cmd = exec.Command(bin, "-f", conf, "-h", s.URL+"/ "+s.TLSURL+"/", "-d", "0")
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	s.done = done
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("slapd exited: %v\n%s", err, out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.ports[0]), 100*time.Millisecond); err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = s.cmd.Process.Kill()
	return fmt.Errorf("slapd did not listen within 10s:\n%s", out.String())
}

// Stop stops slapd; the directory stays on disk for Restart.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Restart starts the stopped slapd again on the same ports, with the same
// directory.
func (s *Server) Restart() {
	s.t.Helper()
	bin := Require(s.t)
	if err := s.start(bin); err != nil {
		s.t.Fatal(err)
	}
}

// Conn returns a connection bound as the directory's administrator.
func (s *Server) Conn() *ldap.Conn {
	s.t.Helper()
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := c.Bind(AdminDN, AdminPassword); err != nil {
		s.t.Fatal(err)
	}
	return c
}

func (s *Server) add(c *ldap.Conn, dn string, attrs map[string][]string) {
	s.t.Helper()
	r := ldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		r.Attribute(k, v)
	}
	if err := c.Add(r); err != nil {
		s.t.Fatalf("add %s: %v", dn, err)
	}
}

func (s *Server) seed() {
	c := s.Conn()
	defer c.Close()
	s.add(c, BaseDN, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}})
	for _, ou := range []string{"people", "groups", "services"} {
		s.add(c, "ou="+ou+","+BaseDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {ou}})
	}
	s.add(c, ServiceDN, map[string][]string{"objectClass": {"person"}, "cn": {"wharf"}, "sn": {"wharf"}, "userPassword": {ServicePassword}})
}

// UserDN is the DN of user uid.
func UserDN(uid string) string { return "uid=" + ldap.EscapeDN(uid) + "," + PeopleDN }

// GroupDN is the DN of group cn.
func GroupDN(cn string) string { return "cn=" + ldap.EscapeDN(cn) + "," + GroupsDN }

// AddUser adds a person with a password and an e-mail address.
func (s *Server) AddUser(uid, password string) {
	c := s.Conn()
	defer c.Close()
	s.add(c, UserDN(uid), map[string][]string{
		"objectClass": {"inetOrgPerson"}, "uid": {uid}, "cn": {uid}, "sn": {uid},
		"mail": {uid + "@example.org"}, "userPassword": {password},
	})
}

// DeleteUser removes a person (and the memberOf overlay its memberships).
func (s *Server) DeleteUser(uid string) {
	c := s.Conn()
	defer c.Close()
	if err := c.Del(ldap.NewDelRequest(UserDN(uid), nil)); err != nil {
		s.t.Fatalf("delete %s: %v", uid, err)
	}
}

// SetGroup makes group cn (a groupOfNames) have exactly the members
// given by uid, creating it if need be. A group of none keeps the
// directory's service account as its one member: groupOfNames needs one.
func (s *Server) SetGroup(cn string, uids ...string) {
	c := s.Conn()
	defer c.Close()
	members := []string{ServiceDN}
	for _, u := range uids {
		members = append(members, UserDN(u))
	}
	m := ldap.NewModifyRequest(GroupDN(cn), nil)
	m.Replace("member", members)
	err := c.Modify(m)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		s.add(c, GroupDN(cn), map[string][]string{"objectClass": {"groupOfNames"}, "cn": {cn}, "member": members})
		return
	}
	if err != nil {
		s.t.Fatalf("set group %s: %v", cn, err)
	}
}

// Port returns a free port on loopback (see testport.Port).
func Port(t testing.TB) int { return testport.Port(t) }

// writeCerts writes a CA and a server certificate for 127.0.0.1 and
// localhost signed by it, and returns the CA's file.
func (s *Server) writeCerts() string {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slapdtest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		s.t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		s.t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	for name, block := range map[string]*pem.Block{
		"ca.pem":     {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem": {Type: "CERTIFICATE", Bytes: leafDER},
		"server.key": {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(s.dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			s.t.Fatal(err)
		}
	}
	return filepath.Join(s.dir, "ca.pem")
}
