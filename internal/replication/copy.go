package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/remote"
)

// copier copies artifacts from a source to a target by digest: a manifest
// with everything it references (an index's children, an image's config
// and layers) and its referrers closure (signatures, SBOMs, attestations,
// and the tags cosign names after a digest), so that the copy has the same
// digests and signatures stay valid. A blob is sent only when the target
// holds it nowhere it can mount it from; concurrent copies of one blob
// wait for each other. One copier serves one run.
type copier struct {
	src   source
	dst   target
	sem   chan struct{} // bounds the blob uploads in flight
	limit *rate.Limiter // nil: no bandwidth limit
	sent  atomic.Int64  // blob bytes sent by the run

	mu       sync.Mutex
	placed   map[digest.Digest]string        // a target repository this run put blob d in
	inflight map[digest.Digest]chan struct{} // closed when the upload of d ends
}

func newCopier(src source, dst target, concurrency int, bandwidth int64) *copier {
	c := &copier{src: src, dst: dst, sem: make(chan struct{}, concurrency),
		placed: map[digest.Digest]string{}, inflight: map[digest.Digest]chan struct{}{}}
	if bandwidth > 0 {
		c.limit = rate.NewLimiter(rate.Limit(bandwidth), int(min(max(bandwidth/10, 32<<10), 4<<20)))
	}
	return c
}

// artifact is one manifest a run copies: srcRepo's reference (a tag or a
// digest) to dstRepo under the same reference.
type artifact struct {
	srcRepo, dstRepo string
	ref              string
	// attachments are the source repository's tags named after a
	// manifest digest (sha256-<hex>.sig), by that digest's hex.
	attachments map[string][]string
	// change: the artifact is a change an event named, which may be gone
	// from the source by now.
	change bool
}

// outcome is what copying an artifact did.
type outcome struct {
	digest    digest.Digest
	written   bool // anything was written: a manifest, a tag, a referrer
	blobsSent int
	blobsHeld int // present at the target already, or mounted there
	bytes     int64
	referrers int
}

// reason says what the copy did, for the run's log.
func (o outcome) reason() string {
	if !o.written {
		return "already at the destination"
	}
	var parts []string
	if o.blobsSent > 0 {
		parts = append(parts, fmt.Sprintf("%d blobs sent", o.blobsSent))
	}
	if o.blobsHeld > 0 {
		parts = append(parts, fmt.Sprintf("%d already there or mounted", o.blobsHeld))
	}
	if o.referrers > 0 {
		parts = append(parts, fmt.Sprintf("%d referrers", o.referrers))
	}
	if len(parts) == 0 {
		return "manifest or tag written"
	}
	return strings.Join(parts, ", ")
}

// walk is the state of copying one artifact.
type walk struct {
	c       *copier
	a       artifact
	out     outcome
	mu      sync.Mutex
	visited map[digest.Digest]bool
	writes  int // manifests written
}

// copyArtifact copies a and its referrers closure.
func (c *copier) copyArtifact(ctx context.Context, a artifact) (outcome, error) {
	w := &walk{c: c, a: a, visited: map[digest.Digest]bool{}}
	desc, payload, err := c.src.Manifest(ctx, a.srcRepo, a.ref)
	if err != nil {
		return w.out, fmt.Errorf("read %s:%s: %w", a.srcRepo, a.ref, err)
	}
	w.out.digest = desc.Digest
	tag := ""
	if _, err := digest.Parse(a.ref); err != nil {
		tag = a.ref
	}
	if err := w.manifest(ctx, desc, payload, tag); err != nil {
		return w.out, err
	}
	return w.out, nil
}

// manifest copies manifest desc (payload) and what it references unless
// the target holds it, points tag at it, and copies its referrers.
func (w *walk) manifest(ctx context.Context, desc oci.Descriptor, payload []byte, tag string) error {
	w.mu.Lock()
	seen := w.visited[desc.Digest]
	w.visited[desc.Digest] = true
	w.mu.Unlock()
	if seen && tag == "" {
		return nil
	}
	m, err := oci.ParseManifest(desc.MediaType, payload)
	if err != nil {
		return fmt.Errorf("manifest %s of %s: %w", desc.Digest, w.a.srcRepo, err)
	}
	ref := desc.Digest.String()
	if tag != "" {
		ref = tag
	}
	at, err := w.c.dst.ManifestDigest(ctx, w.a.dstRepo, ref)
	if err != nil {
		return fmt.Errorf("check %s:%s at the destination: %w", w.a.dstRepo, ref, err)
	}
	if at != desc.Digest {
		held := false
		if tag != "" {
			d, err := w.c.dst.ManifestDigest(ctx, w.a.dstRepo, desc.Digest.String())
			if err != nil {
				return fmt.Errorf("check %s@%s at the destination: %w", w.a.dstRepo, desc.Digest, err)
			}
			held = d == desc.Digest
		}
		if !held {
			if err := w.contents(ctx, m); err != nil {
				return err
			}
		}
		if err := w.c.dst.PutManifest(ctx, w.a.dstRepo, tag, desc, payload); err != nil {
			return fmt.Errorf("write %s:%s: %w", w.a.dstRepo, ref, err)
		}
		w.mu.Lock()
		w.out.written = true
		w.writes++
		w.mu.Unlock()
	}
	if err := w.referrers(ctx, desc.Digest); err != nil {
		return err
	}
	for _, child := range m.Manifests {
		if err := w.referrers(ctx, child.Digest); err != nil {
			return err
		}
	}
	return nil
}

// contents copies an index's children or an image's blobs.
func (w *walk) contents(ctx context.Context, m *oci.Manifest) error {
	for _, child := range m.Manifests {
		d, p, err := w.c.src.Manifest(ctx, w.a.srcRepo, child.Digest.String())
		if err != nil {
			return fmt.Errorf("read %s@%s: %w", w.a.srcRepo, child.Digest, err)
		}
		if err := w.manifest(ctx, d, p, ""); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, b := range m.Blobs() {
		if oci.IsNonDistributable(b.MediaType) {
			continue // foreign layers stay where their URLs say
		}
		g.Go(func() error { return w.blob(gctx, b) })
	}
	return g.Wait()
}

// referrers copies the manifests whose subject is d, and the tags named
// after d, with their own referrers.
func (w *walk) referrers(ctx context.Context, d digest.Digest) error {
	refs, err := w.c.src.Referrers(ctx, w.a.srcRepo, d)
	if err != nil {
		return fmt.Errorf("list the referrers of %s@%s: %w", w.a.srcRepo, d, err)
	}
	for _, r := range refs {
		desc, payload, err := w.c.src.Manifest(ctx, w.a.srcRepo, r.Digest.String())
		if errors.Is(err, errAbsent) {
			continue // deleted since it was listed
		}
		if err != nil {
			return fmt.Errorf("read referrer %s@%s: %w", w.a.srcRepo, r.Digest, err)
		}
		if err := w.referrer(ctx, desc, payload, ""); err != nil {
			return err
		}
	}
	for _, tag := range w.a.attachments[d.Encoded()] {
		if !strings.Contains(tag, ".") {
			continue // the referrers API's fallback tag: its entries were copied above
		}
		desc, payload, err := w.c.src.Manifest(ctx, w.a.srcRepo, tag)
		if errors.Is(err, errAbsent) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s:%s: %w", w.a.srcRepo, tag, err)
		}
		if err := w.referrer(ctx, desc, payload, tag); err != nil {
			return err
		}
	}
	return nil
}

// referrer copies a referrer (or an attachment tag) and counts it when
// the copy wrote anything of it.
func (w *walk) referrer(ctx context.Context, desc oci.Descriptor, payload []byte, tag string) error {
	w.mu.Lock()
	before := w.writes
	w.mu.Unlock()
	if err := w.manifest(ctx, desc, payload, tag); err != nil {
		return err
	}
	w.mu.Lock()
	if w.writes > before {
		w.out.referrers++
	}
	w.mu.Unlock()
	return nil
}

// blob makes blob desc readable in the target repository: nothing if it
// is there, a mount if the target holds it elsewhere, an upload otherwise.
func (w *walk) blob(ctx context.Context, desc oci.Descriptor) error {
	sent, err := w.c.blob(ctx, w.a.srcRepo, w.a.dstRepo, desc)
	w.mu.Lock()
	defer w.mu.Unlock()
	if sent {
		w.out.blobsSent++
		w.out.bytes += desc.Size
	} else if err == nil {
		w.out.blobsHeld++
	}
	return err
}

func (c *copier) blob(ctx context.Context, srcRepo, dstRepo string, desc oci.Descriptor) (bool, error) {
	d := desc.Digest
	for {
		c.mu.Lock()
		wait, busy := c.inflight[d]
		if !busy {
			c.inflight[d] = make(chan struct{})
		}
		c.mu.Unlock()
		if !busy {
			break
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	defer func() {
		c.mu.Lock()
		close(c.inflight[d])
		delete(c.inflight, d)
		c.mu.Unlock()
	}()
	ok, err := c.dst.HasBlob(ctx, dstRepo, d)
	if err != nil {
		return false, fmt.Errorf("check blob %s of %s at the destination: %w", d, dstRepo, err)
	}
	if ok {
		return false, nil
	}
	c.mu.Lock()
	from := c.placed[d]
	c.mu.Unlock()
	for i, f := range []string{from, ""} {
		if i == 0 && (f == "" || f == dstRepo) {
			continue // nowhere known: ask for a mount from anywhere
		}
		ok, err := c.dst.MountBlob(ctx, dstRepo, f, d)
		if err != nil {
			return false, fmt.Errorf("mount blob %s into %s: %w", d, dstRepo, err)
		}
		if ok {
			return false, nil
		}
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-c.sem }()
	rc, err := c.src.OpenBlob(ctx, srcRepo, desc)
	if err != nil {
		return false, fmt.Errorf("read blob %s of %s: %w", d, srcRepo, err)
	}
	defer rc.Close()
	if err := c.dst.PutBlob(ctx, dstRepo, desc, c.meter(ctx, rc)); err != nil {
		return false, fmt.Errorf("send blob %s to %s: %w", d, dstRepo, err)
	}
	c.mu.Lock()
	c.placed[d] = dstRepo
	c.mu.Unlock()
	return true, nil
}

// meter counts the bytes read through r into the run's total and holds
// them to the bandwidth limit. The reader it returns seeks if r does (an
// upload that failed goes on from what the target acknowledged), and,
// without a bandwidth limit, lets r send itself if it can (the fs store's
// blobs: sendfile or direct reads, see remote.Sender); with a limit every
// byte goes through Read, which waits for the limiter.
func (c *copier) meter(ctx context.Context, r io.Reader) io.Reader {
	m := &meteredReader{ctx: ctx, r: r, c: c}
	if _, ok := r.(remote.Sender); ok && c.limit == nil {
		return &meteredSender{m}
	}
	return m
}

type meteredReader struct {
	ctx context.Context
	r   io.Reader
	c   *copier
}

func (m *meteredReader) Read(p []byte) (int, error) {
	if m.c.limit != nil && len(p) > m.c.limit.Burst() {
		p = p[:m.c.limit.Burst()]
	}
	n, err := m.r.Read(p)
	if n > 0 {
		m.c.sent.Add(int64(n))
		if m.c.limit != nil {
			if werr := m.c.limit.WaitN(m.ctx, n); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return n, err
}

func (m *meteredReader) Seek(offset int64, whence int) (int64, error) {
	s, ok := m.r.(io.Seeker)
	if !ok {
		return 0, errors.New("the blob's reader cannot seek")
	}
	return s.Seek(offset, whence)
}

// meteredSender is a meteredReader whose reader sends itself.
type meteredSender struct{ *meteredReader }

func (m *meteredSender) SendTo(w io.Writer, n int64) (int64, error) {
	sent, err := m.r.(remote.Sender).SendTo(w, n)
	m.c.sent.Add(sent)
	return sent, err
}
