// Command gobin is a Go binary for the extraction tests: its build info
// lists go-digest as a dependency.
package main

import (
	"fmt"

	"github.com/opencontainers/go-digest"
)

func main() { fmt.Println(digest.FromString("wharf")) }
