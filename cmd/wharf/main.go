// Command wharf is the wharf container registry: one binary that serves the
// registry and administers and measures it.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand of wharf.
type command struct {
	name    string
	summary string
	run     func(args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the registry", serveCmd},
		{"gc", "collect garbage now (--dry-run to preview)", gcCmd},
		{"scrub", "re-hash stored content and check it against the metadata (--repair)", scrubCmd},
		{"export", "write repositories to an OCI image layout or a docker archive", exportCmd},
		{"import", "read images from an OCI image layout or a docker archive", importCmd},
		{"backup", "back up the whole registry while it serves (incremental)", backupCmd},
		{"restore", "restore a backup into empty stores", restoreCmd},
		{"bench", "measure a registry through its HTTP API", benchCmd},
		{"login", "sign in with the identity provider (device flow) and store a token for docker and other clients", loginCmd},
		{"user", "manage users on a server (list, create, set, delete, import, passwd)", adminCmd("user")},
		{"namespace", "manage namespaces on a server (list, create, set, delete)", adminCmd("namespace")},
		{"proxy", "manage the upstreams of pull-through cache namespaces (list, get, set)", adminCmd("proxy")},
		{"member", "manage the members of a namespace (list, set, remove)", adminCmd("member")},
		{"token", "manage personal access tokens and robot accounts (list, create, revoke)", adminCmd("token")},
		{"repo", "list repositories and tags, untag, delete manifests", adminCmd("repo")},
		{"key", "list, rotate and retire the token signing keys", adminCmd("key")},
		{"audit", "query the audit log", adminCmd("audit")},
		{"webhook", "manage webhooks and their deliveries (list, create, set, delete, secret, ping, deliveries, redeliver)", adminCmd("webhook")},
		{"policy", "manage immutable tags, retention, quotas and image policies; check an image", policyCmd},
		{"trust", "manage what a namespace trusts: keys, keyless identities, notation", trustCmd},
		{"usage", "show what the registry, a namespace or a repository holds and served", usageCmd},
		{"replication", "manage replication rules, run them, read their runs' logs", replicationCmd},
		{"promote", "promote an image between namespaces or to a remote, through its gates; approve, policies", promoteCmd},
		{"network", "show and set a namespace's network rules (CIDR allow-lists of pulls and pushes)", networkCmd},
		{"promotions", "list promotion records: who promoted what, from where to where, and why it was allowed", promotionsCmd},
		{"vulndb", "import OSV vulnerability data (import DIR|ZIP...) and show it (status)", vulndbCmd},
		{"scan", "scan an image on a server now and show its summary (--json, --sarif, --sbom, --report)", scanCmd},
		{"vulns", "show the vulnerabilities found in an image (--json, --sarif)", vulnsCmd},
		{"allowlist", "manage the vulnerabilities accepted per namespace and system-wide (list, add, delete)", allowlistCmd},
		{"version", "print the version", func(args []string) error {
			if helpRequested(args) {
				return printHelp("usage: wharf version\n\nPrint the version.")
			}
			fmt.Println("wharf", version)
			return nil
		}},
	}
}

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	name, args := os.Args[1], os.Args[2:]
	switch {
	case name == "-h" || name == "-help" || name == "--help" || (name == "help" && len(args) == 0):
		usage(os.Stdout)
		return
	case name == "help": // wharf help CMD is wharf CMD --help
		name, args = args[0], []string{"--help"}
	}
	for _, c := range commands() {
		if c.name == name {
			if err := c.run(args); err != nil && !isHelp(err) {
				fmt.Fprintf(os.Stderr, "wharf %s: %v\n", name, err)
				if errors.As(err, new(errFindings)) {
					os.Exit(3)
				}
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "wharf: unknown command %q\n\n", name)
	usage(os.Stderr)
	os.Exit(2)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: wharf <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n'wharf <command> --help' describes a command and its flags.")
}
