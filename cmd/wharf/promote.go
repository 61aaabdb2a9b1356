package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
)

const promoteUsage = `usage: wharf promote SOURCE TARGET [--remote NAME]
       wharf promote approve ID [--comment TEXT]
       wharf promote requests [--state pending|promoted|refused]
       wharf promote policy show|set|delete NAMESPACE [FILE|-]

  SOURCE  repository@sha256:... or repository:tag (resolved to its digest once)
  TARGET  repository:tag, or repository to copy by digest only

Promote copies the image by digest, with its platforms and referrers
(signatures, attestations, SBOMs), into TARGET after the target namespace's
gates pass (docs/promotion.md). It exits 0 only when the image was promoted:
a refusal names every failed gate; a promotion waiting for approvals prints
its request, which another person approves with 'wharf promote approve ID'.
'policy set' reads the namespace's gates as JSON from FILE (- for stdin).

Flags: --url URL (WHARF_URL), --token TOKEN (WHARF_TOKEN), --user NAME (WHARF_USER, with WHARF_PASSWORD).`

const promotionsUsage = `usage: wharf promotions [--namespace NS] [--repository REPO] [--digest D] [--tag T]
                        [--result promoted|refused|failed] [--before ID] [-n N]
       wharf promotions show ID

List promotion records, newest first: who promoted what digest from where to
where, when, each gate's result with its evidence, and the approvals.`

var errPromoteUsage = errors.New(promoteUsage)

func promoteCmd(args []string) error {
	return runPromote(context.Background(), args, os.Stdin, os.Stdout, os.Getenv)
}

func promotionsCmd(args []string) error {
	return runPromotions(context.Background(), args, os.Stdout, os.Getenv)
}

func runPromote(ctx context.Context, args []string, stdin io.Reader, out io.Writer, env func(string) string) error {
	if helpRequested(args) {
		fmt.Fprintln(out, promoteUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("wharf promote", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	acceptJSONFlag(fs)
	client := lifecycleClient(fs, env)
	remote := fs.String("remote", "", "promote to this configured remote registry")
	comment := fs.String("comment", "", "with approve: a comment kept with the approval")
	state := fs.String("state", "", "with requests: only requests in this state")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("%w\n%w", err, errPromoteUsage)
	}
	c := client()
	print := func(b json.RawMessage, err error) error {
		if err != nil {
			return err
		}
		var v any
		if json.Unmarshal(b, &v) != nil {
			_, err := out.Write(b)
			return err
		}
		return printJSON(out, v)
	}
	switch {
	case len(pos) == 2 && pos[0] == "approve":
		id, err := strconv.ParseInt(pos[1], 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("request id %q: want a positive number", pos[1])
		}
		b, err := c.ApprovePromotion(ctx, id, *comment)
		if err := print(b, err); err != nil {
			return err
		}
		return promoted(b)
	case len(pos) == 1 && pos[0] == "requests":
		return print(c.PromotionRequests(ctx, *state))
	case len(pos) >= 3 && pos[0] == "policy":
		ns := pos[2]
		switch {
		case pos[1] == "show" && len(pos) == 3:
			return print(c.PromotionPolicy(ctx, ns))
		case pos[1] == "delete" && len(pos) == 3:
			if err := c.DeletePromotionPolicy(ctx, ns); err != nil {
				return err
			}
			return printJSON(out, map[string]bool{"ok": true})
		case pos[1] == "set" && len(pos) == 4:
			var b []byte
			if pos[3] == "-" {
				b, err = io.ReadAll(stdin)
			} else {
				b, err = os.ReadFile(pos[3])
			}
			if err != nil {
				return err
			}
			if !json.Valid(b) {
				return fmt.Errorf("%s: not JSON", pos[3])
			}
			return print(c.SetPromotionPolicy(ctx, ns, b))
		}
		return errPromoteUsage
	case len(pos) == 2:
		b, err := c.Promote(ctx, pos[0], pos[1], *remote)
		if err := print(b, err); err != nil {
			return err
		}
		return promoted(b)
	}
	return errPromoteUsage
}

// promoted returns nil if the answer b says the image was promoted, and
// what to do next otherwise.
func promoted(b json.RawMessage) error {
	var res struct {
		State   string `json:"state"`
		Request struct {
			ID int64 `json:"id"`
		} `json:"request"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	if res.State == "pending" {
		return fmt.Errorf("not promoted yet: request %d waits for approvals (wharf promote approve %d, by someone else)", res.Request.ID, res.Request.ID)
	}
	return nil
}

func runPromotions(ctx context.Context, args []string, out io.Writer, env func(string) string) error {
	if helpRequested(args) {
		fmt.Fprintln(out, promotionsUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("wharf promotions", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	acceptJSONFlag(fs)
	client := lifecycleClient(fs, env)
	q := url.Values{}
	for _, name := range []string{"namespace", "repository", "digest", "tag", "result", "before", "n"} {
		fs.Func(name, "filter: "+name, func(v string) error { q.Set(name, v); return nil })
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, promotionsUsage)
	}
	c := client()
	var b json.RawMessage
	switch {
	case len(pos) == 0:
		b, err = c.Promotions(ctx, q)
	case len(pos) == 2 && pos[0] == "show":
		b, err = c.Promotion(ctx, pos[1])
	default:
		return errors.New(promotionsUsage)
	}
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	return printJSON(out, v)
}
