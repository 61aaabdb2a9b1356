package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/wharf-dev/wharf/internal/mgmtclient"
)

const trustUsage = `usage: wharf trust <command> [flags]

  show NAMESPACE                      show what a namespace trusts: its key set
  set NAMESPACE FILE                  set its key set from a JSON file (- for stdin)
  add-key NAMESPACE NAME FILE         trust a public key (a cosign.pub PEM file) under NAME
  remove-key NAMESPACE NAME           stop trusting key NAME
  delete NAMESPACE                    remove the key set: nothing is trusted

A key set holds public keys, keyless identities (issuer and subject, against a
sigstore trusted root) and notation trust policies with their trust stores; see
docs/trust.md. The server validates it and names the entry at fault. Answers are JSON.
Flags: --url URL (WHARF_URL), --token TOKEN (WHARF_TOKEN), --user NAME (WHARF_USER, with WHARF_PASSWORD).`

var errTrustUsage = errors.New(trustUsage)

// trustCmd manages the key sets of namespaces through the management API.
func trustCmd(args []string) error {
	return runTrust(context.Background(), args, os.Stdin, os.Stdout, os.Getenv)
}

func runTrust(ctx context.Context, args []string, stdin io.Reader, out io.Writer, env func(string) string) error {
	if helpRequested(args) {
		fmt.Fprintln(out, trustUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("wharf trust", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	acceptJSONFlag(fs)
	client := lifecycleClient(fs, env)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("%w\n%w", err, errTrustUsage)
	}
	n := map[string]int{"show": 1, "set": 2, "add-key": 3, "remove-key": 2, "delete": 1}
	if len(pos) == 0 {
		return errTrustUsage
	}
	if want, ok := n[pos[0]]; !ok || want != len(pos)-1 {
		return errTrustUsage
	}
	c, ns, rest := client(), pos[1], pos[2:]
	switch pos[0] {
	case "show":
		ks, err := c.KeySet(ctx, ns)
		if err != nil {
			return err
		}
		return printJSON(out, ks)
	case "set":
		b, err := readFile(rest[0], stdin)
		if err != nil {
			return err
		}
		if !json.Valid(b) {
			return fmt.Errorf("%s: not JSON", rest[0])
		}
		ks, err := c.SetKeySet(ctx, ns, json.RawMessage(b))
		if err != nil {
			return err
		}
		return printJSON(out, ks)
	case "add-key", "remove-key":
		return editKeys(ctx, c, ns, pos[0] == "add-key", rest, stdin, out)
	case "delete":
		if err := c.DeleteKeySet(ctx, ns); err != nil {
			return err
		}
		return printJSON(out, map[string]bool{"ok": true})
	}
	return errTrustUsage
}

// editKeys adds or removes one public key of ns's key set, keeping the
// rest of it as it is.
func editKeys(ctx context.Context, c *mgmtclient.Client, ns string, add bool, rest []string, stdin io.Reader, out io.Writer) error {
	name := rest[0]
	var cfg map[string]json.RawMessage
	ks, err := c.KeySet(ctx, ns)
	switch {
	case mgmtclient.IsStatus(err, 404) && add:
		cfg = map[string]json.RawMessage{}
	case err != nil:
		return err
	default:
		b, err := json.Marshal(ks.KeySet)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			return err
		}
	}
	type key struct {
		Name string `json:"name"`
		PEM  string `json:"pem"`
	}
	var keys []key
	if raw, ok := cfg["keys"]; ok {
		if err := json.Unmarshal(raw, &keys); err != nil {
			return err
		}
	}
	i := slices.IndexFunc(keys, func(k key) bool { return k.Name == name })
	if add {
		pem, err := readFile(rest[1], stdin)
		if err != nil {
			return err
		}
		if i >= 0 {
			return fmt.Errorf("namespace %s already trusts a key named %s; remove it first", ns, name)
		}
		keys = append(keys, key{Name: name, PEM: string(bytes.TrimSpace(pem)) + "\n"})
	} else {
		if i < 0 {
			return fmt.Errorf("namespace %s trusts no key named %s", ns, name)
		}
		keys = slices.Delete(keys, i, i+1)
	}
	b, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	cfg["keys"] = b
	if len(keys) == 0 {
		delete(cfg, "keys")
	}
	res, err := c.SetKeySet(ctx, ns, cfg)
	if err != nil {
		return err
	}
	return printJSON(out, res)
}

// readFile reads file, or stdin for "-".
func readFile(file string, stdin io.Reader) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(file)
}
