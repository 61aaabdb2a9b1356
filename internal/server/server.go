// Package server is wharf's composition root: it builds the concrete backends
// a [config.Config] names, wires them into the registry service and the HTTP
// handlers, serves, and shuts down gracefully. It is the only package that
// imports both config and concrete backends.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/azure"
	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/content/gcs"
	"github.com/wharf-dev/wharf/internal/content/s3"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/gc"
	"github.com/wharf-dev/wharf/internal/httpapi/distv2"
	"github.com/wharf-dev/wharf/internal/httpapi/hub"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/httpapi/signin"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
	"github.com/wharf-dev/wharf/internal/metrics"
	"github.com/wharf-dev/wharf/internal/promotion"
	"github.com/wharf-dev/wharf/internal/proxy"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/replication"
	"github.com/wharf-dev/wharf/internal/scanner"
)

// Server is a wired registry, ready to serve.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	content  content.Store
	meta     meta.Store
	registry *registry.Registry
	metrics  *metrics.Metrics
	storage  *metrics.Storage
	access   *access.Service // nil unless auth.enabled
	identity identity        // company sign-in's sources, with auth.enabled
	// local is the access service of a registry without access control:
	// the management API's local administrator, no accounts.
	local   *access.Service
	handler http.Handler
	gc      *gc.Collector
	// replication runs replication rules; nil when the store keeps none.
	replication *replication.Service
	now         func() time.Time // the clock of the usage figures; nil is time.Now
	events      eventServices
	bg          background
	// scanner is nil unless scanning.enabled.
	scanner     *scanner.Service
	scanMetrics *metrics.Scans
	// promotion promotes images between namespaces and to remotes.
	promotion *promotion.Service
	// network holds the network rules (CIDR allow-lists); nil without
	// access control.
	network *access.Network
	// proxy is the pull-through cache of proxy namespaces.
	proxy   *proxy.Cache
	oneShot bool // a command beside the servers (NewCommand): no webhook delivery
}

// New builds the backends and handlers cfg describes. cfg must be resolved
// and valid.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	return newServer(ctx, cfg, log, nil)
}

// newServer is New with the clock of the usage figures (nil: time.Now),
// which tests set.
func newServer(ctx context.Context, cfg config.Config, log *slog.Logger, now func() time.Time) (*Server, error) {
	systemKeySet, systemPolicy, err := systemTrust(cfg.Trust)
	if err != nil {
		return nil, err
	}
	cs, err := openContent(ctx, cfg.Storage)
	if err != nil {
		return nil, err
	}
	ms, err := openMeta(ctx, cfg.Database, log)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, content: cs, meta: ms, now: now, metrics: metrics.New(metrics.Options{NamespaceLabels: cfg.Metrics.NamespaceLabels}),
		oneShot: oneShot(ctx)}
	s.storage = s.metrics.NewStorage(cfg.Metrics.NamespaceLabels)
	s.events.recorder = events.NewRecorder(ms, log)
	s.registry = registry.New(registry.Options{
		Content:             cs,
		Meta:                ms,
		Logger:              log,
		CacheEntries:        cacheEntries(cfg.Cache.ManifestEntries),
		Hooks:               policyHooks(lifecycleHooks(s.metrics.NewLifecycle(), s.manifestPushed), s.metrics.NewPolicy(), s.record),
		Now:                 now,
		Verify:              verifyOptions(cfg),
		SystemKeySet:        systemKeySet,
		SystemPolicy:        systemPolicy,
		PullFlushInterval:   cfg.Events.PullWindow,
		QuotaWarningPercent: cfg.Events.QuotaWarningPercent,
		Record:              s.record,
	})
	if cfg.Scanning.Enabled {
		s.scanMetrics = s.metrics.NewScans()
	}
	if s.scanner, err = newScanner(cfg.Scanning, s.registry, cs, ms, s.scanMetrics, log); err != nil {
		_ = ms.Close()
		return nil, err
	}
	if s.scanner != nil {
		s.registry.SetScans(s.scanner) // the image policy's scan rules read it
	}
	if s.gc, err = s.newCollector(); err != nil {
		_ = ms.Close()
		return nil, err
	}
	if err := s.openProxy(ctx); err != nil {
		s.events.recorder.Close()
		_ = ms.Close()
		return nil, err
	}
	if s.access, s.identity, err = openAccess(ctx, cfg, ms, log, authHooks(s.metrics.NewAuth(authFailureReasons())), s.record); err != nil {
		s.events.recorder.Close()
		_ = ms.Close()
		return nil, err
	}
	if err := s.openWebhooks(); err != nil {
		s.events.recorder.Close()
		s.identity.close()
		_ = ms.Close()
		return nil, err
	}
	if ma, ok := ms.(meta.Access); ok && s.access == nil {
		s.local, _ = access.NewLocal(access.Options{Access: ma, Logger: log, Record: s.record}) // fails only without a store
	}
	if s.replication, err = s.newReplication(); err != nil {
		_ = ms.Close()
		return nil, err
	}
	if s.promotion, err = s.newPromotion(); err != nil {
		_ = ms.Close()
		return nil, err
	}
	s.handler = s.routes()
	s.startBackground()
	return s, nil
}

func cacheEntries(n int) int {
	if n == 0 {
		return -1 // 0 in the config turns the cache off
	}
	return n
}

func openContent(ctx context.Context, c config.Storage) (content.Store, error) {
	switch c.Driver {
	case "fs":
		st, err := fs.New(c.FS.Root)
		if err != nil {
			return nil, fmt.Errorf("storage.fs: %w", err)
		}
		return st, nil
	case "s3":
		st, err := s3.New(ctx, s3.Options{
			Endpoint:        c.S3.Endpoint,
			Region:          c.S3.Region,
			Bucket:          c.S3.Bucket,
			Prefix:          c.S3.Prefix,
			AccessKeyID:     c.S3.AccessKeyID,
			SecretAccessKey: c.S3.SecretAccessKey,
			PathStyle:       c.S3.PathStyle,
			Redirect:        c.S3.Redirect,
			PresignExpiry:   c.S3.PresignExpiry,
		})
		if err != nil {
			return nil, fmt.Errorf("storage.s3: %w", err)
		}
		return st, nil
	case "gcs":
		st, err := gcs.New(ctx, gcs.Options{
			Bucket:          c.GCS.Bucket,
			Prefix:          c.GCS.Prefix,
			Endpoint:        c.GCS.Endpoint,
			CredentialsFile: c.GCS.CredentialsFile,
			Anonymous:       c.GCS.Anonymous,
			Redirect:        c.GCS.Redirect,
			PresignExpiry:   c.GCS.PresignExpiry,
		})
		if err != nil {
			return nil, fmt.Errorf("storage.gcs: %w", err)
		}
		return st, nil
	case "azure":
		st, err := azure.New(ctx, azure.Options{
			AccountName:      c.Azure.AccountName,
			Container:        c.Azure.Container,
			Prefix:           c.Azure.Prefix,
			Endpoint:         c.Azure.Endpoint,
			AccountKey:       c.Azure.AccountKey,
			ConnectionString: c.Azure.ConnectionString,
			SASToken:         c.Azure.SASToken,
			Redirect:         c.Azure.Redirect,
			PresignExpiry:    c.Azure.PresignExpiry,
		})
		if err != nil {
			return nil, fmt.Errorf("storage.azure: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("storage.driver: unknown driver %q", c.Driver)
}

func openMeta(ctx context.Context, c config.Database, log *slog.Logger) (meta.Store, error) {
	switch c.Driver {
	case "sqlite":
		st, err := sqlite.Open(ctx, sqlite.Options{Path: c.SQLite.Path, Synchronous: c.SQLite.Synchronous})
		if err != nil {
			return nil, fmt.Errorf("database.sqlite: %w", err)
		}
		return st, nil
	case "postgres":
		st, err := postgres.Open(ctx, postgres.Options{URL: c.Postgres.URL, MaxConns: int32(c.Postgres.MaxConns), Logger: log})
		if err != nil {
			return nil, fmt.Errorf("database.postgres: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("database.driver: unknown driver %q", c.Driver)
}

// Handler returns the root HTTP handler, for tests that serve it themselves.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	v2h := distv2.New(distv2.Options{Registry: s.registry, Logger: s.log, Access: s.access, Realm: s.cfg.Auth.Realm, Traffic: s.metrics.Traffic,
		Network: s.network, Router: s.proxy, Record: s.record})
	v2 := mw.Wrap(s.authenticate(v2h, false), mw.Options{
		Logger:   s.log,
		Metrics:  s.metrics.HTTP,
		Route:    func(r *http.Request) string { return distv2.RouteOf(r.URL.EscapedPath()) },
		IsUpload: isUpload,
	})
	hubAPI := mw.Wrap(hub.AcceptJWTScheme(s.authenticate(s.hubHandler(), false)), mw.Options{
		Logger:  s.log,
		Metrics: s.metrics.HTTP,
		Route:   func(r *http.Request) string { return hub.Route(r.URL.EscapedPath()) },
	})
	mux := http.NewServeMux()
	if s.access != nil {
		mux.Handle("/token", mw.Wrap(s.authenticate(http.HandlerFunc(v2h.Token), false), mw.Options{
			Logger:  s.log,
			Metrics: s.metrics.HTTP,
			Route:   func(*http.Request) string { return "token" },
		}))
	}
	mux.Handle(mgmt.Prefix+"/", s.mgmtHandler())
	if s.access != nil {
		mux.Handle(signin.Prefix+"/", s.signinHandler())
	}
	mux.Handle("GET /metrics", s.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("/", s.uiHandler())
	// /v2 bypasses the mux, which would clean and redirect paths such as
	// /v2/a/../b; the distribution API refuses those as invalid names instead.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/v2/") {
			// The Docker Hub API takes only what the distribution API does not serve.
			if p := r.URL.EscapedPath(); !distv2.Serves(p) && hub.Route(p) != "" {
				hubAPI.ServeHTTP(w, r)
				return
			}
			v2.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// hubHandler is the Docker Hub API (docs/migration.md), over the same
// registry and access service as /v2.
func (s *Server) hubHandler() http.Handler {
	proxies, _ := s.cfg.HTTP.ProxyPrefixes() // validated
	return hub.New(hub.Options{Registry: s.registry, Access: s.access, Logger: s.log, TrustedProxies: proxies, Now: s.now, Network: s.network})
}

// authenticate puts the authentication edge in front of next: every
// surface takes its caller from it. resolveBearer reads the principal a
// bearer token names from the store, for surfaces that judge by rights
// rather than by the token's grant (see mw.AuthOptions).
// Without access control there is nobody to authenticate, and a request
// pays nothing for the edge.
func (s *Server) authenticate(next http.Handler, resolveBearer bool) http.Handler {
	if s.access == nil {
		return next
	}
	proxies, _ := s.cfg.HTTP.ProxyPrefixes() // validated
	return mw.Authenticate(next, mw.AuthOptions{Access: s.access, TrustedProxies: proxies, ResolveBearer: resolveBearer,
		SessionCookie: mw.SessionCookieName})
}

func isUpload(r *http.Request, route string) bool {
	return route == distv2.RouteUpload && (r.Method == http.MethodPatch || r.Method == http.MethodPut || r.Method == http.MethodPost)
}

// ready answers 200 when the metadata store answers and the content store
// does too (when it can tell), and 503 naming the store that failed
// otherwise. /healthz, by contrast, says only that the process serves: a
// store outage should take the instance out of a load balancer, not get it
// restarted, since it reconnects by itself.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain")
	if err := s.registry.Ping(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Serve listens on cfg.HTTP.Addr (or uses ln if not nil) until ctx is done,
// then stops accepting, lets requests in flight finish for up to
// http.shutdownTimeout, and closes the stores.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.HTTP.Addr); err != nil {
			return fmt.Errorf("http.addr: %w", err)
		}
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.HTTP.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	tlsOn := s.cfg.HTTP.TLSCert != ""
	if tlsOn {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	errc := make(chan error, 1)
	go func() {
		if tlsOn {
			errc <- srv.ServeTLS(ln, s.cfg.HTTP.TLSCert, s.cfg.HTTP.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	s.logStart(ln.Addr(), tlsOn)
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.log.Info("shutting down: finishing requests in flight", "timeout", s.cfg.HTTP.ShutdownTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, s.Close())
}

// logStart says where wharf serves and whether access control is on, and
// warns when a registry without access control can be reached from other
// machines: anyone there may push, pull and delete.
func (s *Server) logStart(addr net.Addr, tlsOn bool) {
	auth := "off"
	if s.access != nil {
		auth = "on"
	}
	s.log.Info("wharf is serving", "addr", addr.String(), "auth", auth, "tls", tlsOn,
		"storage", s.cfg.Storage.Driver, "database", s.cfg.Database.Driver)
	if s.access != nil {
		return
	}
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsLoopback() {
		return
	}
	s.log.Warn("access control is off and wharf listens beyond loopback: anyone who can reach "+addr.String()+
		" may push, pull and delete. Turn auth.enabled on (WHARF_AUTH_ENABLED=true) or listen on loopback only (--addr 127.0.0.1:PORT)",
		"addr", addr.String(), "auth", auth)
}

// FlushPulls writes the pulls and pull counts the registry holds in memory
// (it writes them every few seconds, and when the server closes), so that
// the usage figures show them at once.
func (s *Server) FlushPulls(ctx context.Context) error { return s.registry.FlushPulls(ctx) }

// Close stops the background work, writes the audit events still queued
// and closes the stores.
func (s *Server) Close() error {
	s.stopBackground()
	s.proxy.Close()
	if err := s.registry.FlushPulls(context.Background()); err != nil {
		s.log.Warn("record manifest pulls", "err", err)
	}
	if a := s.accounts(); a != nil {
		a.Close()
	}
	s.identity.close()
	s.events.recorder.Close()
	return s.meta.Close()
}

// accounts is the access service: with access control or without; nil when
// the metadata store keeps no access records.
func (s *Server) accounts() *access.Service {
	if s.access != nil {
		return s.access
	}
	return s.local
}
