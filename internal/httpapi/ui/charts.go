package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/registry"
)

// The charts: inline SVG drawn here, on the server, so they need no
// script and no chart library. Each is a figure with a title and a
// description (role="img"), and the same figures as a table beside it
// (in a <details>, for screen readers and for reading exact numbers). The
// drawing uses a viewBox and scales to the page's width; its colours are
// the stylesheet's, light and dark.

// chartSet is the charts of a page; nil fields are left out.
type chartSet struct {
	Scope   string // "team", "team/app", "the registry"
	Traffic *trafficChart
	Storage *lineChart
	Vulns   *severityChart
	// TopStorage is the registry's chart of its largest namespaces.
	TopStorage *lineChart
}

// The drawing's geometry, in viewBox units.
const (
	chartLeft   = 64  // room for the y axis's labels
	chartDayW   = 6   // a day's slot
	chartPlotH  = 110 // the plot's height
	chartTop    = 10
	chartBottom = 26 // room for the x axis's labels
)

// dayBars is a bar chart of a count per day.
type dayBars struct {
	ID, Title, Desc string
	Width, Height   int
	Max             int64
	Total           int64
	Bars            []dayBar
	Ticks           []xTick
	Base, Top       int // the y of the axis and of the Max line
}

type dayBar struct {
	X, Y, W, H int
	Label      string // "2026-12-01: 5 pulls"
}

type xTick struct {
	X      int
	Label  string
	Anchor string // text-anchor: the last label ends at its day
}

// trafficChart is pushes and pulls per day, as two bar charts and one
// table.
type trafficChart struct {
	Pushes, Pulls dayBars
	Days          []trafficRow // newest first
}

type trafficRow struct {
	Day           string
	Pushes, Pulls int64
}

func dayLabel(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// ticks labels the first, middle and last days of n days from from.
func ticks(from time.Time, n int) []xTick {
	var out []xTick
	for j, i := range []int{0, n / 2, n - 1} {
		if i < 0 || (len(out) > 0 && out[len(out)-1].X == chartLeft+i*chartDayW) {
			continue
		}
		t := xTick{X: chartLeft + i*chartDayW, Label: from.AddDate(0, 0, i).UTC().Format("2 Jan"), Anchor: []string{"start", "middle", "end"}[j]}
		if j == 2 {
			t.X += chartDayW
		}
		out = append(out, t)
	}
	return out
}

func newDayBars(id, title, unit string, days []meta.DayCount) dayBars {
	c := dayBars{ID: id, Title: title, Width: chartLeft + len(days)*chartDayW + 8, Height: chartTop + chartPlotH + chartBottom,
		Base: chartTop + chartPlotH, Top: chartTop}
	var best meta.DayCount
	for _, d := range days {
		c.Total += d.N
		if d.N > best.N {
			best = d
		}
	}
	c.Max = max(best.N, 1)
	for i, d := range days {
		h := int(d.N * chartPlotH / c.Max)
		if d.N > 0 {
			h = max(h, 1)
		}
		c.Bars = append(c.Bars, dayBar{X: chartLeft + i*chartDayW + 1, Y: c.Base - h, W: chartDayW - 2, H: h,
			Label: fmt.Sprintf("%s: %d %s", dayLabel(d.Day), d.N, unit)})
	}
	if len(days) > 0 {
		c.Ticks = ticks(days[0].Day, len(days))
		c.Desc = fmt.Sprintf("%d %s in the %d days from %s to %s (UTC)", c.Total, unit, len(days), dayLabel(days[0].Day), dayLabel(days[len(days)-1].Day))
		if best.N > 0 {
			c.Desc += fmt.Sprintf("; the most, %d, on %s", best.N, dayLabel(best.Day))
		}
		c.Desc += "."
	}
	return c
}

func newTraffic(id string, t registry.Traffic) *trafficChart {
	c := &trafficChart{Pushes: newDayBars(id+"-pushes", "Pushes per day", "pushes", t.Pushes),
		Pulls: newDayBars(id+"-pulls", "Pulls per day", "pulls", t.Pulls)}
	for i := len(t.Pushes) - 1; i >= 0; i-- {
		row := trafficRow{Day: dayLabel(t.Pushes[i].Day), Pushes: t.Pushes[i].N}
		if i < len(t.Pulls) {
			row.Pulls = t.Pulls[i].N
		}
		c.Days = append(c.Days, row)
	}
	return c
}

// lineChart is bytes stored per day, a line per series; days without a
// sample break the line.
type lineChart struct {
	ID, Title, Desc string
	Width, Height   int
	Base, Top       int
	Max             int64
	Series          []lineSeries
	Ticks           []xTick
	Columns         []string  // the table's columns after the day
	Rows            []lineRow // newest first
}

type lineSeries struct {
	Name  string
	Class string    // series-N: its colour
	Lines []string  // polyline points, one per run of sampled days
	Dots  []lineDot // single days with no neighbour
	Last  int64
}

type lineDot struct{ X, Y int }

type lineRow struct {
	Day   string
	Bytes []string
}

// newLineChart draws samples (by series, then day) over the days from from.
func newLineChart(id, title string, from time.Time, days int, names []string, samples map[string][]meta.StorageDay) *lineChart {
	c := &lineChart{ID: id, Title: title, Width: chartLeft + days*chartDayW + 8, Height: chartTop + chartPlotH + chartBottom,
		Base: chartTop + chartPlotH, Top: chartTop, Ticks: ticks(from, days), Columns: names}
	c.Max = 1
	for _, ss := range samples {
		for _, s := range ss {
			c.Max = max(c.Max, s.Bytes)
		}
	}
	first := meta.DayNumber(from)
	byDay := map[int64][]string{}
	for i, name := range names {
		ls := lineSeries{Name: name, Class: fmt.Sprintf("series-%d", i%6)}
		var run []string
		var lastX, lastY int
		end := func() {
			switch len(run) {
			case 0:
			case 1:
				ls.Dots = append(ls.Dots, lineDot{lastX, lastY})
			default:
				ls.Lines = append(ls.Lines, strings.Join(run, " "))
			}
			run = nil
		}
		prev := int64(-1)
		for _, s := range samples[name] {
			day := meta.DayNumber(s.Day)
			if day != prev+1 {
				end()
			}
			prev = day
			x := chartLeft + int(day-first)*chartDayW + chartDayW/2
			y := c.Base - int(s.Bytes*chartPlotH/c.Max)
			run = append(run, fmt.Sprintf("%d,%d", x, y))
			lastX, lastY = x, y
			ls.Last = s.Bytes
			if byDay[day] == nil {
				byDay[day] = make([]string, len(names))
			}
			byDay[day][i] = humanBytes(s.Bytes)
		}
		end()
		c.Series = append(c.Series, ls)
	}
	dayNums := make([]int64, 0, len(byDay))
	for d := range byDay {
		dayNums = append(dayNums, d)
	}
	slices.Sort(dayNums)
	for i := len(dayNums) - 1; i >= 0; i-- {
		c.Rows = append(c.Rows, lineRow{Day: dayLabel(meta.DayStart(dayNums[i])), Bytes: byDay[dayNums[i]]})
	}
	c.Desc = fmt.Sprintf("Bytes stored each day over the last %d days (UTC), as the daily storage count found them", days)
	if len(dayNums) == 0 {
		c.Desc += "; nothing was counted yet."
	} else {
		c.Desc += fmt.Sprintf("; %d days counted, the most %s.", len(dayNums), humanBytes(c.Max))
	}
	return c
}

// severityChart is findings by severity, a bar each.
type severityChart struct {
	ID, Title, Desc string
	Width, Height   int
	Images          int64
	Scanned         string // "3 manifests scanned"
	Fixable         int
	Bars            []vulnBar
}

type vulnBar struct {
	Severity string
	Findings int
	Images   int64 // manifests whose worst finding is of this severity
	Y, W     int
}

func newSeverityChart(id, scope string, v meta.VulnerabilityTotals) *severityChart {
	c := &severityChart{ID: id, Title: "Vulnerabilities by severity", Images: v.Images, Fixable: v.Findings.Fixable, Width: 480,
		Scanned: plural(int(v.Images), "manifest") + " scanned"}
	f := map[string]int{"critical": v.Findings.Critical, "high": v.Findings.High, "medium": v.Findings.Medium,
		"low": v.Findings.Low, "unknown": v.Findings.Unknown}
	worst := map[string]int64{}
	for _, s := range v.ByHighest {
		worst[s.Highest] = s.Count
	}
	top, total := 1, 0
	for _, n := range f {
		top = max(top, n)
		total += n
	}
	for i, sev := range meta.Severities[:5] {
		c.Bars = append(c.Bars, vulnBar{Severity: sev, Findings: f[sev], Images: worst[sev], Y: i * 26,
			W: f[sev] * 300 / top})
	}
	c.Height = len(c.Bars)*26 + 4
	c.Desc = fmt.Sprintf("%d findings in %d scanned manifests of %s: %d critical, %d high, %d medium, %d low, %d unknown; %d with a fix.",
		total, v.Images, scope, f["critical"], f["high"], f["medium"], f["low"], f["unknown"], v.Findings.Fixable)
	return c
}

// namespaceCharts are the charts of a namespace's page.
func (h *Handler) namespaceCharts(ctx context.Context, ns string) (*chartSet, error) {
	cs := &chartSet{Scope: ns}
	t, err := h.reg.Traffic(ctx, ns, "")
	if err != nil {
		return nil, err
	}
	cs.Traffic = newTraffic("ns", t)
	st, err := h.reg.StorageHistory(ctx, ns)
	if err != nil {
		return nil, err
	}
	cs.Storage = newLineChart("ns-storage", "Storage per day", h.chartFrom(), registry.ChartDays, []string{ns}, map[string][]meta.StorageDay{ns: st})
	if h.opts.Scanner != nil {
		v, err := h.reg.Vulnerabilities(ctx, ns)
		if err != nil {
			return nil, err
		}
		cs.Vulns = newSeverityChart("ns-vulns", "namespace "+ns, v)
	}
	return cs, nil
}

// repositoryCharts are the charts of a repository's page.
func (h *Handler) repositoryCharts(ctx context.Context, repo string) (*chartSet, error) {
	t, err := h.reg.Traffic(ctx, "", repo)
	if err != nil {
		return nil, err
	}
	return &chartSet{Scope: repo, Traffic: newTraffic("repo", t)}, nil
}

// topNamespaces is how many namespaces the registry's storage chart draws.
const topNamespaces = 6

// registryCharts are the charts of the whole registry.
func (h *Handler) registryCharts(ctx context.Context) (*chartSet, error) {
	cs := &chartSet{Scope: "the registry"}
	t, err := h.reg.Traffic(ctx, "", "")
	if err != nil {
		return nil, err
	}
	cs.Traffic = newTraffic("all", t)
	total, err := h.reg.StorageHistory(ctx, "")
	if err != nil {
		return nil, err
	}
	cs.Storage = newLineChart("all-storage", "Storage per day, each blob once", h.chartFrom(), registry.ChartDays,
		[]string{"whole registry"}, map[string][]meta.StorageDay{"whole registry": total})
	top, err := h.reg.TopStorageHistory(ctx, topNamespaces)
	if err != nil {
		return nil, err
	}
	var names []string
	byNS := map[string][]meta.StorageDay{}
	for _, s := range top {
		if byNS[s.Namespace] == nil {
			names = append(names, s.Namespace)
		}
		byNS[s.Namespace] = append(byNS[s.Namespace], s)
	}
	// Largest first, as the legend reads.
	slices.SortStableFunc(names, func(a, b string) int {
		la, lb := byNS[a][len(byNS[a])-1].Bytes, byNS[b][len(byNS[b])-1].Bytes
		return int(min(max(lb-la, -1), 1))
	})
	cs.TopStorage = newLineChart("ns-top-storage", "Storage per namespace", h.chartFrom(), registry.ChartDays, names, byNS)
	if h.opts.Scanner != nil {
		v, err := h.reg.Vulnerabilities(ctx, "")
		if err != nil {
			return nil, err
		}
		cs.Vulns = newSeverityChart("all-vulns", "the registry", v)
	}
	return cs, nil
}

// chartFrom is the first day of the charts, as the registry counts them.
func (h *Handler) chartFrom() time.Time { return h.reg.ChartFrom() }
