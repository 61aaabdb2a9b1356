package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/mgmtclient"
)

func (a *admin) userList(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 0, "no arguments")
	}
	if err != nil {
		return err
	}
	us, err := a.client.Users(ctx)
	if err != nil {
		return err
	}
	return printUsers(a, us)
}

func (a *admin) userGet(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a user name")
	}
	if err != nil {
		return err
	}
	u, err := a.client.User(ctx, pos[0])
	if err != nil {
		return err
	}
	ms, err := a.client.Memberships(ctx, pos[0])
	if err != nil {
		return err
	}
	if a.json {
		return a.print(struct {
			mgmt.User
			Memberships []mgmt.Member `json:"memberships"`
		}{u, listOf(ms).Items}, nil)
	}
	if err := printUsers(a, []mgmt.User{u}); err != nil {
		return err
	}
	return a.print(nil, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "\nNAMESPACE\tROLE\tSINCE")
		for _, m := range ms {
			fmt.Fprintf(w, "%s\t%s\t%s\n", m.Namespace, m.Role, when(m.CreatedAt))
		}
	})
}

func (a *admin) userCreate(ctx context.Context, args argsFn) error {
	isAdmin := a.fs.Bool("admin", false, "a system administrator")
	pwStdin := a.fs.Bool("password-stdin", false, "read the password from standard input")
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a user name")
	}
	if err != nil {
		return err
	}
	in := mgmt.UserCreate{Name: pos[0], Admin: *isAdmin}
	if *pwStdin {
		if in.Password, err = a.readPassword(); err != nil {
			return err
		}
	}
	u, err := a.client.CreateUser(ctx, in)
	if err != nil {
		return err
	}
	if a.json {
		return a.print(u, nil)
	}
	return a.done("user %s created", u.Name)
}

func (a *admin) userSet(ctx context.Context, args argsFn) error {
	var isAdmin, disabled boolFlag
	a.fs.Var(&isAdmin, "admin", "make the user a system administrator, or not")
	a.fs.Var(&disabled, "disabled", "disable the user, or enable")
	pwStdin := a.fs.Bool("password-stdin", false, "read a new password from standard input")
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a user name")
	}
	if err != nil {
		return err
	}
	in := mgmt.UserUpdate{Admin: isAdmin.v, Disabled: disabled.v}
	if *pwStdin {
		pw, err := a.readPassword()
		if err != nil {
			return err
		}
		in.Password = &pw
	}
	if in == (mgmt.UserUpdate{}) {
		return errors.New("nothing to change: give --admin, --disabled or --password-stdin")
	}
	u, err := a.client.UpdateUser(ctx, pos[0], in)
	if err != nil {
		return err
	}
	if a.json {
		return a.print(u, nil)
	}
	return a.done("user %s updated", u.Name)
}

func (a *admin) userPasswd(ctx context.Context, args argsFn) error {
	a.fs.Bool("password-stdin", true, "read the new password from standard input (always)")
	pos, err := args()
	if err == nil {
		err = want(pos, 0, "no arguments")
	}
	if err != nil {
		return err
	}
	me, err := a.client.Me(ctx)
	if err != nil {
		return err
	}
	if me.Account == "" {
		return fmt.Errorf("%s %s has no password", me.Kind, me.Name)
	}
	pw, err := a.readPassword()
	if err != nil {
		return err
	}
	if _, err := a.client.UpdateUser(ctx, me.Account, mgmt.UserUpdate{Password: &pw}); err != nil {
		return err
	}
	return a.done("password of %s changed", me.Account)
}

func (a *admin) userDelete(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a user name")
	}
	if err != nil {
		return err
	}
	if err := a.client.DeleteUser(ctx, pos[0]); err != nil {
		return err
	}
	return a.done("user %s deleted, with their memberships and tokens", pos[0])
}

func (a *admin) userImport(ctx context.Context, args argsFn) error {
	update := a.fs.Bool("update", false, "replace the passwords of users that exist")
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "an htpasswd file (- for standard input)")
	}
	if err != nil {
		return err
	}
	in := a.stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	res, err := a.client.ImportUsers(ctx, in, *update)
	if err != nil {
		return err
	}
	return a.print(res, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "created\t%d\t%s\n", len(res.Created), strings.Join(res.Created, " "))
		fmt.Fprintf(w, "updated\t%d\t%s\n", len(res.Updated), strings.Join(res.Updated, " "))
		fmt.Fprintf(w, "skipped\t%d\t%s\n", len(res.Skipped), strings.Join(res.Skipped, " "))
		for _, e := range res.Errors {
			fmt.Fprintf(w, "refused\t\t%s\n", e)
		}
	})
}

func printNamespaces(a *admin, nss []mgmt.Namespace) error {
	return printList(a, nss, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "NAME\tKIND\tPUBLIC\tCREATED")
		for _, ns := range nss {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", ns.Name, ns.Kind, yes(ns.Public), when(ns.CreatedAt))
		}
	})
}

func (a *admin) nsList(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 0, "no arguments")
	}
	if err != nil {
		return err
	}
	nss, err := a.client.Namespaces(ctx)
	if err != nil {
		return err
	}
	return printNamespaces(a, nss)
}

func (a *admin) nsGet(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a namespace")
	}
	if err != nil {
		return err
	}
	ns, err := a.client.Namespace(ctx, pos[0])
	if err != nil {
		return err
	}
	if a.json {
		return a.print(ns, nil)
	}
	return printNamespaces(a, []mgmt.Namespace{ns})
}

func (a *admin) nsCreate(ctx context.Context, args argsFn) error {
	public := a.fs.Bool("public", false, "anyone may pull")
	kind := a.fs.String("kind", "", "general (the default), sandbox, ci, prod, archive (docs/promotion.md), or proxy: a pull-through cache of --upstream")
	up := declareUpstreamFlags(a.fs)
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a namespace")
	}
	if err != nil {
		return err
	}
	in := mgmt.NamespaceCreate{Name: pos[0], Public: *public, Kind: *kind}
	if err := up.createProxy(a, &in); err != nil {
		return err
	}
	ns, err := a.client.CreateNamespace(ctx, in)
	if err != nil {
		return err
	}
	if a.json {
		return a.print(ns, nil)
	}
	if ns.Kind == "proxy" {
		return a.done("namespace %s created, a pull-through cache of %s (public: %s)", ns.Name, in.Upstream.URL, yes(ns.Public))
	}
	return a.done("namespace %s created (public: %s)", ns.Name, yes(ns.Public))
}

func (a *admin) nsSet(ctx context.Context, args argsFn) error {
	var public boolFlag
	a.fs.Var(&public, "public", "anyone may pull, or only members")
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a namespace")
	}
	if err != nil {
		return err
	}
	if public.v == nil {
		return errors.New("nothing to change: give --public=true or --public=false")
	}
	ns, err := a.client.UpdateNamespace(ctx, pos[0], mgmt.NamespaceUpdate{Public: public.v})
	if err != nil {
		return err
	}
	if a.json {
		return a.print(ns, nil)
	}
	return a.done("namespace %s updated (public: %s)", ns.Name, yes(ns.Public))
}

func (a *admin) nsDelete(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a namespace")
	}
	if err != nil {
		return err
	}
	if err := a.client.DeleteNamespace(ctx, pos[0]); err != nil {
		return err
	}
	return a.done("namespace %s deleted, with its members and robots; its repositories stay", pos[0])
}

func (a *admin) memberList(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a namespace")
	}
	if err != nil {
		return err
	}
	ms, err := a.client.Members(ctx, pos[0])
	if err != nil {
		return err
	}
	return printList(a, ms, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "USER\tROLE\tSINCE")
		for _, m := range ms {
			fmt.Fprintf(w, "%s\t%s\t%s\n", m.User, m.Role, when(m.CreatedAt))
		}
	})
}

func (a *admin) memberSet(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 3, "NAMESPACE USER ROLE")
	}
	if err != nil {
		return err
	}
	m, err := a.client.PutMember(ctx, pos[0], pos[1], pos[2])
	if err != nil {
		return err
	}
	if a.json {
		return a.print(m, nil)
	}
	return a.done("%s is %s of %s", m.User, m.Role, m.Namespace)
}

func (a *admin) memberRemove(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 2, "NAMESPACE USER")
	}
	if err != nil {
		return err
	}
	if err := a.client.DeleteMember(ctx, pos[0], pos[1]); err != nil {
		return err
	}
	return a.done("%s removed from %s", pos[1], pos[0])
}

// tokenOwner declares --for and --namespace and, after parsing, says whose
// tokens a token command is about: a namespace's robots, another user's
// tokens, or (neither flag) the caller's own.
func (a *admin) tokenOwner() (user, ns *string) {
	return a.fs.String("for", "", "the user whose personal tokens (default: yourself)"),
		a.fs.String("namespace", "", "the namespace whose robot accounts")
}

// tokenUser resolves the user of a personal token command.
func (a *admin) tokenUser(ctx context.Context, user string) (string, error) {
	if user != "" {
		return user, nil
	}
	me, err := a.client.Me(ctx)
	if err != nil {
		return "", err
	}
	if me.Account == "" {
		return "", fmt.Errorf("%s %s has no personal tokens; give --for USER or --namespace NS", me.Kind, me.Name)
	}
	return me.Account, nil
}

func (a *admin) tokenList(ctx context.Context, args argsFn) error {
	user, ns := a.tokenOwner()
	refresh := a.fs.Bool("refresh", false, "list refresh tokens (docker login sessions) instead")
	pos, err := args()
	if err == nil {
		err = want(pos, 0, "no arguments")
	}
	if err != nil {
		return err
	}
	var ts []mgmt.Token
	if *ns != "" {
		ts, err = a.client.Robots(ctx, *ns)
	} else {
		var u string
		if u, err = a.tokenUser(ctx, *user); err == nil {
			ts, err = a.client.Tokens(ctx, u, *refresh)
		}
	}
	if err != nil {
		return err
	}
	return printTokens(a, ts)
}

// scopes is a repeatable --scope flag.
type scopes []string

func (s *scopes) String() string     { return strings.Join(*s, " ") }
func (s *scopes) Set(v string) error { *s = append(*s, v); return nil }

func (a *admin) tokenCreate(ctx context.Context, args argsFn) error {
	user, ns := a.tokenOwner()
	var sc scopes
	a.fs.Var(&sc, "scope", "PATTERN:ACTIONS, e.g. ci/*:pull,push (repeatable)")
	expires := a.fs.String("expires", "", "lifetime, e.g. 720h (default: no expiry)")
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a token name")
	}
	if err != nil {
		return err
	}
	in := mgmt.TokenCreate{Name: pos[0], Scopes: sc, ExpiresIn: *expires}
	var t mgmt.Token
	if *ns != "" {
		t, err = a.client.CreateRobot(ctx, *ns, in)
	} else {
		var u string
		if u, err = a.tokenUser(ctx, *user); err == nil {
			t, err = a.client.CreateToken(ctx, u, in)
		}
	}
	if err != nil {
		return err
	}
	if a.json {
		return a.print(t, nil)
	}
	_, err = fmt.Fprintf(a.out, "%s token %s (id %s) created; log in as %s with this secret, shown only now:\n%s\n",
		t.Kind, t.Name, t.ID, t.Username, t.Secret)
	return err
}

func (a *admin) tokenRevoke(ctx context.Context, args argsFn) error {
	user, ns := a.tokenOwner()
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a token id")
	}
	if err != nil {
		return err
	}
	if *ns != "" {
		err = a.client.RevokeRobot(ctx, *ns, pos[0])
	} else {
		var u string
		if u, err = a.tokenUser(ctx, *user); err == nil {
			err = a.client.RevokeToken(ctx, u, pos[0])
		}
	}
	if err != nil {
		return err
	}
	return a.done("token %s revoked", pos[0])
}

func (a *admin) repoList(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 0, "no arguments")
	}
	if err != nil {
		return err
	}
	rs, err := a.client.Repositories(ctx)
	if err != nil {
		return err
	}
	return printList(a, rs, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "REPOSITORY")
		for _, r := range rs {
			fmt.Fprintln(w, r.Name)
		}
	})
}

func (a *admin) repoTags(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a repository")
	}
	if err != nil {
		return err
	}
	ts, err := a.client.Tags(ctx, pos[0])
	if err != nil {
		return err
	}
	return printList(a, ts, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "TAG\tDIGEST")
		for _, t := range ts {
			fmt.Fprintf(w, "%s\t%s\n", t.Name, t.Digest)
		}
	})
}

func (a *admin) repoUntag(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 2, "REPOSITORY TAG")
	}
	if err != nil {
		return err
	}
	if err := a.client.DeleteTag(ctx, pos[0], pos[1]); err != nil {
		return err
	}
	return a.done("tag %s:%s removed", pos[0], pos[1])
}

func (a *admin) repoDelete(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 2, "REPOSITORY DIGEST")
	}
	if err != nil {
		return err
	}
	if err := a.client.DeleteManifest(ctx, pos[0], pos[1]); err != nil {
		return err
	}
	return a.done("manifest %s@%s deleted with its tags", pos[0], pos[1])
}

func (a *admin) audit(ctx context.Context, args argsFn) error {
	var q mgmtclient.AuditQuery
	a.fs.StringVar(&q.Actor, "actor", "", "e.g. user:alice")
	a.fs.StringVar(&q.Action, "action", "", "e.g. push, login, token.create")
	a.fs.StringVar(&q.Target, "target", "", "target prefix, e.g. team-a/")
	a.fs.StringVar(&q.Result, "result", "", "ok, denied or failed")
	a.fs.StringVar(&q.Since, "since", "", "RFC 3339 time")
	a.fs.StringVar(&q.Until, "until", "", "RFC 3339 time")
	a.fs.IntVar(&q.Limit, "limit", 100, "at most this many events")
	pos, err := args()
	if err == nil {
		err = want(pos, 0, "no arguments")
	}
	if err != nil {
		return err
	}
	es, err := a.client.Audit(ctx, q)
	if err != nil {
		return err
	}
	return printList(a, es, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tTIME\tACTOR\tCLIENT\tACTION\tTARGET\tRESULT\tDETAIL")
		for _, e := range es {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.Local().Format("2006-01-02 15:04:05"),
				e.Actor, e.Client, e.Action, e.Target, e.Result, e.Detail)
		}
	})
}
