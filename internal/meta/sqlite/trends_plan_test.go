package sqlite

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// TestTrendQueryPlans: the charts' queries and the activity feed's read
// what they count through an index, never the whole events table, never
// every repository's daily pulls for one namespace, and the push charts
// from a pushes-only index alone.
func TestTrendQueryPlans(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{})
	now := time.Now()
	day := meta.DayQuery{From: now.AddDate(0, 0, -89), To: now}
	for _, q := range []meta.DayQuery{day, {Namespace: "team", From: day.From, To: day.To}, {Namespace: "team", Repository: "team/app", From: day.From, To: day.To}} {
		if _, err := s.PushDays(ctx, q); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PullDays(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Events(ctx, meta.EventQuery{Namespace: "team", Kinds: []string{"artifact.pushed", "tag.moved"}, N: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Events(ctx, meta.EventQuery{Repository: "team/app", Kinds: []string{"artifact.pushed"}, N: 10}); err != nil {
		t.Fatal(err)
	}
	checked := 0
	s.readerStmts.m.Range(func(q, _ any) bool {
		query := q.(string)
		// The charts' queries and the feed's (other readers of the stream,
		// the dispatcher's, run beside them).
		if !strings.Contains(query, "WITH RECURSIVE days") && !strings.Contains(query, "kind IN") {
			return true
		}
		checked++
		rows, err := s.writer.QueryContext(ctx, "EXPLAIN QUERY PLAN "+translate(query), make([]any, 8)...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		plan := planOf(t, rows)
		t.Logf("%s: %q", query, plan)
		for _, step := range plan {
			bad := step == "SCAN events" || step == "SCAN d" || step == "SCAN repository_pull_days" ||
				(strings.Contains(query, "'artifact.pushed'") && !strings.Contains(step, "COVERING INDEX events_pushes") && strings.Contains(step, "events")) ||
				(strings.Contains(query, "r.name") && strings.Contains(step, "repository_pull_days_by_day")) ||
				(strings.Contains(query, "ORDER BY seq") && strings.Contains(step, "TEMP B-TREE"))
			if bad {
				t.Errorf("%s: plan %q", query, plan)
				break
			}
		}
		return true
	})
	if checked != 8 {
		t.Errorf("only %d queries checked", checked)
	}
}

func planOf(t *testing.T, rows *sql.Rows) []string {
	t.Helper()
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return plan
}
