package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// mgmtClient calls the management API (/api/v1) for the lifecycle
// commands: with an access token as the bearer, or with a user name and
// password.
type mgmtClient struct {
	url      string
	token    string
	user     string
	password string
	http     *http.Client
}

// mgmtFlags adds the connection flags to fs, defaulting from the
// environment (WHARF_URL, WHARF_TOKEN, WHARF_USER, WHARF_PASSWORD).
func mgmtFlags(fs *flag.FlagSet, getenv func(string) string) *mgmtClient {
	c := &mgmtClient{http: &http.Client{Timeout: 5 * time.Minute}}
	def := func(name, fallback string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return fallback
	}
	fs.StringVar(&c.url, "url", def("WHARF_URL", "http://127.0.0.1:5000"), "registry base `URL` (WHARF_URL)")
	fs.StringVar(&c.token, "token", getenv("WHARF_TOKEN"), "access `token` (WHARF_TOKEN)")
	fs.StringVar(&c.user, "user", getenv("WHARF_USER"), "user `name`, with --password (WHARF_USER)")
	fs.StringVar(&c.password, "password", getenv("WHARF_PASSWORD"), "`password` of --user (WHARF_PASSWORD)")
	return c
}

// parseInterleaved parses fs over args, allowing flags after positional
// arguments, and returns the positional arguments.
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

// problem is the management API's error body.
type problem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// do sends a JSON request and decodes a JSON answer into out (unless nil);
// an error answer becomes an error carrying the problem's detail and code.
func (c *mgmtClient) do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(c.url, "/")+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.user != "":
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var p problem
		if json.Unmarshal(b, &p) != nil || p.Code == "" {
			return fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		msg := p.Detail
		if msg == "" {
			msg = p.Title
		}
		return fmt.Errorf("%s (%s)", msg, p.Code)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: answer is not the JSON expected: %w", method, path, err)
	}
	return nil
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

var errUsage = errors.New("bad usage")
