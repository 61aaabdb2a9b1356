// Command wharf is the wharf container registry: one binary that serves the
// registry and administers and measures it.
package main

import (
	"fmt"
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
		{"bench", "measure a registry through its HTTP API", benchCmd},
		{"user", "manage users on a server (list, create, set, delete, import, passwd)", adminCmd("user")},
		{"namespace", "manage namespaces on a server (list, create, set, delete)", adminCmd("namespace")},
		{"member", "manage the members of a namespace (list, set, remove)", adminCmd("member")},
		{"token", "manage personal access tokens and robot accounts (list, create, revoke)", adminCmd("token")},
		{"repo", "list repositories and tags, untag, delete manifests", adminCmd("repo")},
		{"key", "list, rotate and retire the token signing keys", adminCmd("key")},
		{"audit", "query the audit log", adminCmd("audit")},
		{"policy", "manage immutable tags, retention policies and quotas", policyCmd},
		{"usage", "show what a namespace and its repositories hold", usageCmd},
		{"version", "print the version", func([]string) error { fmt.Println("wharf", version); return nil }},
	}
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage()
		return
	}
	for _, c := range commands() {
		if c.name == name {
			if err := c.run(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "wharf %s: %v\n", name, err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "wharf: unknown command %q\n\n", name)
	usage()
	os.Exit(2)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: wharf <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.summary)
	}
}
