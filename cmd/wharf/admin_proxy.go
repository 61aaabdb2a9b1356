package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// The proxy commands: the upstreams of pull-through cache namespaces
// (docs/proxy.md). "wharf namespace create NAME --kind proxy --upstream
// URL" creates one; "wharf proxy set" changes it.

// upstreamFlags are the flags that describe an upstream.
type upstreamFlags struct {
	fs        *flag.FlagSet
	url       *string
	user      *string
	pwStdin   *bool
	interval  *string
	allowPush *bool
	isDefault *bool
}

func declareUpstreamFlags(fs *flag.FlagSet) *upstreamFlags {
	return &upstreamFlags{
		fs:        fs,
		url:       fs.String("upstream", "", "the upstream registry, http(s)://host[:port]; docker.io for Docker Hub"),
		user:      fs.String("upstream-user", "", "the user name to pull from the upstream with"),
		pwStdin:   fs.Bool("upstream-password-stdin", false, "read the upstream password from standard input"),
		interval:  fs.String("tag-check-interval", "", "how long a fetched tag is served before the upstream is asked whether it moved (10m by default; 0: every pull)"),
		allowPush: fs.Bool("allow-push", false, "let clients push into the namespace, overriding the upstream"),
		isDefault: fs.Bool("default", false, "make this the mirror of the registry's root (docker registry-mirrors)"),
	}
}

// apply sets in from the flags given on the command line, leaving the rest
// of in as it is.
func (f *upstreamFlags) apply(a *admin, in *mgmt.UpstreamPut) error {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["upstream"] {
		in.URL = *f.url
	}
	if set["upstream-user"] {
		if in.Username != *f.user {
			in.Password = nil // the server keeps no password of another user
		}
		in.Username = *f.user
	}
	if set["upstream-password-stdin"] && *f.pwStdin {
		pw, err := a.readPassword()
		if err != nil {
			return err
		}
		in.Password = &pw
	}
	if set["tag-check-interval"] {
		// The API's own reading of a duration ("10m", "7d").
		in.TagCheckInterval = nil
		if err := json.Unmarshal([]byte(`{"tagCheckInterval":`+strconv.Quote(*f.interval)+`}`), in); err != nil {
			return fmt.Errorf("--tag-check-interval: %w", err)
		}
	}
	if set["allow-push"] {
		in.AllowPush = *f.allowPush
	}
	if set["default"] {
		in.Default = *f.isDefault
	}
	return nil
}

func (a *admin) proxyList(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 0, "no arguments")
	}
	if err != nil {
		return err
	}
	us, err := a.client.Upstreams(ctx)
	if err != nil {
		return err
	}
	return printUpstreams(a, us)
}

func (a *admin) proxyGet(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a namespace")
	}
	if err != nil {
		return err
	}
	u, err := a.client.Upstream(ctx, pos[0])
	if err != nil {
		return err
	}
	if a.json {
		return a.print(u, nil)
	}
	return printUpstreams(a, []mgmt.Upstream{u})
}

func (a *admin) proxySet(ctx context.Context, args argsFn) error {
	f := declareUpstreamFlags(a.fs)
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a namespace")
	}
	if err != nil {
		return err
	}
	cur, err := a.client.Upstream(ctx, pos[0])
	if err != nil {
		return err
	}
	d := cur.TagCheckInterval
	in := mgmt.UpstreamPut{URL: cur.URL, Username: cur.Username, TagCheckInterval: &d, AllowPush: cur.AllowPush, Default: cur.Default}
	if err := f.apply(a, &in); err != nil {
		return err
	}
	u, err := a.client.SetUpstream(ctx, pos[0], in)
	if err != nil {
		return err
	}
	if a.json {
		return a.print(u, nil)
	}
	return a.done("upstream of %s set: %s", u.Namespace, u.URL)
}

// createProxy fills in the upstream of a namespace created with --kind
// proxy.
func (f *upstreamFlags) createProxy(a *admin, in *mgmt.NamespaceCreate) error {
	if in.Kind != "proxy" {
		set := false
		f.fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == "upstream" })
		if set {
			return errors.New("--upstream needs --kind proxy")
		}
		return nil
	}
	if *f.url == "" {
		return errors.New("a namespace of kind proxy needs --upstream URL")
	}
	in.Upstream = &mgmt.UpstreamPut{}
	return f.apply(a, in.Upstream)
}

func printUpstreams(a *admin, us []mgmt.Upstream) error {
	return printList(a, us, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "NAMESPACE\tUPSTREAM\tUSER\tCHECK TAGS\tPUSH\tDEFAULT\tHEALTH")
		for _, u := range us {
			user := u.Username
			if user == "" {
				user = "-"
			}
			health := "ok"
			switch {
			case u.Health.Problem != "":
				health = u.Health.Problem
			case !u.Health.Available:
				health = "unavailable since " + when(*u.Health.Since) + ": " + u.Health.Error
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Namespace, u.URL, user, u.TagCheckInterval,
				yes(u.AllowPush), yes(u.Default), health)
		}
	})
}
