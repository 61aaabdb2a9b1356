// Package scanner is the registry's vulnerability scanning: it scans image
// manifests after they are pushed, on demand, and matches what it found
// again when the vulnerability data changes; it keeps the results and the
// allowlists in the metadata store, writes SBOMs and scan reports as OCI
// referrers, and answers the image policy's questions ([registry.Scans]).
//
// The work is done by package scan's libraries (imagefs, extract, osv,
// vulndb, sbom); this package joins them to the registry's stores:
//
//   - The queue is the scans table: a push notes the manifest in memory
//     and returns; a goroutine writes the notes in batches, and a bounded
//     pool of workers on every replica claims rows with a lease it renews
//     while it scans. A replica that dies leaves claims that lapse and are
//     taken again; a note lost in a crash is found by the sweep job, which
//     queues image manifests that have no scan. One manifest is scanned by
//     one worker of the cluster at a time.
//   - A scan reads the image's layers from the content store (or, when
//     the owner pushed one, an SPDX or CycloneDX referrer), keeps the
//     packages found, and matches them against the vulnerability data the
//     replica holds in memory ([vulndb.Live], reloaded when the pointer
//     moves). Bad input (a truncated layer, a bomb, a path escaping the
//     root) fails the scan with its reason; it is not retried.
//   - When new vulnerability data is loaded, the rematch job matches the
//     stored packages again, without reading a layer.
package scanner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/scan"
	"github.com/wharf-dev/wharf/internal/scan/extract"
	"github.com/wharf-dev/wharf/internal/scan/vulndb"
)

// Options configures a [Service]. Zero durations and counts take the
// defaults given.
type Options struct {
	Registry *registry.Registry
	Content  content.Store
	// Meta must implement meta.Scans.
	Meta   meta.Store
	Logger *slog.Logger
	// OnPush scans every image manifest pushed.
	OnPush bool
	// SBOMOnPush lists the SBOM formats ("spdx", "cyclonedx") written as
	// referrers after each scan of a pushed image.
	SBOMOnPush []string
	// Workers is how many scans run at once on this replica (2).
	Workers int
	// ScratchDir holds the files extractors read while a scan runs.
	ScratchDir string
	// Extract bounds what a scan may read (see extract.Options).
	Extract extract.Options
	// Lease is how long a claim lasts unless renewed (2 minutes); a
	// replica that died is noticed after it.
	Lease time.Duration
	// Poll is how often idle workers look for scans other replicas
	// queued (5 seconds).
	Poll time.Duration
	// PushYield is how long scans on push wait while pushes keep arriving
	// (5 seconds): then one worker runs one, and the replica waits again,
	// at least nine times as long as that scan took.
	PushYield time.Duration
	// RefreshInterval is how often the vulnerability data's pointer is
	// read, to load a new bundle (1 minute).
	RefreshInterval time.Duration
	// Tool names wharf in SBOMs ("wharf").
	Tool string
	// Hooks observe scans, for metrics and events.
	Hooks Hooks
}

// Hooks are called as scans end; nil hooks are skipped.
type Hooks struct {
	// Scanned is called when a scan ends, with its state (scanned,
	// failed, unsupported) and how long it took.
	Scanned func(repo string, d digest.Digest, state string, took time.Duration, counts meta.ScanCounts)
	// NewCritical is called when new vulnerability data finds critical
	// vulnerabilities in an image scanned before without them.
	NewCritical func(repo string, d digest.Digest, ids []string)
	// Loaded is called when a vulnerability bundle is loaded.
	Loaded func(ref vulndb.Ref)
}

// scanCompleted is the event of scan res that took took, by the scanner
// (actor system:scanner), with its findings counted by severity.
func scanCompleted(res meta.Scan, took time.Duration) events.Event {
	c := res.Counts
	vulns := map[string]int{}
	for sev, n := range map[string]int{"critical": c.Critical, "high": c.High, "medium": c.Medium, "low": c.Low, "unknown": c.Unknown} {
		if n > 0 {
			vulns[sev] = n
		}
	}
	ctx := events.WithActor(context.Background(), events.System("scanner"))
	return events.New(ctx, res.Repository, &events.ScanCompleted{Digest: res.Digest, Scanner: "wharf", Status: res.State,
		Vulnerabilities: vulns, Error: res.Error, Duration: took})
}

// Service scans and keeps scans. It is safe for concurrent use.
type Service struct {
	opts  Options
	reg   *registry.Registry
	store meta.Scans
	log   *slog.Logger
	live  *vulndb.Live
	vdb   VulnDB
	owner string // this replica's name in claims

	notes   chan meta.ScanRequest // pushes noted, not yet queued
	noted   atomic.Int64          // notes sent and not yet written to the queue
	pushed  atomic.Int64          // when the last push was noted, unix nanoseconds
	wake    chan struct{}         // a scan was queued
	mu      sync.Mutex
	waiters map[string][]chan struct{} // repo@digest -> ScanNow callers
}

// New returns a Service; Run starts its workers.
func New(o Options) (*Service, error) {
	st, ok := o.Meta.(meta.Scans)
	if !ok {
		return nil, fmt.Errorf("scanning: the metadata store %T keeps no scans", o.Meta)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.PushYield <= 0 {
		o.PushYield = maxYield
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = time.Minute
	}
	if o.Tool == "" {
		o.Tool = "wharf"
	}
	for _, f := range o.SBOMOnPush {
		if _, ok := sbomFormats[f]; !ok {
			return nil, fmt.Errorf("scanning: unknown SBOM format %q (spdx, cyclonedx)", f)
		}
	}
	if o.ScratchDir != "" {
		if err := os.MkdirAll(o.ScratchDir, 0o700); err != nil {
			return nil, fmt.Errorf("scanning: scratch directory: %w", err)
		}
	}
	o.Extract.ScratchDir = o.ScratchDir
	vdb := VulnDB{Content: o.Content, Meta: st}
	host, _ := os.Hostname()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Service{
		opts: o, reg: o.Registry, store: st, log: o.Logger.With("component", "scanner"),
		live: vulndb.NewLive(vdb, vdb), vdb: vdb, owner: host + "-" + hex.EncodeToString(b[:]),
		notes: make(chan meta.ScanRequest, 10000), wake: make(chan struct{}, 1),
		waiters: map[string][]chan struct{}{},
	}, nil
}

// VulnDB returns the stores of the vulnerability data, for an import.
func (s *Service) VulnDB() VulnDB { return s.vdb }

// Data returns the vulnerability data loaded, if any.
func (s *Service) Data() (vulndb.Ref, bool) {
	_, ref, ok := s.live.Index()
	return ref, ok
}

// Pushed notes that manifest d was pushed to repo, to scan it after the
// push is acknowledged: it never blocks, and a note dropped when the
// queue is full is found by the sweep. Anything but an image manifest is
// ignored.
func (s *Service) Pushed(repo string, d digest.Digest, m *oci.Manifest) {
	if !s.opts.OnPush || !isImage(m) {
		return
	}
	s.pushed.Store(time.Now().UnixNano())
	select {
	case s.notes <- meta.ScanRequest{Repository: repo, Digest: d}:
		s.noted.Add(1)
	default:
	}
}

// Backlog is what waits to be scanned.
type Backlog struct {
	// Noted counts the pushes this replica noted and has not written to
	// the queue yet (it does once a second).
	Noted int64
	// Queued and Running count the scans waiting for a worker and being
	// run, on every replica.
	Queued, Running int64
}

// Backlog returns what waits to be scanned; once all three counts are 0,
// every image pushed to this replica before the call was scanned.
func (s *Service) Backlog(ctx context.Context) (Backlog, error) {
	// Notes are counted before the queue: a note leaves the count only
	// after its row is written, so it is never missed from both.
	b := Backlog{Noted: s.noted.Load()}
	var err error
	b.Queued, b.Running, err = s.store.ScanBacklog(ctx)
	return b, err
}

const (
	// pushQuiet is how long after a push the scans it queued wait: while
	// pushes keep arriving, scans on push yield the CPU and the database
	// to them, and catch up when they stop.
	pushQuiet = 250 * time.Millisecond
	// noteBatchDelay is how long pushes are gathered before they are
	// queued in one transaction.
	noteBatchDelay = time.Second
	// maxYield bounds how long scans on push wait: under pushes that
	// never stop, one worker of the replica still scans one image every
	// maxYield (Options.PushYield), or every ten times as long as that
	// scan took if longer, so scans take at most a tenth of one core from
	// the pushes.
	maxYield = 5 * time.Second
	// yieldShare is that tenth: after a scan that took d, the replica
	// waits (yieldShare-1)*d.
	yieldShare = 10
)

// busy reports whether pushes are arriving.
func (s *Service) busy() bool {
	return time.Since(time.Unix(0, s.pushed.Load())) < pushQuiet
}

// isImage reports whether m is a container image manifest: OCI with an
// image configuration, or Docker schema 2.
func isImage(m *oci.Manifest) bool {
	if m == nil || m.IsIndex() || m.Config == nil {
		return false
	}
	c := m.Config.MediaType
	return c == "application/vnd.oci.image.config.v1+json" || c == "application/vnd.docker.container.image.v1+json"
}

// Run loads the vulnerability data and runs the workers until ctx is done,
// then waits for the scans in progress to stop.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.refreshLoop(ctx) })
	wg.Go(func() { s.queueNotes(ctx) })
	for i := range s.opts.Workers {
		wg.Go(func() { s.work(ctx, i == 0) })
	}
	wg.Wait()
}

func (s *Service) refreshLoop(ctx context.Context) {
	for {
		s.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.RefreshInterval):
		}
	}
}

// Refresh loads the current vulnerability bundle if it is not loaded.
func (s *Service) Refresh(ctx context.Context) {
	changed, err := s.live.Refresh(ctx)
	switch {
	case errors.Is(err, vulndb.ErrNoDatabase):
	case err != nil && ctx.Err() == nil:
		s.log.Warn("load vulnerability data", "err", err)
	case changed:
		_, ref, _ := s.live.Index()
		s.log.Info("vulnerability data loaded", "bundle", ref.Digest, "advisories", ref.Info.Advisories, "newest", ref.Info.Newest)
		if s.opts.Hooks.Loaded != nil {
			s.opts.Hooks.Loaded(ref)
		}
	}
}

// queueNotes writes the pushes noted to the queue, in batches.
func (s *Service) queueNotes(ctx context.Context) {
	for {
		var batch []meta.ScanRequest
		select {
		case <-ctx.Done():
			return
		case r := <-s.notes:
			batch = append(batch, r)
		}
		// Gather for up to a second: one transaction per batch, not per
		// push, on the database the pushes write to.
		gather := time.NewTimer(noteBatchDelay)
	more:
		for len(batch) < 500 {
			select {
			case r := <-s.notes:
				batch = append(batch, r)
			case <-gather.C:
				break more
			case <-ctx.Done():
				break more
			}
		}
		gather.Stop()
		_, err := s.store.EnqueueScans(ctx, time.Now(), batch...)
		s.noted.Add(-int64(len(batch)))
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("queue scans of pushed images (the sweep will queue them)", "images", len(batch), "err", err)
			}
			continue
		}
		s.signal()
	}
}

func (s *Service) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// work claims and runs scans until ctx is done. While pushes arrive it
// claims only scans asked for (on demand, a pull that waits); the floor
// worker (one per replica) also claims the scans of pushes, one after
// each yield: Options.PushYield, or yieldShare-1 times as long as its last
// scan took if longer.
func (s *Service) work(ctx context.Context, floor bool) {
	yielding := time.Time{}
	yieldFor := s.opts.PushYield
	for ctx.Err() == nil {
		now := time.Now()
		claim := meta.ScanClaim{Owner: s.owner, Now: now, Until: now.Add(s.opts.Lease), MaxAttempts: 3}
		if s.busy() {
			if yielding.IsZero() {
				yielding = now
			}
			if !floor || now.Sub(yielding) < yieldFor {
				claim.MinPriority = 1
			}
		}
		sc, ok, err := s.store.ClaimScan(ctx, claim)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("claim a scan", "err", err)
		}
		if ok {
			if claim.MinPriority == 0 {
				yielding = time.Time{}
			}
			s.signal() // another worker may find more
			start := time.Now()
			s.runClaimed(ctx, sc)
			if claim.MinPriority == 0 {
				yieldFor = max(s.opts.PushYield, (yieldShare-1)*time.Since(start))
			}
			continue
		}
		if claim.MinPriority > 0 {
			// Look again when the pushes may have stopped; the wake-ups
			// each batch of pushes sends are not waited for.
			select {
			case <-ctx.Done():
			case <-time.After(pushQuiet):
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-time.After(s.opts.Poll):
		}
	}
}

// runClaimed scans a claimed manifest, renewing the claim meanwhile, and
// stores the result. A scan that could not finish for a reason other than
// its input (a store unreachable, shutdown) is left to its lease: another
// worker takes it when the lease lapses.
func (s *Service) runClaimed(ctx context.Context, sc meta.Scan) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.renew(ctx, cancel, sc)
	start := time.Now()
	res, err := s.scanManifest(ctx, sc.Repository, sc.Digest)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("scan interrupted; it will be retried", "repository", sc.Repository, "digest", sc.Digest, "err", err)
		}
		return
	}
	res.Repository, res.Digest, res.FinishedAt = sc.Repository, sc.Digest, time.Now()
	took := time.Since(start)
	// The result and its scan.completed event commit together.
	e := scanCompleted(res, took)
	stored := context.WithoutCancel(ctx)
	err = s.opts.Meta.Update(stored, func(tx meta.Tx) error {
		if err := tx.FinishScan(stored, s.owner, res); err != nil {
			return err
		}
		return events.Append(stored, tx, e)
	})
	if err != nil {
		s.log.Warn("store scan", "repository", sc.Repository, "digest", sc.Digest, "err", err)
		return
	}
	s.reg.Invalidate(sc.Repository)
	s.wakeWaiters(sc.Repository, sc.Digest)
	s.log.Info("scanned", "repository", sc.Repository, "digest", sc.Digest, "state", res.State, "took", took,
		"critical", res.Counts.Critical, "high", res.Counts.High, "error", res.Error)
	if s.opts.Hooks.Scanned != nil {
		s.opts.Hooks.Scanned(sc.Repository, sc.Digest, res.State, took, res.Counts)
	}
	if res.State == meta.ScanScanned && len(s.opts.SBOMOnPush) > 0 && res.Source == sourceLayers {
		for _, f := range s.opts.SBOMOnPush {
			if _, err := s.writeSBOM(context.WithoutCancel(ctx), sc.Repository, sc.Digest, f, res.Packages); err != nil {
				s.log.Warn("write SBOM", "repository", sc.Repository, "digest", sc.Digest, "format", f, "err", err)
			}
		}
	}
}

// renew extends the claim every third of the lease; when the claim is
// lost (the lease lapsed and another worker took it), the scan stops.
func (s *Service) renew(ctx context.Context, cancel context.CancelFunc, sc meta.Scan) {
	t := time.NewTicker(s.opts.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := s.store.RenewScan(ctx, sc.Repository, sc.Digest, s.owner, time.Now().Add(s.opts.Lease))
			if errors.Is(err, meta.ErrConflict) {
				s.log.Warn("scan claim lost; stopping", "repository", sc.Repository, "digest", sc.Digest)
				cancel()
				return
			}
		}
	}
}

func waitKey(repo string, d digest.Digest) string { return repo + "@" + d.String() }

func (s *Service) wakeWaiters(repo string, d digest.Digest) {
	s.mu.Lock()
	ws := s.waiters[waitKey(repo, d)]
	delete(s.waiters, waitKey(repo, d))
	s.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// severityCounts counts findings as the store keeps them.
func severityCounts(fs []scan.Finding) (meta.ScanCounts, string) {
	sum := scan.Summarize(fs)
	return meta.ScanCounts{Critical: sum.Critical, High: sum.High, Medium: sum.Medium, Low: sum.Low,
		Unknown: sum.Unknown, Fixable: sum.Fixable}, string(scan.Highest(fs))
}
