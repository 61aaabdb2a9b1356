package ui

import (
	"fmt"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

func chartDay(n int) time.Time { return time.Date(2026, 3, 1+n, 0, 0, 0, 0, time.UTC) }

// TestDayBars: a bar per day with a count, none for an empty day, the
// busiest day full height, and the description says the figures.
func TestDayBars(t *testing.T) {
	days := []meta.DayCount{{Day: chartDay(0), N: 0}, {Day: chartDay(1), N: 4}, {Day: chartDay(2), N: 1}}
	c := newDayBars("x", "Pulls per day", "pulls", days)
	if len(c.Bars) != 3 || c.Bars[0].H != 0 || c.Bars[1].H != chartPlotH || c.Bars[2].H != chartPlotH/4 {
		t.Fatalf("bars %+v", c.Bars)
	}
	if c.Bars[1].Y+c.Bars[1].H != c.Base || c.Bars[1].Label != "2026-03-02: 4 pulls" {
		t.Errorf("bar %+v does not stand on the axis or is mislabelled", c.Bars[1])
	}
	if c.Total != 5 || c.Desc != "5 pulls in the 3 days from 2026-03-01 to 2026-03-03 (UTC); the most, 4, on 2026-03-02." {
		t.Errorf("total %d, desc %q", c.Total, c.Desc)
	}
	if len(c.Ticks) != 3 || c.Ticks[2].Anchor != "end" || c.Ticks[0].Label != "1 Mar" {
		t.Errorf("ticks %+v", c.Ticks)
	}
	if z := newDayBars("z", "t", "pushes", []meta.DayCount{{Day: chartDay(0)}}); z.Max != 1 || z.Bars[0].H != 0 {
		t.Errorf("all zero: max %d, bar %+v", z.Max, z.Bars[0])
	}
}

// TestLineChart: a day without a sample breaks the line; a lone sample is
// a dot; the table lists sampled days, newest first.
func TestLineChart(t *testing.T) {
	s := func(day int, n int64) meta.StorageDay {
		return meta.StorageDay{Namespace: "a", Day: chartDay(day), Bytes: n}
	}
	c := newLineChart("s", "Storage", chartDay(0), 10, []string{"a"}, map[string][]meta.StorageDay{"a": {s(0, 100), s(1, 200), s(3, 50), s(5, 10), s(6, 20)}})
	ls := c.Series[0]
	if len(ls.Lines) != 2 || len(ls.Dots) != 1 || ls.Last != 20 {
		t.Fatalf("series %+v", ls)
	}
	// SVG points: "x,y x,y", nothing else.
	x0, x1 := chartLeft+chartDayW/2, chartLeft+chartDayW+chartDayW/2
	if want := fmt.Sprintf("%d,%d %d,%d", x0, c.Base-chartPlotH/2, x1, c.Base-chartPlotH); ls.Lines[0] != want {
		t.Errorf("first run %q, want %q", ls.Lines[0], want)
	}
	if len(c.Rows) != 5 || c.Rows[0].Day != "2026-03-07" || c.Rows[0].Bytes[0] != "20 B" {
		t.Errorf("rows %+v", c.Rows)
	}
}
