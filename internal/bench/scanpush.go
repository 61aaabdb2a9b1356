package bench

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// What scan-push measures: the small-image push rate of a registry that
// scans every image pushed (Options.ScanOnPushURL, "on") as a share of the
// rate of one like it that does not (Options.URL, "off"), while the pushes
// arrive. The scans of an image run after its push is acknowledged, and a
// registry yields to pushes, so the scanning server ends each window with
// a backlog that it drains afterwards; the cost of that is reported apart,
// as the drain, and is kept out of every window:
//
//   - before each window the bench waits until the scanning server's
//     backlog (wharf_scan_backlog) is empty, so no window shares the CPU
//     with the scans of an earlier one, whichever server it measures;
//   - both servers are warmed up first (each push of the warm-up is
//     untimed), so the first window pays no first-request costs;
//   - the rounds run off, on, on, off (ABBA): a drift of the machine's load
//     or of the servers' growing databases weighs on both sides alike;
//   - every image pushed to the scanning server must be found scanned
//     through the management API at the end, or the scenario fails.
const (
	// scanPushWarmup is how many images are pushed to each server, untimed,
	// before the first window.
	scanPushWarmup = 64
	// drainTimeout bounds the wait for the scanning server's backlog.
	drainTimeout = 10 * time.Minute
	// drainPoll is how often the backlog is read while waiting.
	drainPoll = 100 * time.Millisecond
)

// scanPushOrder is the order of the rounds: ABBA.
var scanPushOrder = []bool{false, true, true, false}

// scanPush compares the small-image push rates of the registry under test
// and of a second one that scans on push; see above.
func (r *runner) scanPush(ctx context.Context) ([]Result, error) {
	if r.opts.ScanOnPushURL == "" {
		r.logf("scan-push skipped: no --scan-on-push-url")
		return nil, nil
	}
	c2, err := NewClient(r.opts.ScanOnPushURL, r.opts.Username, r.opts.Password)
	if err != nil {
		return nil, err
	}
	on := *r
	on.client, on.cpu = c2, nil
	if len(r.opts.ScanOnPushPIDs) > 0 {
		on.cpu = &serverCPU{pids: r.opts.ScanOnPushPIDs}
		if _, err := on.cpu.ticks(); err != nil {
			return nil, fmt.Errorf("scan-on-push pid: %w", err)
		}
	}
	if _, err := c2.scanBacklog(ctx); err != nil {
		return nil, err
	}
	side := func(scanning bool) (*runner, string) {
		if scanning {
			return &on, "on"
		}
		return r, "off"
	}
	for _, scanning := range []bool{false, true} {
		sr, name := side(scanning)
		if _, err := sr.pushDebianImagesN(ctx, "scan-push-warmup-"+name, scanPushWarmup); err != nil {
			return nil, fmt.Errorf("warm-up of the %s server: %w", name, err)
		}
	}
	if _, err := on.drain(ctx); err != nil {
		return nil, err
	}

	var out []Result
	var rates []float64
	pushed := map[string][]digest.Digest{} // repository -> images pushed to the scanning server
	var drained []Result
	for i, scanning := range scanPushOrder {
		sr, name := side(scanning)
		repo := fmt.Sprintf("scan-push-%s-%d", name, i+1)
		res, ds, err := sr.pushDebianImages(ctx, repo)
		if err != nil {
			return out, fmt.Errorf("round %d (%s): %w", i+1, name, err)
		}
		res.Note = fmt.Sprintf("round %d: scan on push %s", i+1, name)
		rates = append(rates, res.Value)
		out = append(out, res)
		if !scanning {
			continue
		}
		pushed[sr.repo(repo)] = ds
		// The next window starts once the backlog is drained.
		d, err := on.drain(ctx)
		if err != nil {
			return out, fmt.Errorf("round %d: %w", i+1, err)
		}
		d.Ops = int64(len(ds))
		d.Note = fmt.Sprintf("round %d's backlog scanned after its pushes stopped", i+1)
		if d.ServerCPU != nil && *d.ServerCPU > 0 {
			per := float64(len(ds)) / *d.ServerCPU
			d.PerCPU, d.PerCPUUnit = &per, "images/cpu-s"
		}
		drained = append(drained, d)
	}
	out = append(out, drained...)
	out = append(out, scanPushSummary(out[:len(scanPushOrder)], rates, drained))

	scanned, err := c2.checkScanned(ctx, pushed)
	if err != nil {
		return out, err
	}
	out[len(out)-1].Note += fmt.Sprintf("; all %d images pushed to the scanning server were scanned", scanned)
	return out, nil
}

// scanPushSummary is the result comparing the rounds: on/off over all of
// them (the value), per pair of rounds, and in server CPU per image.
func scanPushSummary(rounds []Result, rates []float64, drained []Result) Result {
	var on, off float64
	for i, scanning := range scanPushOrder {
		if scanning {
			on += rates[i]
		} else {
			off += rates[i]
		}
	}
	res := Result{Scenario: "scan-push", Unit: "% on/off"}
	if off > 0 {
		res.Value = 100 * on / off
	}
	// ABBA: round 2 is compared with round 1, round 3 with round 4.
	notes := []string{fmt.Sprintf("rounds 2/1 %.0f%%, 3/4 %.0f%%", 100*rates[1]/rates[0], 100*rates[2]/rates[3])}
	cpuPerImage := func(scanning bool) (float64, bool) {
		var cpu float64
		var n int64
		for i, s := range scanPushOrder {
			if s != scanning {
				continue
			}
			if rounds[i].ServerCPU == nil {
				return 0, false
			}
			cpu += *rounds[i].ServerCPU
			n += rounds[i].Ops
		}
		return 1000 * cpu / float64(n), n > 0
	}
	offCPU, ok1 := cpuPerImage(false)
	onCPU, ok2 := cpuPerImage(true)
	if ok1 && ok2 {
		notes = append(notes, fmt.Sprintf("server CPU per image pushed: off %.2f ms, on %.2f ms (%+.0f%%)", offCPU, onCPU, 100*(onCPU/offCPU-1)))
	}
	var drainCPU float64
	var scanned int64
	for _, d := range drained {
		if d.ServerCPU == nil {
			scanned = 0
			break
		}
		drainCPU += *d.ServerCPU
		scanned += d.Ops
	}
	if scanned > 0 {
		notes = append(notes, fmt.Sprintf("then %.2f ms per image scanned after the pushes", 1000*drainCPU/float64(scanned)))
	}
	res.Note = strings.Join(notes, "; ")
	return res
}

// drain waits until the scanning server's backlog is empty and returns how
// long that took, with the server's CPU meanwhile.
func (r *runner) drain(ctx context.Context) (Result, error) {
	w, err := r.measure(func() error {
		ctx, cancel := context.WithTimeout(ctx, drainTimeout)
		defer cancel()
		for {
			b, err := r.client.scanBacklog(ctx)
			if err != nil {
				return err
			}
			if b.empty() {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the scanning server's backlog was not drained after %s: %+v", drainTimeout, b)
			case <-time.After(drainPoll):
			}
		}
	})
	if err != nil {
		return Result{}, err
	}
	res := Result{Scenario: "scan-push-drain", Value: w.elapsed.Seconds(), Unit: "s", Seconds: w.elapsed.Seconds()}
	if w.hasCPU {
		cpu := w.cpu
		res.ServerCPU = &cpu
	}
	return res, nil
}

// backlog is the wharf_scan_backlog a scanning server exports.
type backlog struct{ noted, queued, running float64 }

func (b backlog) empty() bool { return b.noted == 0 && b.queued == 0 && b.running == 0 }

// scanBacklog reads wharf_scan_backlog from the server's /metrics.
func (c *Client) scanBacklog(ctx context.Context) (backlog, error) {
	u := *c.base
	u.Path = c.base.Path + "/metrics"
	req, err := c.newRequest(ctx, "GET", &u, nil, 0)
	if err != nil {
		return backlog{}, err
	}
	resp, err := c.do(req, 200)
	if err != nil {
		return backlog{}, fmt.Errorf("scan backlog: %w", err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		return backlog{}, fmt.Errorf("scan backlog: %w", err)
	}
	b, err := parseScanBacklog(body.String())
	if err != nil {
		return backlog{}, fmt.Errorf("scan backlog of %s: %w", u.Redacted(), err)
	}
	return b, nil
}

// parseScanBacklog reads the wharf_scan_backlog series of a Prometheus
// text exposition.
func parseScanBacklog(exposition string) (backlog, error) {
	var b backlog
	seen := map[string]bool{}
	for line := range strings.SplitSeq(exposition, "\n") {
		rest, ok := strings.CutPrefix(line, `wharf_scan_backlog{state="`)
		if !ok {
			continue
		}
		state, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			return b, fmt.Errorf("unexpected line %q", line)
		}
		var v float64
		if _, err := fmt.Sscan(value, &v); err != nil {
			return b, fmt.Errorf("line %q: %w", line, err)
		}
		switch state {
		case "noted":
			b.noted = v
		case "queued":
			b.queued = v
		case "running":
			b.running = v
		default:
			continue
		}
		seen[state] = true
	}
	if len(seen) != 3 {
		return b, fmt.Errorf("no wharf_scan_backlog with noted, queued and running: is it a wharf with scanning.onPush?")
	}
	return b, nil
}

// checkScanned asks the management API for the scan of every image pushed
// (by repository) and returns how many there were; an image not scanned,
// or whose scan failed, is an error.
func (c *Client) checkScanned(ctx context.Context, pushed map[string][]digest.Digest) (int, error) {
	type image struct {
		repo string
		d    digest.Digest
	}
	var all []image
	for repo, ds := range pushed {
		for _, d := range ds {
			all = append(all, image{repo, d})
		}
	}
	var mu sync.Mutex
	bad := map[string]int{}
	var example string
	err := forEach(ctx, len(all), smallImageConcurrency, func(ctx context.Context, i int) error {
		img := all[i]
		u := *c.base
		u.Path = c.base.Path + "/api/v1/repositories/" + img.repo + "/scans/" + img.d.String()
		req, err := c.newRequest(ctx, "GET", &u, nil, 0)
		if err != nil {
			return err
		}
		resp, err := c.do(req, 200)
		if err != nil {
			return fmt.Errorf("scan of %s@%s: %w", img.repo, img.d, err)
		}
		defer resp.Body.Close()
		var scan struct {
			Manifests []struct {
				Status string `json:"status"`
				Error  string `json:"error"`
			} `json:"manifests"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&scan); err != nil {
			return fmt.Errorf("scan of %s@%s: %w", img.repo, img.d, err)
		}
		status, why := "missing", ""
		if len(scan.Manifests) == 1 {
			status, why = scan.Manifests[0].Status, scan.Manifests[0].Error
		}
		if status != "scanned" {
			mu.Lock()
			bad[status]++
			if example == "" {
				example = fmt.Sprintf("%s@%s is %s %s", img.repo, img.d, status, why)
			}
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(bad) > 0 {
		return 0, fmt.Errorf("of %d images pushed to the scanning server, not scanned: %v (%s)", len(all), bad, strings.TrimSpace(example))
	}
	return len(all), nil
}

// pushDebianImages pushes small Debian images to repository name for the
// run's duration, and returns the rate and the images' digests.
func (r *runner) pushDebianImages(ctx context.Context, name string) (Result, []digest.Digest, error) {
	repo := r.repo(name)
	pushed := make([][]digest.Digest, smallImageConcurrency)
	n := 0
	w, err := r.measure(func() error {
		ls, err := closedLoop(ctx, smallImageConcurrency, r.opts.Duration, func(ctx context.Context, worker, i int) error {
			img, err := debianImage(fmt.Sprintf("%s-%s-%d-%d", r.nonce, name, worker, i))
			if err != nil {
				return err
			}
			if err := img.push(ctx, r.client, repo, fmt.Sprintf("w%02d-%06d", worker, i)); err != nil {
				return err
			}
			pushed[worker] = append(pushed[worker], img.digest)
			return nil
		})
		n = len(ls)
		return err
	})
	if err != nil {
		return Result{}, nil, err
	}
	var ds []digest.Digest
	for _, p := range pushed {
		ds = append(ds, p...)
	}
	return rateResult("scan-push", smallImageConcurrency, int64(n), float64(n), "images", w), ds, nil
}

// pushDebianImagesN pushes n small Debian images to repository name,
// untimed, and returns their digests.
func (r *runner) pushDebianImagesN(ctx context.Context, name string, n int) ([]digest.Digest, error) {
	repo := r.repo(name)
	ds := make([]digest.Digest, n)
	err := forEach(ctx, n, smallImageConcurrency, func(ctx context.Context, i int) error {
		img, err := debianImage(fmt.Sprintf("%s-%s-%d", r.nonce, name, i))
		if err != nil {
			return err
		}
		ds[i] = img.digest
		return img.push(ctx, r.client, repo, fmt.Sprintf("i%06d", i))
	})
	return ds, err
}

// debianImage is an image with one uncompressed layer: Debian 12's
// os-release, a dpkg database of 100 packages, and a file holding id.
func debianImage(id string) (*image, error) {
	var status strings.Builder
	for i := range 100 {
		fmt.Fprintf(&status, "Package: pkg%03d\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.%d-1\nSource: src%03d\nDescription: p\n\n", i, rand.IntN(9), i)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct{ name, body string }{
		{"etc/os-release", "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"},
		{"var/lib/dpkg/status", status.String()},
		{"etc/bench-id", id},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer := buf.Bytes()
	ld := digest.FromBytes(layer)
	config, err := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{ld}}})
	if err != nil {
		return nil, err
	}
	m := imageManifest{SchemaVersion: 2, MediaType: mediaTypeImageManifest,
		Config: descriptor{MediaType: mediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers: []descriptor{{MediaType: mediaTypeLayerTar, Digest: ld, Size: int64(len(layer))}}}
	img := &image{blobs: [][]byte{config, layer}, digests: []digest.Digest{m.Config.Digest, ld}}
	if img.manifest, err = json.Marshal(m); err != nil {
		return nil, err
	}
	img.digest = digest.FromBytes(img.manifest)
	return img, nil
}
