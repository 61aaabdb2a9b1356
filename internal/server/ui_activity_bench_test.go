package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
	"github.com/wharf-dev/wharf/internal/server"
)

// BenchmarkUIActivity renders the pages with the activity feed and the
// charts over a registry with a realistic history: 100,000 events over 90
// days (half pulls, a third pushes, the rest tag moves, deletions and
// scans) in 20 namespaces of 10 repositories, 90 days of daily pull
// counts and storage samples; on fs+SQLite, and on PostgreSQL when
// WHARF_TEST_POSTGRES_URL names a server. As the local administrator, who
// sees everything (docs/performance.md, "Web UI").
func BenchmarkUIActivity(b *testing.B) {
	dbs := []string{"sqlite"}
	if os.Getenv("WHARF_TEST_POSTGRES_URL") != "" {
		dbs = append(dbs, "postgres")
	}
	for _, db := range dbs {
		b.Run(db, func(b *testing.B) {
			cfg := config.Default()
			cfg.DataDir = b.TempDir()
			if db == "postgres" {
				cfg.Database.Driver = "postgres"
				cfg.Database.Postgres.URL = pgtest.Database(b)
			}
			cfg.Resolve()
			s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(s.Handler())
			defer func() { srv.Close(); _ = s.Close() }()
			seedActivity(b, &testRegistry{t: &testing.T{}, srv: srv, s: s})
			h := s.Handler()
			for _, page := range []string{"/-/activity", "/-/activity?before=1000000&kind=tag.moved", "/ns/ns07", "/ns/ns07/-/activity", "/ns/ns07/-/activity?kind=artifact.pushed",
				"/r/ns07/app3"} {
				b.Run(page, func(b *testing.B) {
					req := httptest.NewRequest("GET", page, nil)
					req.RemoteAddr, req.Host = "127.0.0.1:40000", "localhost:5000"
					b.ReportAllocs()
					for b.Loop() {
						w := httptest.NewRecorder()
						h.ServeHTTP(w, req)
						if w.Code != http.StatusOK {
							b.Fatalf("GET %s: %d %s", page, w.Code, w.Body)
						}
					}
				})
			}
		})
	}
}

// seedActivity writes the history BenchmarkUIActivity reads.
func seedActivity(b *testing.B, tr *testRegistry) {
	const (
		namespaces = 20
		repos      = 10
		days       = 90
		nEvents    = 100_000
	)
	store := tr.s.MetaStore()
	ctx := context.Background()
	now := time.Now().UTC()
	var digests []digest.Digest
	for n := range namespaces {
		for r := range repos {
			// A manifest per repository, so that pull counts have one.
			m, _ := tr.pushImage(fmt.Sprintf("ns%02d/app%d", n, r), "v1",
				[]byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","n":%d}`, n*repos+r)), []byte(fmt.Sprint("layer ", n, r)))
			digests = append(digests, digest.FromBytes(m))
		}
	}
	var batch []events.Event
	flush := func() {
		err := store.Update(ctx, func(tx meta.Tx) error { return events.Append(ctx, tx, batch...) })
		if err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	actor := events.WithActor(ctx, events.Actor{Name: "user:ci", Client: "192.0.2.1"})
	for i := range nEvents {
		k := i % (namespaces * repos)
		repo := fmt.Sprintf("ns%02d/app%d", k/repos, k%repos)
		var data events.Data
		switch i % 6 {
		case 0, 1:
			data = &events.ArtifactPushed{Digest: digests[k], Tags: []string{fmt.Sprint("b", i)}, Size: 1234}
		case 2, 3, 4:
			data = &events.ArtifactPulled{Digest: digests[k], Tag: "v1", Count: 1 + i%7}
		default:
			data = &events.TagMoved{Tag: "latest", Digest: digests[k]}
		}
		e := events.New(actor, repo, data)
		e.At = now.Add(-time.Duration(nEvents-i) * (days * 24 * time.Hour / nEvents))
		batch = append(batch, e)
		if len(batch) == 5000 {
			flush()
		}
	}
	flush()
	var counts []meta.PullCount
	for d := range days {
		for k, dg := range digests {
			counts = append(counts, meta.PullCount{Repository: fmt.Sprintf("ns%02d/app%d", k/repos, k%repos), Digest: dg,
				Day: now.AddDate(0, 0, -d), Pulls: int64(1 + (d+k)%13)})
		}
	}
	err := store.Update(ctx, func(tx meta.Tx) error {
		if err := tx.RecordPullCounts(ctx, counts); err != nil {
			return err
		}
		for d := range days {
			u := meta.StorageUsage{Bytes: int64(1e9 + d*1e7)}
			for n := range namespaces {
				u.Namespaces = append(u.Namespaces, meta.NamespaceBytes{Namespace: fmt.Sprintf("ns%02d", n), Bytes: int64((n + 1) * (1e8 + d*1e6))})
			}
			if err := tx.RecordStorageDay(ctx, now.AddDate(0, 0, -d), u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
