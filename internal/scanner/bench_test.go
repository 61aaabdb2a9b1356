package scanner_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/scanner"
	"github.com/wharf-dev/wharf/internal/scanner/scantest"
)

// BenchmarkPush measures pushes of small Debian images (a dpkg database of
// 200 packages, so that each scan extracts and matches for real) with
// scanning on push off and on, on SQLite: what scanning costs a push. The
// scans run beside the pushes in the scanner's workers; the time the
// backlog takes to drain after the pushes is reported apart (drain-ms).
func BenchmarkPush(b *testing.B) {
	var pkgs []scantest.Dpkg
	for i := range 200 {
		pkgs = append(pkgs, scantest.Dpkg{Name: fmt.Sprintf("pkg%03d", i), Version: "1.0-1", Source: fmt.Sprintf("src%03d", i)})
	}
	pkgs = append(pkgs, openssl)
	base := scantest.Debian(pkgs...)
	workers, _ := strconv.Atoi(os.Getenv("WHARF_BENCH_SCAN_WORKERS"))
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("scanOnPush=%v", on), func(b *testing.B) {
			e := newEnv(b, backends[0], scanner.Options{OnPush: on, Logger: slog.New(slog.DiscardHandler), Workers: workers})
			e.importData(advisories...)
			e.start()
			var n atomic.Int64
			cpu0 := processCPU(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					img := scantest.NewImage("linux/amd64", base, scantest.Layer("app/id", fmt.Sprint(i)))
					e.push(fmt.Sprintf("bench/app%d", i%8), fmt.Sprintf("t%d", i), img)
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
			// The process's CPU per image while the pushes ran, the scanner's
			// share included: on a shared machine, steadier than the rate.
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/image")
			if on {
				start := time.Now()
				st := e.meta.(meta.Scans)
				for {
					done, err := st.ScanList(context.Background(), meta.ScanQuery{States: []string{meta.ScanScanned, meta.ScanFailed}, N: 1 << 30})
					if err != nil {
						b.Fatal(err)
					}
					if len(done) >= b.N {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				b.ReportMetric(float64(time.Since(start).Milliseconds()), "drain-ms")
			}
			e.halt()
		})
	}
}

// processCPU is the user and system CPU time this process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
