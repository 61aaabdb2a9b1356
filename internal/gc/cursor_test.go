package gc

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// sortedBlobs is a meta.GCReader that lists blob rows from a sorted slice
// and counts the pages asked for.
type sortedBlobs struct {
	meta.GCReader
	rows  []digest.Digest
	pages int
}

func (s *sortedBlobs) Blobs(_ context.Context, after digest.Digest, n int) ([]meta.Blob, error) {
	s.pages++
	i, _ := slices.BinarySearch(s.rows, after)
	for i < len(s.rows) && s.rows[i] <= after {
		i++
	}
	var out []meta.Blob
	for ; i < len(s.rows) && len(out) < n; i++ {
		out = append(out, meta.Blob{Digest: s.rows[i]})
	}
	return out, nil
}

// TestRecordedBlobs: the sweep's cursor over the blob rows answers right
// for digests asked in any order, and reads each page once when they come
// in order, as the drivers walk.
func TestRecordedBlobs(t *testing.T) {
	old := sweepPage
	sweepPage = 7
	t.Cleanup(func() { sweepPage = old })
	rng := rand.New(rand.NewPCG(1, 2))
	var all, rows []digest.Digest
	recorded := map[digest.Digest]bool{}
	for i := range 200 {
		d := digest.FromString(fmt.Sprint(i))
		all = append(all, d)
		if rng.IntN(4) != 0 { // a quarter are orphans
			rows = append(rows, d)
			recorded[d] = true
		}
	}
	slices.Sort(all)
	slices.Sort(rows)
	for _, order := range []string{"sorted", "shuffled", "reversed"} {
		t.Run(order, func(t *testing.T) {
			asked := slices.Clone(all)
			switch order {
			case "shuffled":
				rng.Shuffle(len(asked), func(i, j int) { asked[i], asked[j] = asked[j], asked[i] })
			case "reversed":
				slices.Reverse(asked)
			}
			src := &sortedBlobs{rows: rows}
			c := &recordedBlobs{meta: src}
			for _, d := range asked {
				got, err := c.has(context.Background(), d)
				if err != nil {
					t.Fatal(err)
				}
				if got != recorded[d] {
					t.Fatalf("has(%s) = %v, want %v", d, got, recorded[d])
				}
			}
			if want := len(rows)/sweepPage + 2; order == "sorted" && src.pages > want {
				t.Errorf("sorted walk read %d pages, want about %d", src.pages, want)
			}
			t.Logf("%s: %d pages for %d digests", order, src.pages, len(all))
		})
	}
	for _, d := range all {
		if got, err := isRecorded(context.Background(), &sortedBlobs{rows: rows}, d); err != nil || got != recorded[d] {
			t.Fatalf("isRecorded(%s) = %v, %v; want %v", d, got, err, recorded[d])
		}
	}
}
