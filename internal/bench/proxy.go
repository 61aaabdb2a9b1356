package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"
)

// proxyRounds is how many blobs the proxy-pull scenario pulls each way;
// the median is reported, so that one disturbed round on a shared machine
// does not decide the figure.
const proxyRounds = 3

// proxyPull measures a pull-through cache (docs/proxy.md). It needs
// Options.UpstreamURL, the registry a proxy namespace of the measured
// registry (Options.ProxyNamespace) mirrors. For each of proxyRounds fresh
// blobs of the configured size, pushed to the upstream untimed, it times,
// one after the other: a GET from the upstream directly, the first GET
// through the cache (cold: the cache fetches the blob from the upstream as
// it streams it, and stores it), a second GET through the cache (warm:
// from the cache's store) and, to compare the warm pull with, a local
// pull: the blob pushed to the measured registry itself (untimed) and its
// first GET there. Every GET hashes what it reads.
func (r *runner) proxyPull(ctx context.Context) ([]Result, error) {
	if r.opts.UpstreamURL == "" || r.opts.ProxyNamespace == "" {
		r.logf("proxy-pull: skipped: no --upstream-url and --proxy-namespace")
		return nil, nil
	}
	up, err := NewClient(r.opts.UpstreamURL, r.opts.UpstreamUsername, r.opts.UpstreamPassword)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	repo := r.repo("proxy-" + r.nonce)
	cached := r.opts.ProxyNamespace + "/" + repo
	local := r.repo("proxy-local-" + r.nonce)
	var direct, cold, warm, here []window
	for round := range proxyRounds {
		b, err := r.newBigBlob()
		if err != nil {
			return nil, err
		}
		err = func() error {
			defer b.remove()
			f, err := os.Open(b.path)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := up.PushBlob(ctx, repo, b.digest.String(), f, b.size); err != nil {
				return fmt.Errorf("setup: push to the upstream: %w", err)
			}
			for _, step := range []struct {
				c    *Client
				repo string
				to   *[]window
			}{{up, repo, &direct}, {r.client, cached, &cold}, {r.client, cached, &warm}, {r.client, local, &here}} {
				if step.to == &here {
					if err := r.pushBlobFile(ctx, local, b); err != nil {
						return fmt.Errorf("setup: push to the registry: %w", err)
					}
				}
				v := newVerifier(b.digest, b.size)
				w, err := r.measure(func() error {
					n, err := step.c.GetBlob(ctx, step.repo, b.digest.String(), v)
					if err != nil {
						return err
					}
					return v.check(n)
				})
				if err != nil {
					return err
				}
				*step.to = append(*step.to, w)
			}
			return nil
		}()
		if err != nil {
			return nil, err
		}
		r.logf("  round %d: upstream %s, cold %s, warm %s, local %s", round+1, direct[round].elapsed.Round(time.Millisecond),
			cold[round].elapsed.Round(time.Millisecond), warm[round].elapsed.Round(time.Millisecond), here[round].elapsed.Round(time.Millisecond))
	}
	d, c, w, l := median(direct), median(cold), median(warm), median(here)
	res := []Result{
		r.transferResult("proxy-upstream-pull", r.opts.Size, d, fmt.Sprintf("GET from the upstream directly; median of %d", proxyRounds)),
		r.transferResult("proxy-cold-pull", r.opts.Size, c, fmt.Sprintf("first GET through the cache; median of %d; %.0f%% of the upstream's", proxyRounds,
			100*d.elapsed.Seconds()/c.elapsed.Seconds())),
		r.transferResult("proxy-warm-pull", r.opts.Size, w, fmt.Sprintf("second GET, from the cache; median of %d; %.0f%% of proxy-local-pull's", proxyRounds,
			100*l.elapsed.Seconds()/w.elapsed.Seconds())),
		r.transferResult("proxy-local-pull", r.opts.Size, l, fmt.Sprintf("first GET of the same blob pushed to this registry; median of %d", proxyRounds)),
	}
	// The upstream's CPU is not this registry's.
	res[0].ServerCPU, res[0].PerCPU, res[0].PerCPUUnit = nil, nil, ""
	return res, nil
}

// median returns the window of median duration.
func median(ws []window) window {
	s := slices.Clone(ws)
	slices.SortFunc(s, func(a, b window) int { return int(a.elapsed - b.elapsed) })
	return s[len(s)/2]
}

// pushBlobFile pushes blob b to repo of the measured registry.
func (r *runner) pushBlobFile(ctx context.Context, repo string, b *blobFile) error {
	f, err := os.Open(b.path)
	if err != nil {
		return err
	}
	defer f.Close()
	return r.client.PushBlob(ctx, repo, b.digest.String(), f, b.size)
}
