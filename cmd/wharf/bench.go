package main

import "errors"

// benchCmd is replaced by the real benchmark.
func benchCmd(args []string) error { return errors.New("not built yet") }
