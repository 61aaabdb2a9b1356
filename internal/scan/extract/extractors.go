package extract

import (
	"fmt"
	"log/slog"
	"math"
	"slices"

	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/dotnet/depsjson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gobinary"
	javaarchive "github.com/google/osv-scalibr/extractor/filesystem/language/java/archive"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagejson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/php/composerlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/wheelegg"
	"github.com/google/osv-scalibr/extractor/filesystem/language/ruby/gemspec"
	"github.com/google/osv-scalibr/extractor/filesystem/language/rust/cargoauditable"
	"github.com/google/osv-scalibr/extractor/filesystem/os/apk"
	"github.com/google/osv-scalibr/extractor/filesystem/os/dpkg"
	"github.com/google/osv-scalibr/extractor/filesystem/os/rpm"
	scalibrlog "github.com/google/osv-scalibr/log"
)

// The extractors wharf runs: osv-scalibr's, for what an image holds once
// built (installed OS packages, binaries, installed language packages and
// the lock files applications ship), each imported by its own package so
// the binary carries only these and not the library's full plugin list.
var constructors = []func(*cpb.PluginConfig) (filesystem.Extractor, error){
	dpkg.New,           // Debian, Ubuntu: var/lib/dpkg/status, status.d/
	apk.New,            // Alpine, Wolfi: lib/apk/db/installed
	rpm.New,            // Red Hat family, SUSE: rpmdb.sqlite, Packages (bdb), Packages.db (ndb)
	gobinary.New,       // Go binaries: module build info
	cargoauditable.New, // Rust binaries built with cargo-auditable
	javaarchive.New,    // .jar, .war, .ear and nested archives
	packagejson.New,    // installed npm packages: node_modules/**/package.json
	wheelegg.New,       // installed Python distributions: METADATA, PKG-INFO, .egg
	gemspec.New,        // installed Ruby gems: specifications/*.gemspec
	composerlock.New,   // PHP applications: composer.lock
	depsjson.New,       // .NET applications: *.deps.json
}

// archiveExtractors read binaries and archives, which may be large and are
// held to Limits.MaxFileBytes; the others read package databases and
// manifests, small in any real image, held to Options.MaxDatabaseBytes.
var archiveExtractors = map[string]bool{
	gobinary.Name: true, cargoauditable.Name: true, javaarchive.Name: true, wheelegg.Name: true,
}

// binaryMarkers are byte strings without which an executable holds nothing
// for the extractor: Go's build-info magic (debug/buildinfo), and the
// section names cargo-auditable writes (".dep-v0", PE's "rdep-v0", the
// legacy ".rust-deps-v0").
var binaryMarkers = map[string][][]byte{
	gobinary.Name:       {[]byte("\xff Go buildinf:")},
	cargoauditable.Name: {[]byte("dep-v0"), []byte("rust-deps-v0")},
}

var allBinaryMarkers = slices.Concat(binaryMarkers[gobinary.Name], binaryMarkers[cargoauditable.Name])

// realPathExtractors open their file by path on disk (rpm's database is
// SQLite or Berkeley DB), not through the reader they are given.
var realPathExtractors = map[string]bool{rpm.Name: true}

// stanzaDatabases are the line-based databases whose records are separated
// by blank lines; their records are counted before parsing (see
// Options.MaxPackages).
var stanzaDatabases = map[string]bool{dpkg.Name: true, apk.Name: true}

// Extractors returns new instances of the extractors wharf runs, configured
// to leave size limits to the caller (Options.Limits) and to read nested
// Java archives within maxArchiveBytes.
func Extractors(maxArchiveBytes int64) ([]filesystem.Extractor, error) {
	cfg := &cpb.PluginConfig{
		// The extractors' own limits make FileRequired answer false for a
		// big file, which would skip it silently; wharf refuses it instead.
		MaxFileSizeBytes: math.MaxInt64,
		PluginSpecific: []*cpb.PluginSpecificConfig{{
			Config: &cpb.PluginSpecificConfig_JavaArchive{JavaArchive: &cpb.JavaArchiveConfig{
				MaxFileSizeBytes: math.MaxInt64,
				MaxZipDepth:      8,
				MaxOpenedBytes:   maxArchiveBytes,
				HashJars:         new(false), // a SHA-1 only an online lookup would use
			}},
		}},
	}
	out := make([]filesystem.Extractor, 0, len(constructors))
	for _, c := range constructors {
		e, err := c(cfg)
		if err != nil {
			return nil, fmt.Errorf("create extractor: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// slogAdapter sends osv-scalibr's log lines to slog at debug level: its
// complaints are about single files, and Result.Problems reports those.
type slogAdapter struct{}

func (slogAdapter) Errorf(format string, args ...any) { slogDebug(format, args...) }
func (slogAdapter) Warnf(format string, args ...any)  { slogDebug(format, args...) }
func (slogAdapter) Infof(format string, args ...any)  { slogDebug(format, args...) }
func (slogAdapter) Debugf(format string, args ...any) { slogDebug(format, args...) }
func (slogAdapter) Error(args ...any)                 { slogDebug("%s", fmt.Sprint(args...)) }
func (slogAdapter) Warn(args ...any)                  { slogDebug("%s", fmt.Sprint(args...)) }
func (slogAdapter) Info(args ...any)                  { slogDebug("%s", fmt.Sprint(args...)) }
func (slogAdapter) Debug(args ...any)                 { slogDebug("%s", fmt.Sprint(args...)) }

func slogDebug(format string, args ...any) {
	slog.Debug(fmt.Sprintf(format, args...), "component", "osv-scalibr")
}

func init() { scalibrlog.SetLogger(slogAdapter{}) }
