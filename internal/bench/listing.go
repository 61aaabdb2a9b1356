package bench

import (
	"context"
	"fmt"
	"slices"
	"time"
)

const (
	listSize     = 1000 // tags in the tag-list repository, repositories for catalog
	listRuns     = 20   // timed listings; the result is their median
	listPageSize = 1000 // the n asked for on the first page
	setupWorkers = 16
)

// tagList times listing a repository of 1,000 tags, following Link headers
// when the registry paginates.
func (r *runner) tagList(ctx context.Context) ([]Result, error) {
	repo := r.repo("tags")
	want := make([]string, listSize)
	for i := range want {
		want[i] = fmt.Sprintf("t%04d", i)
	}
	have, err := r.client.Tags(ctx, repo, listPageSize)
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("setup: %w", err)
	}
	if missing := missingNames(have.Names, want); len(missing) > 0 {
		r.logf("  pushing %d tags", len(missing))
		if err := r.pushTags(ctx, repo, missing); err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
	}
	return r.timeListing(ctx, "tag-list", "tags", want, func(ctx context.Context) (Listing, error) {
		return r.client.Tags(ctx, repo, listPageSize)
	})
}

// pushTags pushes one small image and then its manifest under every tag.
func (r *runner) pushTags(ctx context.Context, repo string, tags []string) error {
	img, err := newImage(newRNG(), 1<<10)
	if err != nil {
		return err
	}
	if err := img.push(ctx, r.client, repo, tags[0]); err != nil {
		return err
	}
	return forEach(ctx, len(tags)-1, setupWorkers, func(ctx context.Context, i int) error {
		return r.client.PutManifest(ctx, repo, tags[i+1], mediaTypeImageManifest, img.manifest)
	})
}

// catalog times listing every repository in the registry, with 1,000 of the
// run's own among them, following Link headers.
func (r *runner) catalog(ctx context.Context) ([]Result, error) {
	want := make([]string, listSize)
	for i := range want {
		want[i] = r.repo(fmt.Sprintf("catalog/r%04d", i))
	}
	have, err := r.client.Catalog(ctx, listPageSize)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	if missing := missingNames(have.Names, want); len(missing) > 0 {
		r.logf("  pushing an image to %d repositories", len(missing))
		img, err := newImage(newRNG(), 1<<10)
		if err != nil {
			return nil, err
		}
		err = forEach(ctx, len(missing), setupWorkers, func(ctx context.Context, i int) error {
			return img.push(ctx, r.client, missing[i], "latest")
		})
		if err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
	}
	return r.timeListing(ctx, "catalog", "repositories", want, func(ctx context.Context) (Listing, error) {
		return r.client.Catalog(ctx, listPageSize)
	})
}

// timeListing times listRuns complete listings, checking that each holds
// every name in want, and reports the median.
func (r *runner) timeListing(ctx context.Context, name, what string, want []string, list func(context.Context) (Listing, error)) ([]Result, error) {
	times := make([]time.Duration, 0, listRuns)
	var last Listing
	w, err := r.measure(func() error {
		for range listRuns {
			start := time.Now()
			l, err := list(ctx)
			if err != nil {
				return err
			}
			times = append(times, time.Since(start))
			if missing := missingNames(l.Names, want); len(missing) > 0 {
				return fmt.Errorf("listing of %d %s is missing %d of ours, such as %q", len(l.Names), what, len(missing), missing[0])
			}
			last = l
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(times)
	res := Result{
		Scenario: name, Concurrency: 1, Unit: "ms", Value: ms(percentile(times, 50)),
		P50Ms: ms(percentile(times, 50)), P99Ms: ms(percentile(times, 99)),
		Ops: listRuns, Seconds: w.elapsed.Seconds(),
		Note: fmt.Sprintf("median of %d; %d %s in %d page(s)", listRuns, len(last.Names), what, last.Pages),
	}
	res.setCPU(listRuns, "lists", w)
	return []Result{res}, nil
}

// missingNames returns the names in want that have does not hold.
func missingNames(have, want []string) []string {
	set := make(map[string]bool, len(have))
	for _, n := range have {
		set[n] = true
	}
	var missing []string
	for _, n := range want {
		if !set[n] {
			missing = append(missing, n)
		}
	}
	return missing
}
