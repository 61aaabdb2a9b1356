// Package internal_test checks the import graph of wharf's packages against
// the layering in docs/design.md: imports point one way, only the server
// imports concrete backends and config, and stores never import the layers
// above them.
package internal_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/wharf-dev/wharf/"

// allowed lists, for each package, the wharf packages it may import. A
// package missing from this table fails the test, so a new package has to
// state its place in the layering.
var allowed = map[string][]string{
	"internal/oci":     {},
	"internal/apierr":  {},
	"internal/config":  {},
	"internal/metrics": {},

	"internal/content":              {},
	"internal/content/fs":           {"internal/content"},
	"internal/content/objects":      {"internal/content"},
	"internal/content/s3":           {"internal/content", "internal/content/objects"},
	"internal/content/gcs":          {"internal/content", "internal/content/objects"},
	"internal/content/azure":        {"internal/content", "internal/content/objects"},
	"internal/content/contenttest":  {"internal/content"},
	"internal/meta":                 {},
	"internal/meta/sqlstore":        {"internal/meta", "internal/oci"},
	"internal/meta/sqlite":          {"internal/meta", "internal/meta/sqlstore"},
	"internal/meta/postgres":        {"internal/meta", "internal/meta/sqlstore"},
	"internal/meta/metatest":        {"internal/meta"},
	"internal/meta/postgres/pgtest": {},

	"internal/events":   {"internal/meta", "internal/oci", "internal/metrics", "internal/jobs"},
	"internal/registry": {"internal/content", "internal/meta", "internal/oci", "internal/apierr", "internal/policy", "internal/jobs", "internal/trust", "internal/events"},
	"internal/auth":     {"internal/oci"},
	"internal/policy":   {"internal/oci", "internal/scan"},
	"internal/access":   {"internal/auth", "internal/meta", "internal/oci", "internal/jobs", "internal/events"},

	"internal/access/ldap":           {"internal/access", "internal/meta"},
	"internal/access/ldap/slapdtest": {"internal/testport"},
	"internal/access/oidc":           {"internal/access", "internal/auth", "internal/meta", "internal/oci"},
	"internal/access/oidc/oidctest":  {"internal/testport"},
	"internal/testport":              {},
	"internal/testbrowser":           {},
	"internal/gc":                    {"internal/content", "internal/meta", "internal/metrics", "internal/jobs", "internal/events"},
	"internal/trust":                 {"internal/oci"},

	"internal/trust/trusttest": {"internal/trust"},

	"internal/httpapi/mw":     {"internal/metrics", "internal/access", "internal/auth"},
	"internal/httpapi/distv2": {"internal/httpapi/mw", "internal/registry", "internal/access", "internal/auth", "internal/meta", "internal/oci", "internal/apierr", "internal/metrics", "internal/events"},
	"internal/httpapi/signin": {"internal/httpapi/mw", "internal/access", "internal/access/oidc", "internal/auth"},
	"internal/httpapi/ui":     {"internal/httpapi/mw", "internal/access", "internal/events", "internal/registry", "internal/meta", "internal/auth", "internal/oci", "internal/apierr", "internal/scan", "internal/scan/sbom", "internal/scanner", "internal/promotion", "internal/policy", "internal/replication", "internal/trust", "internal/proxy"},
	"internal/httpapi/hub":    {"internal/httpapi/mw", "internal/registry", "internal/access", "internal/auth", "internal/meta", "internal/oci", "internal/apierr"},
	"internal/httpapi/mgmt":   {"internal/replication", "internal/proxy", "internal/httpapi/mw", "internal/access", "internal/registry", "internal/meta", "internal/auth", "internal/oci", "internal/apierr", "internal/policy", "internal/events", "internal/scanner", "internal/scan/vulndb", "internal/promotion", "internal/trust", "internal/scan"},

	"internal/scan":         {},
	"internal/scan/imagefs": {},
	"internal/scan/extract": {"internal/scan", "internal/scan/imagefs"},
	"internal/scan/osv":     {"internal/scan"},
	"internal/scan/vulndb":  {"internal/scan/osv"},
	"internal/scan/sbom":    {"internal/scan"},
	"internal/scan/sarif":   {"internal/scan"},
	"internal/scanner": {"internal/content", "internal/meta", "internal/oci", "internal/apierr", "internal/registry", "internal/jobs", "internal/policy", "internal/events",
		"internal/scan", "internal/scan/extract", "internal/scan/imagefs", "internal/scan/sbom", "internal/scan/vulndb"},
	"internal/scanner/scantest": {},

	"internal/jobs":           {"internal/meta", "internal/metrics"},
	"internal/promotion":      {"internal/registry", "internal/access", "internal/events", "internal/auth", "internal/meta", "internal/oci", "internal/apierr", "internal/policy", "internal/remote", "internal/scanner"},
	"internal/remote":         {"internal/oci"},
	"internal/replication":    {"internal/registry", "internal/events", "internal/remote", "internal/meta", "internal/metrics", "internal/jobs", "internal/policy", "internal/oci", "internal/apierr"},
	"internal/proxy":          {"internal/registry", "internal/events", "internal/remote", "internal/content", "internal/meta", "internal/oci", "internal/apierr"},
	"internal/backup":         {"internal/backup/archive", "internal/registry", "internal/remote", "internal/content", "internal/meta", "internal/oci", "internal/apierr"},
	"internal/backup/archive": {"internal/oci"},
	"internal/server":         {"*"},
	"internal/bench":          {"internal/oci", "internal/scan/extract", "internal/scan/imagefs", "internal/scan/osv", "internal/scan/sbom"},
	"internal/mgmtclient":     {"internal/httpapi/mgmt"},
	"cmd/wharf":               {"internal/server", "internal/config", "internal/bench", "internal/policy", "internal/mgmtclient", "internal/httpapi/mgmt", "internal/gc", "internal/backup", "internal/backup/archive", "internal/remote", "internal/scan/vulndb", "internal/scan", "internal/scan/sarif"},
	"test/e2e":                {"*"},
}

func TestImportGraph(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string]map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == ".git" || name == "testdata" || name == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		if imports[pkg] == nil {
			imports[pkg] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if dep, ok := strings.CutPrefix(p, module); ok {
				imports[pkg][dep] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) < 5 {
		t.Fatalf("found only %d packages; is the walk rooted right?", len(imports))
	}
	for pkg, deps := range imports {
		allow, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s is not in the import table; add it with the packages it may import", pkg)
			continue
		}
		if slices.Contains(allow, "*") {
			continue
		}
		for dep := range deps {
			if !slices.Contains(allow, dep) {
				t.Errorf("%s imports %s, which the layering does not allow", pkg, dep)
			}
		}
	}
}
