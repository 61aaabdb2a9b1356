package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/wharf-dev/wharf/internal/config"
)

// helpRequested reports whether args ask for help (-h, -help or --help
// before any "--"). A command asked for help prints its usage on standard
// output and returns flag.ErrHelp, which main treats as success.
func helpRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// newFlagSet returns the flag set of command name, whose usage starts with
// the synopsis and the description.
func newFlagSet(name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: wharf %s %s\n\n%s\n\nflags:\n", name, synopsis, description)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs. For help it prints the usage on standard
// output and returns flag.ErrHelp; a bad flag is an error that points at
// --help, without the whole usage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if helpRequested(args) {
		fs.SetOutput(os.Stdout)
		fs.Usage()
		return flag.ErrHelp
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w (see wharf %s --help)", err, fs.Name())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see wharf %s --help)", fs.Args(), fs.Name())
	}
	return nil
}

// printHelp writes a command's usage text on standard output and returns
// flag.ErrHelp.
func printHelp(text string) error {
	fmt.Fprintln(os.Stdout, strings.TrimRight(text, "\n"))
	return flag.ErrHelp
}

// configFlags are the flags that choose the configuration: --config and
// options set directly, each named after its option.
type configFlags struct {
	path      *string
	overrides []string // option, value, option, value...
}

// serverOptions are the options serve takes as flags; gc and scrub take the
// first, which says where the default backends keep their data.
var serverOptions = []struct{ name, option, usage string }{
	{"data-dir", "dataDir", "`directory` for the default on-disk backends"},
	{"addr", "http.addr", "listen `address`, e.g. :5000 or 127.0.0.1:5000"},
	{"log-level", "log.level", "debug, info, warn or error"},
	{"log-format", "log.format", "text or json"},
	{"tls-cert", "http.tlsCert", "TLS certificate `file` (PEM)"},
	{"tls-key", "http.tlsKey", "TLS private key `file` (PEM)"},
}

// addConfigFlags adds --config and the first n of serverOptions to fs.
func addConfigFlags(fs *flag.FlagSet, n int) *configFlags {
	c := &configFlags{path: fs.String("config", "", "YAML config file (see docs/configuration.md)")}
	for _, f := range serverOptions[:n] {
		option := f.option
		fs.Func(f.name, f.usage+" ("+option+", "+config.EnvName(option)+")", func(v string) error {
			c.overrides = append(c.overrides, option, v)
			return nil
		})
	}
	return c
}

// load reads the configuration as every command does: defaults, the file,
// WHARF_* variables, then the flags; validated and resolved.
func (c *configFlags) load() (config.Config, error) {
	cfg, err := config.Load(*c.path, os.Environ())
	if err != nil {
		return cfg, err
	}
	for i := 0; i < len(c.overrides); i += 2 {
		if err := cfg.Set(c.overrides[i], c.overrides[i+1]); err != nil {
			return cfg, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("invalid configuration:\n%w", err)
	}
	cfg.Resolve()
	return cfg, nil
}

// isHelp reports whether err is a help request answered.
func isHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }

// acceptJSONFlag lets a command whose answers are always JSON take --json,
// as the commands that also answer in text do, so that scripts may pass it
// to every command.
func acceptJSONFlag(fs *flag.FlagSet) {
	fs.Bool("json", true, "answer in JSON (the only format of this command)")
}
