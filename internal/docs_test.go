package internal_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// mdLink is a Markdown link or image: [text](target).
	mdLink = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	// codePath is inline code that names a file of the repository:
	// `docs/lifecycle.md`, `internal/content/fs/layout.go`, `design.md`.
	codePath = regexp.MustCompile("`([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*\\.(?:md|go|sql|json|ya?ml|sh|py))`")
)

// TestDocLinksResolve: every relative link in README.md and docs/, and
// every file of the repository a document names in inline code, exists in
// the checkout. Links to the web, anchors within a page and absolute paths
// (a server's /api/v1/openapi.json, /etc/...) are not checked; neither are
// fenced code blocks, whose paths belong to the reader's machine.
func TestDocLinksResolve(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append(docs, filepath.Join(root, "README.md"))
	if len(docs) < 5 {
		t.Fatalf("found only %v", docs)
	}
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, doc)
		for n, line := range proseLines(string(b)) {
			if line == "" {
				continue
			}
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				target, _, _ = strings.Cut(target, "#")
				if !exists(filepath.Join(filepath.Dir(doc), target)) {
					t.Errorf("%s:%d: link to %s, which the checkout does not have", rel, n+1, m[1])
				}
			}
			for _, m := range codePath.FindAllStringSubmatch(line, -1) {
				p := m[1]
				if !strings.Contains(p, "/") && !strings.HasSuffix(p, ".md") {
					continue // a bare file name such as daemon.json is the reader's file
				}
				if !exists(filepath.Join(root, p)) && !exists(filepath.Join(filepath.Dir(doc), p)) {
					t.Errorf("%s:%d: names %s, which the checkout does not have", rel, n+1, p)
				}
			}
		}
	}
}

// proseLines returns the lines of a Markdown document with those inside
// fenced code blocks blanked, so line numbers stay right.
func proseLines(doc string) []string {
	lines := strings.Split(doc, "\n")
	fenced := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			lines[i] = ""
			continue
		}
		if fenced {
			lines[i] = ""
		}
	}
	return lines
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
