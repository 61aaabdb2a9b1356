package main

import "errors"

func serveCmd(args []string) error { return errors.New("not built yet") }
