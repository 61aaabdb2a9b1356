package backup

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/backup/archive"
	"github.com/wharf-dev/wharf/internal/oci"
)

// A backup directory holds any number of snapshots of one registry and the
// blobs they record, each blob once, so that a backup after the first copies
// only blobs that are new:
//
//	DIR/
//	├── wharf-backup.json            {"format": 1}: this is a wharf backup
//	├── blobs/<alg>/<2 hex>/<hex>    blob bytes, as in the fs content store
//	└── snapshots/
//	    ├── 20261206T021500Z/        one backup run, named by its UTC start
//	    │   ├── metadata.db          the metadata: a SQLite database, or
//	    │   ├── metadata.pgdump      a pg_dump archive (custom format)
//	    │   ├── blobs.txt            "<digest> <size>" of every blob it records
//	    │   └── snapshot.json        what it is; written last
//	    └── .tmp-20261206T031500Z-…  a backup in progress, or one that failed
//
// A snapshot directory gets its name, by a rename, only once everything in
// it and every blob it records is written and synced: a name under
// snapshots/ is a complete backup. Blobs go in through a temporary file and
// a rename too, so a blob's name always means the whole blob.

const (
	markerFile   = "wharf-backup.json"
	snapshotsDir = "snapshots"
	snapshotFile = "snapshot.json"
	blobListFile = "blobs.txt"
	tmpPrefix    = ".tmp-"
	// snapshotIDLayout names snapshots by their UTC start time.
	snapshotIDLayout = "20060102T150405Z"
)

// Snapshot describes one backup run, as snapshot.json records it.
type Snapshot struct {
	ID           string    `json:"id"`
	Started      time.Time `json:"started"`
	Finished     time.Time `json:"finished"`
	WharfVersion string    `json:"wharfVersion"`
	// Database is the metadata's format: "sqlite" or "pg_dump".
	Database string `json:"database"`
	// MetadataFile is the metadata's file in the snapshot directory.
	MetadataFile string `json:"metadataFile"`
	Blobs        int    `json:"blobs"`
	Bytes        int64  `json:"bytes"`
}

// Dir is a backup directory.
type Dir struct{ root string }

// OpenDir opens the backup directory at root; with create set, it makes
// root a backup directory if it is missing or empty. Any other directory
// is refused, so a mistyped path never fills an unrelated directory.
func OpenDir(root string, create bool) (*Dir, error) {
	b, err := os.ReadFile(filepath.Join(root, markerFile))
	if err == nil {
		var m struct{ Format int }
		if err := json.Unmarshal(b, &m); err != nil || m.Format != 1 {
			return nil, fmt.Errorf("backup directory %s: %s is not a format wharf reads", root, markerFile)
		}
		return &Dir{root: root}, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("backup directory %s: %w", root, err)
	}
	if !create {
		return nil, fmt.Errorf("%s is not a wharf backup directory (no %s)", root, markerFile)
	}
	entries, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("backup directory %s: %w", root, err)
	}
	if len(entries) > 0 {
		return nil, fmt.Errorf("backup directory %s is neither empty nor a wharf backup", root)
	}
	for _, d := range []string{archiveBlobs, snapshotsDir} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o750); err != nil {
			return nil, fmt.Errorf("backup directory %s: %w", root, err)
		}
	}
	if err := writeFileSync(filepath.Join(root, markerFile), []byte(`{"format": 1}`+"\n")); err != nil {
		return nil, fmt.Errorf("backup directory %s: %w", root, err)
	}
	return &Dir{root: root}, nil
}

const archiveBlobs = "blobs"

func (d *Dir) blobPath(dg digest.Digest) string {
	enc := dg.Encoded()
	return filepath.Join(d.root, archiveBlobs, string(dg.Algorithm()), enc[:2], enc)
}

// HasBlob reports whether blob b is in the directory with its size.
func (d *Dir) HasBlob(b oci.Descriptor) bool {
	fi, err := os.Stat(d.blobPath(b.Digest))
	return err == nil && fi.Size() == b.Size
}

// PutBlob writes blob b from r, which must hold exactly its bytes, synced
// and then renamed into place.
func (d *Dir) PutBlob(b oci.Descriptor, r io.Reader) error {
	if err := b.Digest.Validate(); err != nil {
		return fmt.Errorf("blob %q: %w", b.Digest, err)
	}
	dst := d.blobPath(b.Digest)
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	if err := writeAtomic(dst, archive.NewVerifier(r, b)); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// OpenBlob opens blob b through a verifier.
func (d *Dir) OpenBlob(b oci.Descriptor) (io.ReadCloser, error) {
	f, err := os.Open(d.blobPath(b.Digest))
	if err != nil {
		return nil, fmt.Errorf("blob %s of the backup: %w", b.Digest, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{archive.NewVerifier(f, b), f}, nil
}

// begin makes the temporary directory of a snapshot starting now, and
// returns its start and name. Two backups never share a name: a second
// one in the same second waits for the next.
func (d *Dir) begin() (started time.Time, id, tmp string, err error) {
	for {
		started = time.Now().UTC()
		id = started.Format(snapshotIDLayout)
		_, err := os.Stat(filepath.Join(d.root, snapshotsDir, id))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		time.Sleep(started.Truncate(time.Second).Add(time.Second).Sub(started))
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	tmp = filepath.Join(d.root, snapshotsDir, tmpPrefix+id+"-"+hex.EncodeToString(rnd[:]))
	return started, id, tmp, os.MkdirAll(tmp, 0o750)
}

// commit writes snapshot.json into tmp, syncs it, and renames tmp to the
// snapshot's name.
func (d *Dir) commit(tmp string, s Snapshot) error {
	b, _ := json.MarshalIndent(s, "", "  ")
	if err := writeFileSync(filepath.Join(tmp, snapshotFile), append(b, '\n')); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(d.root, snapshotsDir, s.ID)); err != nil {
		return err
	}
	return syncDir(filepath.Join(d.root, snapshotsDir))
}

// Snapshots lists the complete snapshots, oldest first.
func (d *Dir) Snapshots() ([]Snapshot, error) {
	entries, err := os.ReadDir(filepath.Join(d.root, snapshotsDir))
	if err != nil {
		return nil, fmt.Errorf("backup directory %s: %w", d.root, err)
	}
	var out []Snapshot
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		s, err := d.Snapshot(e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Snapshot) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Snapshot reads snapshot id; "" or "latest" is the newest.
func (d *Dir) Snapshot(id string) (Snapshot, error) {
	if id == "" || id == "latest" {
		all, err := d.Snapshots()
		if err != nil {
			return Snapshot{}, err
		}
		if len(all) == 0 {
			return Snapshot{}, fmt.Errorf("backup directory %s holds no complete snapshot", d.root)
		}
		return all[len(all)-1], nil
	}
	if _, err := time.Parse(snapshotIDLayout, id); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %q: not a snapshot name (such as 20261206T021500Z)", id)
	}
	b, err := os.ReadFile(filepath.Join(d.root, snapshotsDir, id, snapshotFile))
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w", id, err)
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %s: %w", id, snapshotFile, err)
	}
	if s.ID != id || (s.Database != "sqlite" && s.Database != "pg_dump") || filepath.Base(s.MetadataFile) != s.MetadataFile {
		return Snapshot{}, fmt.Errorf("snapshot %s: %s does not describe it", id, snapshotFile)
	}
	return s, nil
}

// MetadataPath is where snapshot s keeps the metadata.
func (d *Dir) MetadataPath(s Snapshot) string {
	return filepath.Join(d.root, snapshotsDir, s.ID, s.MetadataFile)
}

// writeBlobList writes "<digest> <size>" per blob, synced.
func writeBlobList(path string, blobs []oci.Descriptor) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, b := range blobs {
		fmt.Fprintf(w, "%s %d\n", b.Digest, b.Size)
	}
	err = w.Flush()
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// Blobs reads the blobs snapshot s records.
func (d *Dir) Blobs(s Snapshot) ([]oci.Descriptor, error) {
	f, err := os.Open(filepath.Join(d.root, snapshotsDir, s.ID, blobListFile))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", s.ID, err)
	}
	defer f.Close()
	var out []oci.Descriptor
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		ds, ss, ok := strings.Cut(sc.Text(), " ")
		size, err := strconv.ParseInt(ss, 10, 64)
		dg, derr := digest.Parse(ds)
		if !ok || err != nil || derr != nil || size < 0 {
			return nil, fmt.Errorf("snapshot %s: %s line %d is not \"<digest> <size>\"", s.ID, blobListFile, n)
		}
		out = append(out, oci.Descriptor{Digest: dg, Size: size})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", s.ID, err)
	}
	return out, nil
}

// writeAtomic writes r to a temporary file beside dst, syncs it and renames
// it to dst.
func writeAtomic(dst string, r io.Reader) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(dst), tmpPrefix+filepath.Base(dst)+"-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

func writeFileSync(path string, b []byte) error {
	return writeAtomic(path, strings.NewReader(string(b)))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
