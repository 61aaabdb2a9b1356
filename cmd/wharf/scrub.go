package main

import (
	"fmt"

	"github.com/wharf-dev/wharf/internal/gc"
)

// scrubCmd re-hashes every stored blob and reports bytes that do not match
// their digest, recorded blobs whose bytes are missing and bytes no blob
// records; with --repair it fixes the metadata. It exits non-zero when it
// found a problem it did not repair.
func scrubCmd(args []string) error {
	fs := newFlagSet("scrub", "[flags]", "Re-hash every stored blob and check the content store against the metadata; exits non-zero\nwhen it found a problem it did not repair. Safe while servers run.")
	cf := addConfigFlags(fs, 1)
	repair := fs.Bool("repair", false, "fix the metadata: forget damaged and missing blobs so clients upload them again, record orphan bytes for garbage collection")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, _, srv, done, err := openCommand(cf)
	if err != nil {
		return err
	}
	defer done()
	rep, err := srv.Scrub(ctx, gc.ScrubOptions{Repair: *repair, OnProblem: func(p gc.Problem) {
		fmt.Printf("%s: %s (%d bytes) %s\n", p.Kind, p.Digest, p.Size, p.Detail)
	}})
	fmt.Printf("re-hashed %d blobs (%d bytes), checked %d rows in %s: %d problems, %d repaired\n",
		rep.Blobs, rep.Bytes, rep.Rows, rep.Duration.Round(1e6), rep.Problems, rep.Repaired)
	if err != nil {
		return err
	}
	if rep.Problems > rep.Repaired {
		return fmt.Errorf("%d problems found; run with --repair to fix the metadata", rep.Problems-rep.Repaired)
	}
	return nil
}
