package bench

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/opencontainers/go-digest"
)

// scanPush compares the small-image push rate of the registry under test
// with that of a second one (Options.ScanOnPushURL) that scans every image
// pushed, in alternating windows so that the machine's load weighs on both
// alike. Each image has a real layer, a Debian os-release and a dpkg
// database of 100 packages, so that each scan extracts and matches. The
// scenario runs only with the second registry.
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
	on.client, on.cpu = c2, nil // the PIDs are the first registry's
	var out []Result
	rates := map[string][]float64{}
	for round := range 2 {
		for _, side := range []struct {
			name string
			r    *runner
		}{{"off", r}, {"on", &on}} {
			res, err := side.r.pushDebianImages(ctx, fmt.Sprintf("scan-push-%s-%d", side.name, round))
			if err != nil {
				return out, fmt.Errorf("%s: %w", side.name, err)
			}
			res.Note = "scan on push " + side.name
			rates[side.name] = append(rates[side.name], res.Value)
			out = append(out, res)
		}
	}
	sum := func(xs []float64) float64 {
		t := 0.0
		for _, x := range xs {
			t += x
		}
		return t
	}
	if off := sum(rates["off"]); off > 0 {
		out[len(out)-1].Note += fmt.Sprintf("; on/off %.0f%%", 100*sum(rates["on"])/off)
	}
	return out, nil
}

// pushDebianImages pushes small Debian images for the run's duration.
func (r *runner) pushDebianImages(ctx context.Context, name string) (Result, error) {
	repo := r.repo(name)
	n := 0
	w, err := r.measure(func() error {
		ls, err := closedLoop(ctx, smallImageConcurrency, r.opts.Duration, func(ctx context.Context, worker, i int) error {
			img, err := debianImage(fmt.Sprintf("%s-%d-%d", r.nonce, worker, i))
			if err != nil {
				return err
			}
			return img.push(ctx, r.client, repo, fmt.Sprintf("w%02d-%06d", worker, i))
		})
		n = len(ls)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	return rateResult("scan-push", smallImageConcurrency, int64(n), float64(n), "images", w), nil
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
