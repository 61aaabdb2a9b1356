package main

import (
	"fmt"
	"testing"
)

// TestCommandsRefuseBadArguments: every command given no arguments, an
// unknown subcommand or stray words answers an error (its usage), never a
// panic. (wharf trust list indexed past its arguments.) Commands that would
// serve, wait or reach a server are given a server that is not there.
func TestCommandsRefuseBadArguments(t *testing.T) {
	t.Setenv("WHARF_URL", "http://127.0.0.1:1")
	t.Chdir(t.TempDir()) // export, backup and the like may write where they are told
	skip := map[string]bool{"serve": true, "bench": true, "login": true, "gc": true, "scrub": true, "version": true, "help": true}
	for _, c := range commands() {
		if skip[c.name] {
			continue
		}
		for _, args := range [][]string{nil, {"list"}, {"bogus"}, {"bogus", "x", "y", "z"}, {"show"}} {
			t.Run(fmt.Sprint(c.name, args), func(t *testing.T) {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("wharf %s %v panicked: %v", c.name, args, p)
					}
				}()
				_ = c.run(args)
			})
		}
	}
}
