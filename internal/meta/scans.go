package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Vulnerability scans (internal/scanner). The store keeps one row per image
// manifest to scan: it is the entry of a queue that workers on every
// replica claim, and, once the scan ends, its result. The packages,
// findings and problems are kept as JSON the scanner encodes; the store
// reads only the counts beside them.

// The states of a scan.
const (
	ScanQueued      = "queued"      // waiting for a worker
	ScanRunning     = "running"     // claimed by a worker until its lease ends
	ScanScanned     = "scanned"     // done; packages and findings stored
	ScanFailed      = "failed"      // bad input or a limit exceeded; Error says which
	ScanUnsupported = "unsupported" // not a container image (an artifact)
)

// ScanCounts counts a scan's findings by severity.
type ScanCounts struct {
	Critical, High, Medium, Low, Unknown int
	// Fixable counts findings with a published fix.
	Fixable int
}

// Scan is the scan of one manifest of a repository.
type Scan struct {
	Repository string
	Digest     digest.Digest
	State      string // one of the Scan* states
	Priority   int    // higher is claimed first
	Attempts   int    // claims so far
	Owner      string // the worker holding a running scan
	LeaseUntil time.Time
	QueuedAt   time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	Error      string
	// Source says what the packages were read from: "layers", or
	// "sbom <digest>" for an SBOM pushed as a referrer.
	Source string
	// DataVersion is the digest of the vulnerability bundle the findings
	// were matched against; "" when none was loaded.
	DataVersion string
	Packages    []byte // JSON; nil from ScanList
	Findings    []byte // JSON; nil from ScanList
	Problems    []byte // JSON; nil from ScanList
	Counts      ScanCounts
	// Highest is the severity of the most severe finding, "" for none.
	Highest string
}

// ScanRequest asks for a manifest to be scanned.
type ScanRequest struct {
	Repository string
	Digest     digest.Digest
	Priority   int
	// Again queues a manifest scanned (or failed) already; a queued or
	// running scan is left as it is, its priority raised.
	Again bool
}

// ScanClaim is a worker's claim on the next scan.
type ScanClaim struct {
	Owner string
	Now   time.Time
	Until time.Time // the claim's lease
	// MaxAttempts fails, instead of claiming, a scan claimed that many
	// times already (its worker died each time: the image kills it).
	MaxAttempts int
	// MinPriority claims only queued scans of at least this priority.
	MinPriority int
}

// ScanQuery selects scans for ScanList, by repository and digest. Zero
// fields do not filter.
type ScanQuery struct {
	Repository string
	Digests    []digest.Digest
	States     []string
	After      digest.Digest // with Repository: only digests after After, the cursor of the next page
	N          int           // at most N; 0 means 1000
}

// SeverityCount is how many scanned manifests have Highest as the severity
// of their most severe finding ("" for none).
type SeverityCount struct {
	Highest string
	Count   int64
}

// AllowedVulnerability is a vulnerability accepted in a namespace ("" for
// every namespace) until it expires (zero: never).
type AllowedVulnerability struct {
	Namespace string
	ID        string
	Reason    string
	Expires   time.Time
	CreatedBy string
	CreatedAt time.Time
}

// ScanWriter makes the changes of scanning that have events: a scan asked
// for, a scan's result, an allowlist entry; [Tx] includes it, so that the
// event recording a change commits with it.
type ScanWriter interface {
	// EnqueueScans is [Scans.EnqueueScans] in the transaction.
	EnqueueScans(ctx context.Context, now time.Time, reqs ...ScanRequest) (int, error)
	// FinishScan stores the result of a running scan owner holds (State,
	// FinishedAt, Error, Source, DataVersion, Packages, Findings,
	// Problems, Counts, Highest of s), and announces a change of
	// s.Repository to other replicas; ErrConflict if owner holds it no
	// longer.
	FinishScan(ctx context.Context, owner string, s Scan) error
	// PutAllowedVulnerability adds or replaces an allowlist entry. It and
	// DeleteAllowedVulnerability announce a change of every repository
	// (a change watcher's "") to other replicas, whose cached pull
	// decisions may rely on the entry.
	PutAllowedVulnerability(ctx context.Context, a AllowedVulnerability) error
	// DeleteAllowedVulnerability removes an entry; ErrNotFound if none.
	DeleteAllowedVulnerability(ctx context.Context, namespace, id string) error
}

// VulnDBPointer names the current vulnerability bundle.
type VulnDBPointer struct {
	Digest   string
	Size     int64
	Imported time.Time
	Info     []byte // JSON: vulndb.Info
}

// Scans is the part of the metadata store that keeps scans, allowlists and
// the vulnerability data's pointer. Each method is its own statement or
// transaction; metatest.RunScans checks a backend.
type Scans interface {
	// EnqueueScans queues each request whose manifest exists (others are
	// skipped) and returns how many it queued or re-queued.
	EnqueueScans(ctx context.Context, now time.Time, reqs ...ScanRequest) (int, error)
	// ClaimScan claims the queued scan of highest priority, oldest first,
	// or a running one whose lease ended, for c.Owner until c.Until; ok is
	// false when there is none. A scan over c.MaxAttempts is failed
	// instead, with an error saying so.
	ClaimScan(ctx context.Context, c ScanClaim) (s Scan, ok bool, err error)
	// RenewScan extends owner's claim on a running scan; ErrConflict if
	// owner holds it no longer.
	RenewScan(ctx context.Context, repo string, d digest.Digest, owner string, until time.Time) error
	// Rematch replaces the findings of a scanned manifest whose packages
	// were matched against version from (DataVersion, Findings, Counts,
	// Highest of s), and announces a change of s.Repository; ErrConflict
	// if it was scanned again or matched since.
	Rematch(ctx context.Context, from string, s Scan) error
	// Scan returns the scan of manifest d of repo with its JSON, or
	// ErrNotFound.
	Scan(ctx context.Context, repo string, d digest.Digest) (Scan, error)
	// ScanList returns the scans q selects, without their JSON, by
	// repository and digest.
	ScanList(ctx context.Context, q ScanQuery) ([]Scan, error)
	// ScansToRematch returns at most n scanned manifests whose data
	// version is not version, with their packages.
	ScansToRematch(ctx context.Context, version string, n int) ([]Scan, error)
	// Unscanned returns at most n image manifests (OCI image manifests
	// with an image configuration, Docker schema 2 manifests) pushed at or
	// after since that have no scan.
	Unscanned(ctx context.Context, since time.Time, n int) ([]ScanRequest, error)
	// ScanSeverities counts scanned manifests by their highest severity.
	ScanSeverities(ctx context.Context) ([]SeverityCount, error)
	// ScanBacklog counts the scans queued and running, in the whole
	// cluster: the queue's depth.
	ScanBacklog(ctx context.Context) (queued, running int64, err error)

	// AllowedVulnerabilities lists the entries of the namespaces given
	// ("" is the system-wide list), by namespace and id.
	AllowedVulnerabilities(ctx context.Context, namespaces ...string) ([]AllowedVulnerability, error)

	// PutVulnDBBundle records that the content store holds bundle d, so
	// that garbage collection keeps it, and records its blob.
	PutVulnDBBundle(ctx context.Context, d digest.Digest, size int64) error
	// VulnDBPointer returns the current bundle's pointer, or ErrNotFound.
	VulnDBPointer(ctx context.Context) (VulnDBPointer, error)
	// SetVulnDBPointer makes next current if the current digest is old
	// ("" for none), else returns ErrConflict. Bundles other than next
	// and old are forgotten, and left to garbage collection.
	SetVulnDBPointer(ctx context.Context, old string, next VulnDBPointer) error
}
