package remote

import (
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// Sending a blob's bytes the fastest way. net/http writes a request body
// with a known length by handing the connection an io.LimitedReader over
// the body (after the few bytes that fill the buffer behind the headers).
// The connections of a Client are sendConns, which recognise a blobBody
// there and let it write itself to the socket: a reader with a SendTo
// method (the fs store's blob files: sendfile for what the page cache
// holds, large direct reads written straight to the socket for what it
// does not) sends itself, and an *os.File goes out with sendfile. Without
// this, every byte went through a 32 KiB buffer, read from the page cache
// and written to the socket in two system calls. Over TLS the connection
// under net/http is a *tls.Conn, and bodies are read and encrypted as
// usual.

// Sender is what a blob reader may offer to send itself: SendTo writes n
// bytes from its offset to w and leaves the offset after them.
type Sender interface {
	SendTo(w io.Writer, n int64) (int64, error)
}

// blobBody is the body of an upload request: the next n bytes of r.
type blobBody struct {
	r      io.Reader
	n      int64  // bytes left
	read   *int64 // the upload's count of bytes read from r
	closed chan struct{}
	once   sync.Once
}

func newBlobBody(r io.Reader, n int64, read *int64) *blobBody {
	return &blobBody{r: r, n: n, read: read, closed: make(chan struct{})}
}

func (b *blobBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	m, err := b.r.Read(p)
	b.n -= int64(m)
	*b.read += int64(m)
	if err == io.EOF && b.n > 0 {
		err = io.ErrUnexpectedEOF // shorter than the blob's size said
	}
	return m, err
}

// Close marks the body done with: net/http closes it once it has stopped
// writing it, whether the request succeeded or not.
func (b *blobBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// sendTo writes up to n of the body's bytes to w, the connection itself.
func (b *blobBody) sendTo(w io.Writer, n int64) (int64, error) {
	n = min(n, b.n)
	var m int64
	var err error
	if s, ok := b.r.(Sender); ok {
		m, err = s.SendTo(w, n)
	} else {
		m, err = io.CopyN(w, b.r, n) // an *os.File: sendfile
	}
	b.n -= m
	*b.read += m
	if err == nil && m < n {
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return m, err
}

// sendConn is a connection to the registry that lets a blobBody write
// itself (see above).
type sendConn struct{ net.Conn }

func (c sendConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if b, ok := lr.R.(*blobBody); ok {
			n, err := b.sendTo(c.Conn, lr.N)
			lr.N -= n
			return n, err
		}
	}
	return io.Copy(c.Conn, r)
}

// dialSendConn dials like net/http's default transport, and returns
// sendConns.
func dialSendConn() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return sendConn{conn}, nil
	}
}
