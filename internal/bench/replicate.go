package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
)

// replicateScenario measures wharf's replication of an image of one big
// layer (the configured size) to another registry, against a single-stream
// push of a blob of the same size from this client to that registry: the
// ratio is what replication costs over a plain push. It needs the registry
// under test to be wharf, with the bench's credentials those of a system
// administrator (a replication rule is created, run and deleted), and
// Options.ReplicateTo. The replication is timed by the run's own start and
// end (startedAt, finishedAt), so the job's poll interval is not counted.
func (r *runner) replicateScenario(ctx context.Context) ([]Result, error) {
	if r.opts.ReplicateTo == "" {
		r.logf("  skipped: no --replicate-to registry")
		return nil, nil
	}
	target, err := NewClient(r.opts.ReplicateTo, r.opts.ReplicateUsername, r.opts.ReplicatePassword)
	if err != nil {
		return nil, fmt.Errorf("replicate-to: %w", err)
	}
	// The baseline: this client pushes a fresh blob to the target in one stream.
	base, err := r.newBigBlob()
	if err != nil {
		return nil, err
	}
	defer base.remove()
	f, err := os.Open(base.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	repo := r.repo("replicate-" + r.nonce)
	baseline, err := r.measure(func() error {
		return target.PushBlob(ctx, r.repo("replicate-baseline"), base.digest.String(), f, base.size)
	})
	if err != nil {
		return nil, fmt.Errorf("baseline push to the target: %w", err)
	}

	// The image to replicate: another fresh blob, so nothing of it is at
	// the target (untimed).
	img, err := r.newBigBlob()
	if err != nil {
		return nil, err
	}
	defer img.remove()
	if err := r.pushOneLayerImage(ctx, repo, "v1", img); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	remote := map[string]any{"url": target.base.Scheme + "://" + target.base.Host}
	if r.opts.ReplicateUsername != "" {
		remote["username"], remote["password"] = r.opts.ReplicateUsername, r.opts.ReplicatePassword
	}
	var rule struct {
		ID int64 `json:"id"`
	}
	if err := r.api(ctx, http.MethodPost, "/api/v1/replication/rules", map[string]any{
		"name": "bench-" + r.nonce, "enabled": true, "direction": "push", "remote": remote,
		"repositories": []string{repo}, "concurrency": 4,
	}, http.StatusCreated, &rule); err != nil {
		return nil, fmt.Errorf("create the replication rule (the bench user must be a system administrator of a wharf): %w", err)
	}
	ruleURL := "/api/v1/replication/rules/" + strconv.FormatInt(rule.ID, 10)
	defer func() {
		_ = r.api(context.WithoutCancel(ctx), http.MethodDelete, ruleURL, nil, http.StatusNoContent, nil)
	}()
	type run struct {
		ID         int64     `json:"id"`
		State      string    `json:"state"`
		StartedAt  time.Time `json:"startedAt"`
		FinishedAt time.Time `json:"finishedAt"`
		Bytes      int64     `json:"bytes"`
		Error      string    `json:"error"`
	}
	var rn run
	w, err := r.measure(func() error {
		if err := r.api(ctx, http.MethodPost, ruleURL+"/run", nil, http.StatusAccepted, &rn); err != nil {
			return err
		}
		for rn.State == "queued" || rn.State == "running" {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			if err := r.api(ctx, http.MethodGet, "/api/v1/replication/runs/"+strconv.FormatInt(rn.ID, 10), nil, http.StatusOK, &rn); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rn.State != "succeeded" || rn.Bytes < img.size {
		return nil, fmt.Errorf("replication run %d %s, %d bytes sent: %s", rn.ID, rn.State, rn.Bytes, rn.Error)
	}
	w.elapsed = rn.FinishedAt.Sub(rn.StartedAt)
	res := r.transferResult("replicate", img.size, w, "")
	bl := r.transferResult("replicate-baseline", base.size, baseline, "this client's single-stream push of a blob of the same size to the target")
	res.Note = fmt.Sprintf("a one-layer image to %s, timed by the run's start and end; %.0f%% of replicate-baseline", target.base.Host, 100*res.Value/bl.Value)
	return []Result{bl, res}, nil
}

// pushOneLayerImage pushes blob b as the layer of an image repo:tag.
func (r *runner) pushOneLayerImage(ctx context.Context, repo, tag string, b *blobFile) error {
	f, err := os.Open(b.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := r.client.PushBlob(ctx, repo, b.digest.String(), f, b.size); err != nil {
		return err
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	if err := r.client.PushBlob(ctx, repo, digest.FromBytes(cfg).String(), bytes.NewReader(cfg), int64(len(cfg))); err != nil {
		return err
	}
	m, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mediaTypeImageManifest,
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest.FromBytes(cfg), "size": len(cfg)},
		"layers": []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": b.digest, "size": b.size}},
	})
	if err != nil {
		return err
	}
	return r.client.PutManifest(ctx, repo, tag, mediaTypeImageManifest, m)
}

// api calls wharf's management API on the registry under test with the
// bench's credentials, sending in as JSON and decoding the answer into out.
func (r *runner) api(ctx context.Context, method, path string, in any, want int, out any) error {
	var body io.Reader
	var n int64
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, n = bytes.NewReader(b), int64(len(b))
	}
	u := *r.client.base
	u.Path = path
	req, err := r.client.newRequest(ctx, method, &u, body, n)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.do(req, want)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
