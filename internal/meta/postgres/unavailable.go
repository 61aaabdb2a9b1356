package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wharf-dev/wharf/internal/meta"
)

// unavailable wraps err with meta.ErrUnavailable when it says PostgreSQL
// could not be reached or dropped the connection, rather than refused the
// statement. The pool replaces a broken connection by itself, so a later
// call succeeds once the server is back, without restarting wharf.
func unavailable(err error) error {
	if err == nil || errors.Is(err, meta.ErrUnavailable) || !connectionFailed(err) {
		return err
	}
	return fmt.Errorf("%w: %w", meta.ErrUnavailable, err)
}

// connectionFailed reports whether err is a failure to reach or to stay
// connected to the server.
func connectionFailed(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false // the caller gave up; nothing says the server is gone
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// The server answered. Only these say it cannot serve anyone right
		// now; every other code (a constraint, a bad password, a missing
		// database) is about the request or the configuration.
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection_exception
			pgErr.Code == "57P01", // admin_shutdown: stopped or restarting
			pgErr.Code == "57P02", // crash_shutdown: another backend crashed
			pgErr.Code == "57P03", // cannot_connect_now: starting up or in recovery
			pgErr.Code == "53300": // too_many_connections
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || // dial, TLS or startup failed
		errors.As(err, &netErr) ||
		pgconn.SafeToRetry(err) || // the connection was unusable before anything was sent
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || // the server closed the socket
		// No connection could be acquired, or no answer came, within the
		// caller's deadline (wharf sets one on readiness probes).
		errors.Is(err, context.DeadlineExceeded)
}
