package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/sqlstore"
)

// TestCatalogWithStaleStatistics: the catalog query must read about one
// link per repository it lists, whatever the planner's statistics say.
// Statistics taken while the registry held one repository (autovacuum's
// ANALYZE of a young database) and 1,000 repositories created before the
// next ANALYZE made the query with EXISTS scan the whole link table once per
// repository: 1,000 x 1,000 rows, ~100 ms a page instead of ~1 ms. That is
// what made the catalog through three replicas look 35x slower than
// through one in scripts/bench-cluster.sh: whichever configuration listed
// before autovacuum came round was slow (docs/performance.md).
func TestCatalogWithStaleStatistics(t *testing.T) {
	s, u := storeAndURL(t)
	ctx := context.Background()
	conn := connect(t, u)
	for _, table := range []string{"repositories", "repository_blobs", "manifests"} {
		// Only the ANALYZE below takes statistics.
		if _, err := conn.Exec(ctx, "ALTER TABLE "+table+" SET (autovacuum_enabled = false)"); err != nil {
			t.Fatal(err)
		}
	}
	// link links a blob of its own to each of repos.
	link := func(repos ...string) {
		t.Helper()
		err := s.Update(ctx, func(tx meta.Tx) error {
			for i, r := range repos {
				d := digest.FromString(fmt.Sprint(r, i))
				if err := tx.PutBlob(ctx, meta.Blob{Digest: d, Size: 7, CreatedAt: time.Now()}); err != nil {
					return err
				}
				if err := tx.LinkBlob(ctx, r, d); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The first repository: the layers of a few images.
	first := make([]string, 100)
	for i := range first {
		first[i] = "first"
	}
	link(first...)
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	repos := make([]string, n)
	for i := range repos {
		repos[i] = fmt.Sprintf("team/r%04d", i)
	}
	link(repos...)

	names, err := s.Repositories(ctx, meta.Page{N: n + 1})
	if err != nil || len(names) != n+1 {
		t.Fatalf("Repositories: %d names, %v; want %d", len(names), err, n+1)
	}
	var plan []struct {
		Plan planNode `json:"Plan"`
	}
	var raw []byte
	if err := conn.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+sqlstore.QueryRepositories, "", n+1).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &plan); err != nil || len(plan) != 1 {
		t.Fatalf("EXPLAIN: %v\n%s", err, raw)
	}
	read := plan[0].Plan.rowsRead(map[string]bool{"repository_blobs": true, "manifests": true})
	if read > 3*(n+1) {
		t.Fatalf("listing %d repositories read %d rows of links and manifests, want at most %d:\n%s", n+1, read, 3*(n+1), raw)
	}
	t.Logf("listing %d repositories read %d rows of links and manifests", n+1, read)
}

// planNode is a node of EXPLAIN (ANALYZE, FORMAT JSON).
type planNode struct {
	Relation string     `json:"Relation Name"`
	Rows     float64    `json:"Actual Rows"`
	Loops    float64    `json:"Actual Loops"`
	Removed  float64    `json:"Rows Removed by Filter"`
	Plans    []planNode `json:"Plans"`
}

// rowsRead sums the rows the scans of tables under n returned or filtered
// out, over all their loops.
func (n planNode) rowsRead(tables map[string]bool) int {
	sum := 0
	if tables[n.Relation] {
		sum += int((n.Rows + n.Removed) * n.Loops)
	}
	for _, c := range n.Plans {
		sum += c.rowsRead(tables)
	}
	return sum
}
