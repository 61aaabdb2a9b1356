package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// loginCmd signs in to a registry with the OIDC provider's device flow,
// run by the registry (/auth/oidc/device): it shows a code to enter in any
// browser, waits, and stores the personal access token the registry
// creates where docker, crane, podman and the other clients read
// credentials (the Docker config's "auths").
func loginCmd(args []string) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	name := fs.String("name", "", "name of the personal access token (default wharf-login-DATE)")
	expires := fs.String("expires", "720h", "how long the token is valid; 0 for ever")
	scopes := fs.String("scope", "*:*", "scopes of the token, comma-separated PATTERN:ACTIONS")
	config := fs.String("docker-config", "", "the Docker config to store the token in (default $DOCKER_CONFIG/config.json or ~/.docker/config.json)")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return printHelp(`usage: wharf login [--name NAME] [--expires DURATION] [--scope PATTERN:ACTIONS,...] [--docker-config FILE] URL

Sign in to the registry at URL with its identity provider's device flow:
open the address shown in any browser, enter the code, and approve. The
registry creates a personal access token, which is stored for docker, crane,
podman and the other clients in the Docker config.`)
	}
	base := strings.TrimSuffix(fs.Arg(0), "/")
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a registry URL", fs.Arg(0))
	}
	ctx := context.Background()
	var start struct {
		Handle                  string `json:"handle"`
		UserCode                string `json:"user_code"`
		VerificationURI         string `json:"verification_uri"`
		VerificationURIComplete string `json:"verification_uri_complete"`
		ExpiresIn               int    `json:"expires_in"`
	}
	if err := postJSON(ctx, base+"/auth/oidc/device", nil, &start); err != nil {
		return err
	}
	if start.VerificationURIComplete != "" {
		fmt.Fprintf(os.Stderr, "Open %s\n(or %s and enter the code %s)\n", start.VerificationURIComplete, start.VerificationURI, start.UserCode)
	} else {
		fmt.Fprintf(os.Stderr, "Open %s and enter the code %s\n", start.VerificationURI, start.UserCode)
	}
	req := map[string]any{"handle": start.Handle, "name": *name, "expiresIn": *expires, "scopes": strings.Split(*scopes, ",")}
	deadline := time.Now().Add(time.Duration(start.ExpiresIn) * time.Second)
	var tok struct {
		User      string    `json:"user"`
		Username  string    `json:"username"`
		Token     string    `json:"token"`
		TokenID   string    `json:"tokenId"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	for {
		err := postJSON(ctx, base+"/auth/oidc/device/token", req, &tok)
		var pe *pendingError
		if errors.As(err, &pe) && time.Now().Before(deadline) {
			continue // the registry waited a while for the user already
		}
		if err != nil {
			return err
		}
		break
	}
	path := *config
	if path == "" {
		path = dockerConfigPath()
	}
	if err := storeDockerAuth(path, u.Host, tok.Username, tok.Token); err != nil {
		return fmt.Errorf("signed in as %s, but storing the token failed (%v); it is %s", tok.User, err, tok.Token)
	}
	valid := "for ever"
	if !tok.ExpiresAt.IsZero() {
		valid = "until " + tok.ExpiresAt.Local().Format("2006-01-02")
	}
	fmt.Fprintf(os.Stderr, "Signed in to %s as %s (token %s, valid %s); stored in %s\n", u.Host, tok.User, tok.TokenID, valid, path)
	return nil
}

// pendingError: the user has not finished at the provider yet.
type pendingError struct{}

func (*pendingError) Error() string { return "authorization pending" }

// postJSON posts in (or nothing) and decodes the answer into out; an
// error answer becomes an error with its message.
func postJSON(ctx context.Context, u string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(b, &e)
		if e.Error == "authorization_pending" {
			return &pendingError{}
		}
		if e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("%s: %s %s", u, resp.Status, e.Message)
	}
	return json.Unmarshal(b, out)
}

// dockerConfigPath is where the Docker CLI reads credentials.
func dockerConfigPath() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker", "config.json")
}

// storeDockerAuth sets the credentials of host in the Docker config at
// path, keeping everything else in it. The file is written whole to a
// temporary file and renamed, readable by its owner only.
func storeDockerAuth(path, host, user, secret string) error {
	cfg := map[string]json.RawMessage{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &cfg); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	auths := map[string]json.RawMessage{}
	if raw, ok := cfg["auths"]; ok {
		if err := json.Unmarshal(raw, &auths); err != nil {
			return fmt.Errorf("%s: auths: %w", path, err)
		}
	}
	entry, _ := json.Marshal(map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + secret))})
	auths[host] = entry
	cfg["auths"], _ = json.Marshal(auths)
	if _, ok := cfg["credsStore"]; ok {
		fmt.Fprintf(os.Stderr, "note: %s names a credential store (credsStore); clients that use it will not see the token stored here\n", path)
	}
	b, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.json")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
