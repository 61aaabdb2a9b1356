// Package bench is `wharf bench`: it measures a registry from the outside,
// through the OCI distribution HTTP API alone, so the same run can be pointed
// at wharf or at any other registry (anonymous or with basic auth, over plain
// HTTP or TLS) and the numbers compared.
//
// Every scenario times only its own requests; setup (generating blobs,
// pushing the images a read scenario reads) happens before the clock starts.
// A registry error aborts the scenario with the status and body: a benchmark
// that counts error responses as work measures nothing.
package bench

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Options configures a run of the benchmark.
type Options struct {
	URL      string        // registry base URL, such as http://127.0.0.1:5000
	PIDs     []int         // server processes (one per replica) to charge CPU time to; none to skip
	Size     int64         // bytes in each big blob
	Duration time.Duration // length of each request-rate measurement
	Only     []string      // scenarios to run; empty for all
	// RepoPrefix is the first path component of every repository the run
	// writes to.
	RepoPrefix string
	Username   string
	Password   string
	TempDir    string    // where big blobs are written; "" for os.TempDir
	Log        io.Writer // progress lines; nil for none
	// GCCommand is a shell command that runs one garbage collection of the
	// registry and prints `wharf gc --json`'s report; the gc scenario is
	// skipped without it. GCWait is how long the garbage it uploads takes
	// to become due (the server's gc.unreferencedGrace).
	GCCommand string
	GCWait    time.Duration
	// ReplicateTo is the base URL of a registry the replicate scenario
	// replicates to from the registry under test (a wharf), with
	// ReplicateUsername and ReplicatePassword; the scenario is skipped
	// without it.
	ReplicateTo       string
	ReplicateUsername string
	ReplicatePassword string
	// ScanOnPushURL is the base URL of a second wharf like the one under
	// test but with scanning.onPush; the scan-push scenario compares their
	// push rates, and is skipped without it.
	ScanOnPushURL string
	// ScanOnPushPIDs are the second wharf's processes, to report their
	// CPU time as PIDs reports the first's.
	ScanOnPushPIDs []int
	// UpstreamURL is the registry that the measured registry's proxy
	// namespace ProxyNamespace mirrors (docs/proxy.md); the proxy-pull
	// scenario is skipped without them. UpstreamUsername and
	// UpstreamPassword are its basic auth, if any.
	UpstreamURL      string
	ProxyNamespace   string
	UpstreamUsername string
	UpstreamPassword string
	// WebhookListen is the address the webhook-push scenario's receivers
	// listen on, which the server must be allowed to reach; the scenario
	// is skipped without it.
	WebhookListen string
}

// scenario is one named measurement. run returns a result per measured
// configuration (one per concurrency level, for example).
type scenario struct {
	name string
	run  func(r *runner, ctx context.Context) ([]Result, error)
}

var scenarios = []scenario{
	{"push-monolithic", (*runner).pushMonolithic},
	{"push-chunked", (*runner).pushChunked},
	{"pull", (*runner).pull},
	{"pull-after-push", (*runner).pullAfterPush},
	{"small-image-push", (*runner).smallImagePush},
	{"webhook-push", (*runner).webhookPush},
	{"manifest-head", (*runner).manifestHead},
	{"manifest-get", (*runner).manifestGet},
	{"policy-pull", (*runner).policyPull},
	{"blob-head", (*runner).blobHead},
	{"tag-list", (*runner).tagList},
	{"catalog", (*runner).catalog},
	{"gc", (*runner).gcScenario},
	{"scan", (*runner).scanScenario},
	{"scan-push", (*runner).scanPush},
	{"replicate", (*runner).replicateScenario},
	{"proxy-pull", (*runner).proxyPull},
}

// ScenarioNames returns the names of all scenarios in the order they run.
func ScenarioNames() []string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.name
	}
	return names
}

// runner holds what the scenarios of one run share.
type runner struct {
	opts   Options
	client *Client
	cpu    *serverCPU // nil without a PID
	nonce  string     // makes this run's tags unique
	log    io.Writer

	bigBlob       *blobFile // pushed by push-monolithic, read by pull
	bigBlobPushed bool
	readImage     *image // the image the read scenarios read
}

// Run runs the selected scenarios against the registry and returns their
// results. A failed scenario is reported in its Result and the run goes on;
// Run itself fails only when the options are unusable.
func Run(ctx context.Context, opts Options) (*Report, error) {
	r, err := newRunner(opts)
	if err != nil {
		return nil, err
	}
	defer r.cleanup()
	report := &Report{URL: opts.URL, PIDs: opts.PIDs, Size: opts.Size, Duration: opts.Duration.String(), Started: time.Now().UTC()}
	for _, s := range scenarios {
		if len(opts.Only) > 0 && !slices.Contains(opts.Only, s.name) {
			continue
		}
		r.logf("%s ...", s.name)
		results, err := s.run(r, ctx)
		report.Results = append(report.Results, results...)
		if err != nil {
			report.Results = append(report.Results, Result{Scenario: s.name, Error: err.Error()})
		}
		if ctx.Err() != nil {
			return report, ctx.Err()
		}
	}
	return report, nil
}

func newRunner(opts Options) (*runner, error) {
	for _, name := range opts.Only {
		if !slices.Contains(ScenarioNames(), name) {
			return nil, fmt.Errorf("unknown scenario %q; scenarios are %s", name, strings.Join(ScenarioNames(), ", "))
		}
	}
	if opts.Size <= 0 {
		return nil, fmt.Errorf("size must be positive, not %d", opts.Size)
	}
	if opts.Duration <= 0 {
		return nil, fmt.Errorf("duration must be positive, not %s", opts.Duration)
	}
	if opts.RepoPrefix == "" {
		return nil, fmt.Errorf("repo prefix must not be empty")
	}
	c, err := NewClient(opts.URL, opts.Username, opts.Password)
	if err != nil {
		return nil, err
	}
	r := &runner{opts: opts, client: c, log: opts.Log}
	if r.log == nil {
		r.log = io.Discard
	}
	if len(opts.PIDs) > 0 {
		r.cpu = &serverCPU{pids: opts.PIDs}
		if _, err := r.cpu.ticks(); err != nil {
			return nil, fmt.Errorf("pid: %w", err)
		}
	}
	var nonce [4]byte
	for i := range nonce {
		nonce[i] = byte(rand.Uint32())
	}
	r.nonce = hex.EncodeToString(nonce[:])
	return r, nil
}

func (r *runner) cleanup() {
	if r.bigBlob != nil {
		r.bigBlob.remove()
	}
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "wharf bench: "+format+"\n", args...)
}

// repo names a repository under the run's prefix.
func (r *runner) repo(name string) string { return r.opts.RepoPrefix + "/" + name }

// window is what one timed section measured: wall time and CPU time on
// the client and, with a PID, CPU time in the server. The client's CPU
// matters beside the server's: on one machine, work the kernel does for a
// transfer (cold readahead behind sendfile, loopback's packet processing)
// may be charged to either side.
type window struct {
	elapsed      time.Duration
	cpu          float64
	hasCPU       bool
	clientCPU    float64
	hasClientCPU bool
}

// measure runs fn between two readings of the clock and the server's CPU.
func (r *runner) measure(fn func() error) (window, error) {
	var w window
	var before uint64
	if r.cpu != nil {
		var err error
		if before, err = r.cpu.ticks(); err != nil {
			return w, err
		}
	}
	clientBefore, _ := clientCPU()
	start := time.Now()
	err := fn()
	w.elapsed = time.Since(start)
	if err != nil {
		return w, err
	}
	if after, ok := clientCPU(); ok {
		w.clientCPU, w.hasClientCPU = after-clientBefore, true
	}
	if r.cpu != nil {
		after, err := r.cpu.ticks()
		if err != nil {
			return w, err
		}
		w.cpu, w.hasCPU = float64(after-before)/userHZ, true
	}
	return w, nil
}
