package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/wharf-dev/wharf/internal/bench"
)

const policyUsage = `usage: wharf policy <command> [flags]

  immutable list NAMESPACE            list a namespace's immutability rules
  immutable add NAMESPACE PATTERN     make tags matching PATTERN immutable
  immutable delete NAMESPACE ID       remove a rule
  retention list                      list the retention policies you manage
  retention show ID                   show a policy
  retention add FILE                  create a policy from a JSON file (- for stdin)
  retention update ID FILE            replace a policy
  retention delete ID                 remove a policy
  retention preview ID|FILE           what a stored policy, or one in a file, would delete now
  retention run [--dry-run]           run every policy now (system administrators)
  quota list                          list every quota (system administrators)
  quota show NAMESPACE                show a namespace's quota
  quota set NAMESPACE SIZE            set a quota, e.g. 50GiB (system administrators)
  quota delete NAMESPACE              remove a quota

Patterns: a glob (v*), semver, or re:EXPR. See docs/lifecycle.md.
Flags: --url, --token or --user/--password (WHARF_URL, WHARF_TOKEN, WHARF_USER, WHARF_PASSWORD).`

// policyCmd manages immutability rules, retention policies and quotas
// through the management API.
func policyCmd(args []string) error {
	return runPolicy(args, os.Stdin, os.Stdout, os.Getenv)
}

func runPolicy(args []string, stdin io.Reader, stdout io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("policy", flag.ContinueOnError)
	c := mgmtFlags(fs, getenv)
	dryRun := fs.Bool("dry-run", false, "with retention run: report what would be deleted, delete nothing")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), policyUsage) }
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	want := func(n int) error {
		if len(pos) != n {
			fs.Usage()
			return errUsage
		}
		return nil
	}
	if len(pos) < 2 {
		fs.Usage()
		return errUsage
	}
	esc := url.PathEscape
	show := func(method, path string, in any) error {
		var out json.RawMessage
		if err := c.do(method, path, in, &out); err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		return printJSON(stdout, out)
	}
	switch pos[0] + " " + pos[1] {
	case "immutable list":
		if err := want(3); err != nil {
			return err
		}
		return show("GET", "/api/v1/namespaces/"+esc(pos[2])+"/immutability-rules", nil)
	case "immutable add":
		if err := want(4); err != nil {
			return err
		}
		return show("POST", "/api/v1/namespaces/"+esc(pos[2])+"/immutability-rules", map[string]string{"pattern": pos[3]})
	case "immutable delete":
		if err := want(4); err != nil {
			return err
		}
		return show("DELETE", "/api/v1/namespaces/"+esc(pos[2])+"/immutability-rules/"+esc(pos[3]), nil)
	case "retention list":
		if err := want(2); err != nil {
			return err
		}
		return show("GET", "/api/v1/retention-policies", nil)
	case "retention show":
		if err := want(3); err != nil {
			return err
		}
		return show("GET", "/api/v1/retention-policies/"+esc(pos[2]), nil)
	case "retention add":
		if err := want(3); err != nil {
			return err
		}
		p, err := readPolicy(pos[2], stdin)
		if err != nil {
			return err
		}
		return show("POST", "/api/v1/retention-policies", p)
	case "retention update":
		if err := want(4); err != nil {
			return err
		}
		p, err := readPolicy(pos[3], stdin)
		if err != nil {
			return err
		}
		return show("PUT", "/api/v1/retention-policies/"+esc(pos[2]), p)
	case "retention delete":
		if err := want(3); err != nil {
			return err
		}
		return show("DELETE", "/api/v1/retention-policies/"+esc(pos[2]), nil)
	case "retention preview":
		if err := want(3); err != nil {
			return err
		}
		if isID(pos[2]) {
			return show("POST", "/api/v1/retention-policies/"+pos[2]+"/preview", nil)
		}
		p, err := readPolicy(pos[2], stdin)
		if err != nil {
			return err
		}
		return show("POST", "/api/v1/retention/preview", p)
	case "retention run":
		if err := want(2); err != nil {
			return err
		}
		return show("POST", "/api/v1/retention/run", map[string]bool{"dryRun": *dryRun})
	case "quota list":
		if err := want(2); err != nil {
			return err
		}
		return show("GET", "/api/v1/quotas", nil)
	case "quota show":
		if err := want(3); err != nil {
			return err
		}
		return show("GET", "/api/v1/namespaces/"+esc(pos[2])+"/quota", nil)
	case "quota set":
		if err := want(4); err != nil {
			return err
		}
		n, err := bench.ParseSize(pos[3])
		if err != nil {
			return err
		}
		return show("PUT", "/api/v1/namespaces/"+esc(pos[2])+"/quota", map[string]int64{"limitBytes": n})
	case "quota delete":
		if err := want(3); err != nil {
			return err
		}
		return show("DELETE", "/api/v1/namespaces/"+esc(pos[2])+"/quota", nil)
	}
	fs.Usage()
	return errUsage
}

func isID(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// readPolicy reads a policy's JSON from file, or stdin for "-", and checks
// that it is JSON; the server checks the rest.
func readPolicy(file string, stdin io.Reader) (json.RawMessage, error) {
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s: not JSON", file)
	}
	return json.RawMessage(b), nil
}
