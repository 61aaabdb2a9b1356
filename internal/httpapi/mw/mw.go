// Package mw holds the HTTP middleware every request passes: panic recovery,
// request ids, one structured log line per request, metrics, and
// authentication, the one place a request's credentials become its caller
// ([Authenticate], [Caller]).
package mw

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/wharf-dev/wharf/internal/metrics"
)

// Options configures [Wrap].
type Options struct {
	Logger  *slog.Logger
	Metrics *metrics.HTTP
	// Route names the route of a request for labels; it must be cheap.
	Route func(r *http.Request) string
	// IsUpload reports whether a request streams upload bytes.
	IsUpload func(r *http.Request, route string) bool
}

// Wrap returns next with recovery, request ids, logging and metrics.
func Wrap(next http.Handler, opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	m := opts.Metrics
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		body := &countingBody{ReadCloser: r.Body}
		r.Body = body
		route := "other"
		if opts.Route != nil {
			route = opts.Route(r)
		}
		upload := opts.IsUpload != nil && opts.IsUpload(r, route)
		if m != nil {
			m.InFlight.Inc()
			if upload {
				m.UploadsInFlight.Inc()
			}
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic serving request", "request_id", id, "method", r.Method, "path", r.URL.Path, "panic", p)
				if !rec.wroteHeader {
					http.Error(rec, `{"errors":[{"code":"UNKNOWN","message":"internal error"}]}`, http.StatusInternalServerError)
				}
			}
			elapsed := time.Since(start)
			if m != nil {
				m.InFlight.Dec()
				if upload {
					m.UploadsInFlight.Dec()
				}
				m.Requests.WithLabelValues(route, r.Method, metrics.Code(rec.status)).Inc()
				m.Duration.WithLabelValues(route, r.Method).Observe(elapsed.Seconds())
				m.BytesIn.Add(float64(body.n))
				m.BytesOut.Add(float64(rec.n))
			}
			log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("request_id", id),
				slog.String("remote", r.RemoteAddr),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", route),
				slog.Int("status", rec.status),
				slog.Int64("bytes_in", body.n),
				slog.Int64("bytes_out", rec.n),
				slog.Duration("duration", elapsed),
			)
		}()
		next.ServeHTTP(rec, r)
	})
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recorder remembers the status and counts the body bytes of a response. It
// forwards ReadFrom so that blob downloads keep using sendfile.
type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	n           int64
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status = code
		r.wroteHeader = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(p)
	r.n += int64(n)
	return n, err
}

func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	r.wroteHeader = true
	var n int64
	var err error
	if rf, ok := r.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(r.ResponseWriter, src)
	}
	r.n += n
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
