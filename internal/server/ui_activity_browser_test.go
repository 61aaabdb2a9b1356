package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/opencontainers/go-digest"

	"github.com/chromedp/chromedp"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/testbrowser"
)

// uiActivityInBrowser opens the registry's activity feed and a namespace
// page with its charts as the administrator, checks the charts are
// figures with a text alternative and that nothing hostile ran, and saves
// screenshots, one on a phone-sized screen in dark mode.
func uiActivityInBrowser(t *testing.T, tr *testRegistry, b *testbrowser.Browser, shots bool) {
	u := tr.srv.URL
	admin := auth.BasicAuthorization("admin", adminPassword)
	for range 3 { // pulls, for the charts
		if r := tr.do("GET", "/v2/team/app/manifests/v1", nil, "Authorization", admin); r.status != http.StatusOK {
			t.Fatalf("pull: %d", r.status)
		}
	}
	if err := tr.s.RunJob(context.Background(), "storage-metrics"); err != nil {
		t.Fatal(err)
	}
	history(t, tr)
	b.Do(
		chromedp.Navigate(u+"/-/activity"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="feed"]`)),
	)
	if got := testbrowser.Eval[bool](b, "window.__xss === undefined"); !got {
		t.Fatal("the activity feed ran the hostile text")
	}
	feed := b.Text(`[data-testid="feed"]`)
	if !strings.Contains(feed, "pushed team/app:v1") || !strings.Contains(feed, "tools/lint") {
		t.Errorf("the registry's feed: %q", feed)
	}
	desc := testbrowser.Eval[string](b, `document.querySelector('[data-testid="chart-all-pushes"] svg desc').textContent`)
	if !strings.Contains(desc, "pushes in the 90 days") {
		t.Errorf("the pushes chart's description: %q", desc)
	}
	if n := testbrowser.Eval[int](b, `document.querySelectorAll('[data-testid="charts"] svg[role="img"] title').length`); n < 4 {
		t.Errorf("%d titled charts on the activity page", n)
	}
	if shots {
		screenshot(t, b, "activity")
	}
	b.Do(
		chromedp.Navigate(u+"/ns/team"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="chart-ns-storage"]`)),
	)
	if n := testbrowser.Eval[int](b, `[...document.querySelectorAll('[data-testid="chart-ns-storage"] polyline')].filter(p => p.points.numberOfItems > 1).length`); n < 2 {
		t.Errorf("the namespace's storage chart draws %d lines, want a line on each side of the gap", n)
	}
	if shots {
		screenshot(t, b, "namespace-charts")
	}

	// A phone-sized screen in dark mode: nothing wider than the screen.
	k := testbrowser.Start(t)
	k.Do(
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		call(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}),
		chromedp.Navigate(u+"/-/login"),
		chromedp.SetValue(chromedp.CSS("#username"), "admin"),
		chromedp.SetValue(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS(`main button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/r/team/app"]`)),
		chromedp.Navigate(u+"/ns/team"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="charts"]`)),
	)
	if w := testbrowser.Eval[int](k, "document.documentElement.scrollWidth"); w > 390 {
		t.Errorf("the namespace page with charts is %d px wide on a 390 px screen", w)
	}
	if fill := testbrowser.Eval[string](k, `getComputedStyle(document.querySelector('[data-testid="chart-ns-pushes"] svg text')).fill`); fill != "rgb(157, 167, 179)" {
		t.Errorf("chart text in dark mode is %q, want the dark theme's muted text", fill)
	}
	if shots {
		screenshot(t, k, "charts-phone-dark")
	}
}

// history writes 60 past days of daily pulls of team/app and storage
// samples, so that the charts (and their screenshots) have days to draw.
func history(t *testing.T, tr *testRegistry) {
	t.Helper()
	r := tr.do("HEAD", "/v2/team/app/manifests/v1", nil, "Authorization", auth.BasicAuthorization("admin", adminPassword))
	d, err := digest.Parse(r.header.Get("Docker-Content-Digest"))
	if err != nil {
		t.Fatalf("digest of team/app:v1: %v", err)
	}
	now := time.Now()
	var counts []meta.PullCount
	for day := 1; day <= 60; day++ {
		counts = append(counts, meta.PullCount{Repository: "team/app", Digest: d, Day: now.AddDate(0, 0, -day), Pulls: int64(5 + (day*7)%11)})
	}
	ctx := context.Background()
	err = tr.s.MetaStore().Update(ctx, func(tx meta.Tx) error {
		if err := tx.RecordPullCounts(ctx, counts); err != nil {
			return err
		}
		for day := 60; day >= 1; day-- {
			if day%9 == 4 {
				continue // a day the job did not run: a gap
			}
			grow := int64(60 - day)
			u := meta.StorageUsage{Bytes: 4000 + 150*grow, Namespaces: []meta.NamespaceBytes{
				{Namespace: "team", Bytes: 3000 + 120*grow}, {Namespace: "tools", Bytes: 1500 + 20*grow}}}
			if err := tx.RecordStorageDay(ctx, now.AddDate(0, 0, -day), u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
