package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// The "wharf key" verbs: the token signing keys.

func printKeys(a *admin, ks []mgmt.SigningKey) error {
	return printList(a, ks, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tSIGNING\tCREATED\tRETIRED")
		for _, k := range ks {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.ID, yes(k.Signing), when(k.CreatedAt), when(k.RetiredAt))
		}
	})
}

func (a *admin) keyList(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 0, "no arguments")
	}
	if err != nil {
		return err
	}
	ks, err := a.client.SigningKeys(ctx)
	if err != nil {
		return err
	}
	return printKeys(a, ks)
}

func (a *admin) keyRotate(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 0, "no arguments")
	}
	if err != nil {
		return err
	}
	k, err := a.client.RotateKey(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return a.print(k, nil)
	}
	_, err = fmt.Fprintf(a.out, "key %s signs new tokens; retire the old one once its tokens have expired\n", k.ID)
	return err
}

func (a *admin) keyRetire(ctx context.Context, args argsFn) error {
	pos, err := args()
	if err == nil {
		err = want(pos, 1, "a key id")
	}
	if err != nil {
		return err
	}
	k, err := a.client.RetireKey(ctx, pos[0])
	if err != nil {
		return err
	}
	if a.json {
		return a.print(k, nil)
	}
	_, err = fmt.Fprintf(a.out, "key %s retired: tokens it signed are refused\n", k.ID)
	return err
}
