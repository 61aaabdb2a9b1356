package extract_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // builds the rpm database fixture

	"github.com/wharf-dev/wharf/internal/scan/imagefs"
)

// tarEntry is one entry of a test layer.
type tarEntry struct {
	name string
	body []byte
	mode int64
	typ  byte
	link string
}

func fileEntry(name, body string) tarEntry {
	return tarEntry{name: name, body: []byte(body), mode: 0o644, typ: tar.TypeReg}
}
func binEntry(name string, body []byte) tarEntry {
	return tarEntry{name: name, body: body, mode: 0o755, typ: tar.TypeReg}
}
func blobEntry(name string, body []byte) tarEntry {
	return tarEntry{name: name, body: body, mode: 0o644, typ: tar.TypeReg}
}
func whiteoutEntry(name string) tarEntry { return fileEntry(name, "") }

// layer returns a gzipped tar of the entries as an imagefs.Layer.
func layer(t testing.TB, digest string, entries ...tarEntry) imagefs.Layer {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: e.typ, Linkname: e.link, Size: int64(len(e.body)), ModTime: time.Unix(1700000000, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	return imagefs.Layer{Digest: digest, MediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

const debianOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`

const alpineOSRelease = `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
`

const fedoraOSRelease = `NAME="Fedora Linux"
VERSION="39 (Container Image)"
ID=fedora
VERSION_ID=39
`

// dpkgStanza is one package of a dpkg status file.
func dpkgStanza(name, version, source string) string {
	s := fmt.Sprintf("Package: %s\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: %s\n", name, version)
	if source != "" {
		s += "Source: " + source + "\n"
	}
	return s + "Maintainer: Debian <debian@example.org>\nDescription: " + name + " package\n\n"
}

// apkRecord is one package of an apk installed database.
func apkRecord(name, version, origin string) string {
	return fmt.Sprintf("C:Q1abc=\nP:%s\nV:%s\nA:x86_64\nS:1000\nI:2000\nT:%s package\nL:MIT\no:%s\nm:Alpine <a@example.org>\n\n", name, version, name, origin)
}

// rpmPackage is one package of the rpm database fixture.
type rpmPackage struct {
	name, version, release, arch, sourceRPM, license string
	epoch                                            int32
}

// rpmHeader encodes an RPM header blob as rpm stores it in the Packages
// table of rpmdb.sqlite: the index length and data length, then one
// 16-byte entry (tag, type, offset, count; big-endian) per tag, then the
// data. It is a header without a region tag, which rpm and go-rpmdb read
// as a legacy (v3) header. go-rpmdb has no writer, so the test encodes the
// format itself, and osv-scalibr's rpm extractor reading it back is the
// check; rpm itself was checked once by hand (Debian 12's rpm 4.18:
// `rpmdb --dbpath D --rebuilddb` then `rpm --dbpath D -qa` lists both
// fixture packages with epoch, source RPM and license; rebuilddb is needed
// only because this database has no index tables).
func rpmHeader(p rpmPackage) []byte {
	const typeInt32, typeString = 4, 6
	type tag struct {
		id, typ int32
		data    []byte
	}
	// INT32 tags first, so they are 4-byte aligned without padding.
	tags := []tag{{1006, typeInt32, binary.BigEndian.AppendUint32(nil, 1700000000)}} // BUILDTIME: rpm skips a header without it
	if p.epoch > 0 {
		tags = append(tags, tag{1003, typeInt32, binary.BigEndian.AppendUint32(nil, uint32(p.epoch))})
	}
	for _, s := range []struct {
		id int32
		v  string
	}{{1000, p.name}, {1001, p.version}, {1002, p.release}, {1014, p.license}, {1022, p.arch}, {1044, p.sourceRPM}} {
		tags = append(tags, tag{s.id, typeString, append([]byte(s.v), 0)})
	}
	var index, data []byte
	for _, tg := range tags {
		index = binary.BigEndian.AppendUint32(index, uint32(tg.id))
		index = binary.BigEndian.AppendUint32(index, uint32(tg.typ))
		index = binary.BigEndian.AppendUint32(index, uint32(len(data)))
		index = binary.BigEndian.AppendUint32(index, 1)
		data = append(data, tg.data...)
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(len(tags)))
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	return append(append(out, index...), data...)
}

// rpmDatabase builds an rpmdb.sqlite holding the packages, with the
// Packages table rpm 4.16+ creates.
func rpmDatabase(t testing.TB, pkgs ...rpmPackage) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		if _, err := db.Exec(`INSERT INTO Packages (blob) VALUES (?)`, rpmHeader(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jar returns a Java archive with Maven's pom.properties for the artifact,
// plus any extra entries (name -> content).
func jar(t testing.TB, group, artifact, version string, extra map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("META-INF/MANIFEST.MF")
	io.WriteString(w, "Manifest-Version: 1.0\r\n\r\n")
	w, _ = zw.Create(fmt.Sprintf("META-INF/maven/%s/%s/pom.properties", group, artifact))
	fmt.Fprintf(w, "groupId=%s\nartifactId=%s\nversion=%s\n", group, artifact, version)
	for name, body := range extra {
		// Nested archives are deflated, anything else stored: a nested
		// archive of stored zeros is a zip bomb.
		method := zip.Store
		if strings.HasSuffix(name, ".jar") {
			method = zip.Deflate
		}
		w, _ = zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		w.Write(body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	goBinaryOnce sync.Once
	goBinary     []byte
	goBinaryErr  error
)

// buildGoBinary builds testdata/gobin, whose build info lists go-digest.
func buildGoBinary(t testing.TB) []byte {
	t.Helper()
	goBinaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gobin-")
		if err != nil {
			goBinaryErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "app")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", out, "./testdata/gobin")
		if b, err := cmd.CombinedOutput(); err != nil {
			goBinaryErr = fmt.Errorf("go build: %v: %s", err, b)
			return
		}
		goBinary, goBinaryErr = os.ReadFile(out)
	})
	if goBinaryErr != nil {
		t.Fatal(goBinaryErr)
	}
	return goBinary
}

func pythonMetadata(name, version string) string {
	return fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: test\nLicense: Apache 2.0\n", name, version)
}

func packageJSON(name, version string) string {
	return fmt.Sprintf(`{"name": %q, "version": %q, "license": "MIT"}`, name, version)
}

func join(parts ...string) string { return strings.Join(parts, "") }
