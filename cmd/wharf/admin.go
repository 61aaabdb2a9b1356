package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/mgmtclient"
)

// The administration commands (user, namespace, member, token, repo, key, audit, webhook)
// call a server's management API. Each is "wharf NOUN VERB [ARGS] [FLAGS]",
// flags anywhere after the noun.

// adminCmd runs administration command noun with the process's streams and
// environment.
func adminCmd(noun string) func(args []string) error {
	return func(args []string) error {
		return runAdmin(context.Background(), noun, args, os.Stdin, os.Stdout, os.Getenv)
	}
}

// admin is one administration command being run.
type admin struct {
	fs     *flag.FlagSet
	client *mgmtclient.Client
	json   bool
	stdin  io.Reader
	out    io.Writer
}

// verbs are the verbs of each noun, with a one-line usage each.
var verbs = map[string][]string{
	"user": {"list", "get NAME", "create NAME [--admin] [--password-stdin]", "set NAME [--admin=BOOL] [--disabled=BOOL] [--password-stdin]",
		"delete NAME", "import FILE [--update]", "passwd [--password-stdin]: change your own password"},
	"namespace": {"list", "get NAME", "create NAME [--public] [--kind proxy --upstream URL [--upstream-user NAME --upstream-password-stdin]\n" +
		"      [--tag-check-interval DURATION] [--allow-push] [--default]]", "set NAME --public=BOOL", "delete NAME"},
	"proxy": {"list: the upstreams of every proxy namespace, with their health", "get NAMESPACE",
		"set NAMESPACE [--upstream URL] [--upstream-user NAME] [--upstream-password-stdin] [--tag-check-interval DURATION]\n" +
			"      [--allow-push=BOOL] [--default=BOOL]: change what is given (10m between tag checks by default; 0: every pull;\n" +
			"      --default: the mirror of the registry's root, for docker's registry-mirrors)"},
	"member": {"list NAMESPACE", "set NAMESPACE USER ROLE", "remove NAMESPACE USER"},
	"token": {"list [--for USER [--refresh] | --namespace NS]", "create NAME --scope PATTERN:ACTIONS... [--expires DURATION] [--for USER | --namespace NS]",
		"revoke ID [--for USER | --namespace NS]"},
	"repo":  {"list", "tags REPOSITORY", "untag REPOSITORY TAG", "delete REPOSITORY DIGEST"},
	"key":   {"list", "rotate: a new key signs tokens from now on", "retire ID: tokens the key signed are refused"},
	"audit": {"[--actor A] [--action A] [--target PREFIX] [--result ok|denied|failed] [--since T] [--until T] [--limit N]"},
	"webhook": {"list [--namespace NS | --all]",
		"create NAME --url URL [--format cloudevents|distribution|harbor] [--kinds K,...] [--repositories PATTERN,...] [--namespace NS] [--disabled]",
		"get ID", "set ID [--name N] [--url URL] [--format F] [--kinds K,...] [--repositories P,...] [--enabled=BOOL]", "delete ID",
		"secret ID: a new signing secret", "ping ID: send a test event now",
		"deliveries ID [--state pending|delivered|dead] [--limit N]", "delivery ID DELIVERY: the attempts of one delivery",
		"redeliver ID DELIVERY: send a delivery's event again"},
}

func adminUsage(noun string) error { return errors.New(adminUsageText(noun)) }

func adminUsageText(noun string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage:\n")
	for _, v := range verbs[noun] {
		fmt.Fprintf(&b, "  wharf %s %s\n", noun, v)
	}
	b.WriteString("flags of every command: --url URL (WHARF_URL), --token TOKEN (WHARF_TOKEN), --user NAME (WHARF_USER,\n" +
		"  with WHARF_PASSWORD or the token as its password), --json")
	return b.String()
}

// runAdmin runs "wharf noun args...".
func runAdmin(ctx context.Context, noun string, args []string, stdin io.Reader, out io.Writer, env func(string) string) error {
	if helpRequested(args) {
		fmt.Fprintln(out, adminUsageText(noun))
		return flag.ErrHelp
	}
	a := &admin{fs: flag.NewFlagSet("wharf "+noun, flag.ContinueOnError), stdin: stdin, out: out}
	a.fs.SetOutput(io.Discard)
	url := a.fs.String("url", envOr(env, "WHARF_URL", "http://localhost:5000"), "server URL")
	token := a.fs.String("token", env("WHARF_TOKEN"), "access token")
	user := a.fs.String("user", env("WHARF_USER"), "user name, for Basic authentication")
	a.fs.BoolVar(&a.json, "json", false, "print JSON")
	verb := ""
	if noun != "audit" {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return adminUsage(noun)
		}
		verb, args = args[0], args[1:]
	}
	run, ok := a.verb(noun, verb)
	if !ok {
		return adminUsage(noun)
	}
	a.client = &mgmtclient.Client{URL: *url, Token: *token, Username: *user, Password: env("WHARF_PASSWORD")}
	return run(ctx, func() ([]string, error) {
		pos, err := parseInterleaved(a.fs, args)
		if err != nil {
			return nil, fmt.Errorf("%w\n%w", err, adminUsage(noun))
		}
		a.client.URL, a.client.Token, a.client.Username = *url, *token, *user
		return pos, nil
	})
}

func envOr(env func(string) string, name, def string) string {
	if v := env(name); v != "" {
		return v
	}
	return def
}

// parseInterleaved parses flags wherever they are among the positional
// arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// argsFn parses the flags and returns the positional arguments; verbs
// declare their own flags before calling it.
type argsFn func() ([]string, error)

// want checks the number of positional arguments.
func want(args []string, n int, what string) error {
	if len(args) != n {
		return fmt.Errorf("want %s, got %d argument(s)", what, len(args))
	}
	return nil
}

// print writes v as JSON with --json, and otherwise calls table.
func (a *admin) print(v any, table func(w *tabwriter.Writer)) error {
	if a.json {
		enc := json.NewEncoder(a.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

// printList writes a listing: with --json as the API writes one page,
// {"items": [...]}, here holding every page; otherwise table.
func printList[T any](a *admin, items []T, table func(w *tabwriter.Writer)) error {
	if a.json {
		return a.print(listOf(items), nil)
	}
	return a.print(nil, table)
}

// listOf is items as a listing, [] rather than null when empty.
func listOf[T any](items []T) mgmt.List[T] {
	if items == nil {
		items = []T{}
	}
	return mgmt.List[T]{Items: items}
}

// done reports a change that returns nothing.
func (a *admin) done(format string, args ...any) error {
	if a.json {
		return a.print(map[string]bool{"ok": true}, nil)
	}
	_, err := fmt.Fprintf(a.out, format+"\n", args...)
	return err
}

// readPassword reads a password from the first line of stdin.
func (a *admin) readPassword() (string, error) {
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on standard input")
	}
	return pw, nil
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// boolFlag is an optional boolean flag: unset unless given.
type boolFlag struct{ v *bool }

func (b *boolFlag) String() string {
	if b.v == nil {
		return ""
	}
	return strconv.FormatBool(*b.v)
}

func (b *boolFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.v = &v
	return nil
}

func (b *boolFlag) IsBoolFlag() bool { return true }

// verb returns the function of "noun verb".
func (a *admin) verb(noun, verb string) (func(context.Context, argsFn) error, bool) {
	m := map[string]map[string]func(context.Context, argsFn) error{
		"user": {"list": a.userList, "get": a.userGet, "create": a.userCreate, "set": a.userSet,
			"delete": a.userDelete, "import": a.userImport, "passwd": a.userPasswd},
		"namespace": {"list": a.nsList, "get": a.nsGet, "create": a.nsCreate, "set": a.nsSet, "delete": a.nsDelete},
		"member":    {"list": a.memberList, "set": a.memberSet, "remove": a.memberRemove},
		"token":     {"list": a.tokenList, "create": a.tokenCreate, "revoke": a.tokenRevoke},
		"repo":      {"list": a.repoList, "tags": a.repoTags, "untag": a.repoUntag, "delete": a.repoDelete},
		"key":       {"list": a.keyList, "rotate": a.keyRotate, "retire": a.keyRetire},
		"audit":     {"": a.audit},
		"proxy":     {"list": a.proxyList, "get": a.proxyGet, "set": a.proxySet},
		"webhook": {"list": a.webhookList, "create": a.webhookCreate, "get": a.webhookGet, "set": a.webhookSet, "delete": a.webhookDelete,
			"secret": a.webhookSecret, "ping": a.webhookPing, "deliveries": a.webhookDeliveries, "delivery": a.webhookShowDelivery,
			"redeliver": a.webhookRedeliver},
	}
	f, ok := m[noun][verb]
	return f, ok
}

func printUsers(a *admin, us []mgmt.User) error {
	return printList(a, us, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "NAME\tADMIN\tDISABLED\tPASSWORD\tCREATED")
		for _, u := range us {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.Name, yes(u.Admin), yes(u.Disabled), yes(u.HasPassword), when(u.CreatedAt))
		}
	})
}

func printTokens(a *admin, ts []mgmt.Token) error {
	return printList(a, ts, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tUSERNAME\tSCOPES\tEXPIRES\tLAST USED\tREVOKED")
		for _, t := range ts {
			var sc []string
			for _, s := range t.Scopes {
				sc = append(sc, s.String())
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Username, strings.Join(sc, " "),
				when(t.ExpiresAt), when(t.LastUsedAt), when(t.RevokedAt))
		}
	})
}
