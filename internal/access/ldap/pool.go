package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// pool keeps up to size connections to the directory and lends each to
// one sign-in at a time; a sign-in that finds every connection lent waits
// for one, as long as its context allows. A connection that failed is
// closed, not returned, so the next sign-in dials a fresh one.
type pool struct {
	url      string
	startTLS bool
	tls      *tls.Config
	timeout  time.Duration

	slots chan struct{} // one token per connection that may exist
	mu    sync.Mutex
	idle  []*ldap.Conn
}

func newPool(url string, startTLS bool, tc *tls.Config, timeout time.Duration, size int) *pool {
	p := &pool{url: url, startTLS: startTLS, tls: tc, timeout: timeout, slots: make(chan struct{}, size)}
	for range size {
		p.slots <- struct{}{}
	}
	return p
}

// errPoolWait: every connection was lent for as long as the caller could
// wait.
var errPoolWait = errors.New("every connection to the directory is busy")

// get lends a connection, dialing one if none is idle.
func (p *pool) get(ctx context.Context) (*ldap.Conn, error) {
	select {
	case <-p.slots:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", errPoolWait, ctx.Err())
	}
	p.mu.Lock()
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !c.IsClosing() {
			p.mu.Unlock()
			return c, nil
		}
	}
	p.mu.Unlock()
	c, err := p.dial(ctx)
	if err != nil {
		p.slots <- struct{}{}
		return nil, err
	}
	return c, nil
}

// put returns c to the pool; broken closes it instead.
func (p *pool) put(c *ldap.Conn, broken bool) {
	if broken || c.IsClosing() {
		_ = c.Close()
	} else {
		p.mu.Lock()
		p.idle = append(p.idle, c)
		p.mu.Unlock()
	}
	p.slots <- struct{}{}
}

func (p *pool) dial(ctx context.Context) (*ldap.Conn, error) {
	d := &net.Dialer{Timeout: p.timeout}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < p.timeout {
		d.Deadline = dl
	}
	c, err := ldap.DialURL(p.url, ldap.DialWithDialer(d), ldap.DialWithTLSConfig(p.tls))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(p.timeout)
	if p.startTLS {
		if err := c.StartTLS(p.tls); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	return c, nil
}

// close closes the idle connections.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		_ = c.Close()
	}
	p.idle = nil
}
