package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/server"
)

// serveCmd runs the registry until SIGINT or SIGTERM.
func serveCmd(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML config file (see docs/configuration.md)")
	var overrides []string
	for _, f := range []struct{ name, option, usage string }{
		{"addr", "http.addr", "listen address"},
		{"data-dir", "dataDir", "directory for the default on-disk backends"},
		{"log-level", "log.level", "debug, info, warn or error"},
		{"log-format", "log.format", "text or json"},
		{"tls-cert", "http.tlsCert", "TLS certificate file (PEM)"},
		{"tls-key", "http.tlsKey", "TLS private key file (PEM)"},
	} {
		option := f.option
		fs.Func(f.name, f.usage+" ("+option+")", func(v string) error {
			overrides = append(overrides, option, v)
			return nil
		})
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*configPath, os.Environ())
	if err != nil {
		return err
	}
	for i := 0; i < len(overrides); i += 2 {
		if err := cfg.Set(overrides[i], overrides[i+1]); err != nil {
			return err
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	cfg.Resolve()
	log := newLogger(cfg.Log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return srv.Serve(ctx, nil)
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
