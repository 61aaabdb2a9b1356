package backup

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/oci"
)

// splitTag splits "name:tag" into name and tag; tag is "" when s has none.
// A colon before the last slash belongs to a host's port, not a tag.
func splitTag(s string) (name, tag string) {
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// stripHost removes a leading registry host ("registry.example.com/",
// "localhost:5000/") from a repository name, as Docker reads names: the
// first component is a host when it has a dot or a port or is localhost.
func stripHost(name string) string {
	first, rest, ok := strings.Cut(name, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return rest
	}
	return name
}

// parseRefName reads the name an archive gives a manifest
// (org.opencontainers.image.ref.name, io.containerd.image.name or a docker
// archive's RepoTags): "[host/]repository:tag", "[host/]repository@digest"
// (no tag), or, in the OCI layout's own convention, a bare tag, which
// takes its repository from def. The host, if any, is dropped.
func parseRefName(s, def string) (repo, tag string, err error) {
	s, _, _ = strings.Cut(s, "@")
	if s == "" {
		return "", "", fmt.Errorf("empty reference name")
	}
	if !strings.ContainsAny(s, "/:") {
		if def == "" {
			return "", "", fmt.Errorf("reference name %q is a bare tag with no repository: give one with --repository", s)
		}
		repo, tag = def, s
	} else {
		repo, tag = splitTag(s)
		repo = stripHost(repo)
	}
	if err := oci.ValidateName(repo); err != nil {
		return "", "", fmt.Errorf("reference name %q: %w", s, err)
	}
	if tag != "" {
		if err := oci.ValidateTag(tag); err != nil {
			return "", "", fmt.Errorf("reference name %q: %w", s, err)
		}
	}
	return repo, tag, nil
}

// namesDigest refuses a reference name "...@digest" whose digest is not
// d, the manifest the entry is: the archive contradicts itself.
func namesDigest(name string, d digest.Digest) error {
	_, named, ok := strings.Cut(name, "@")
	if !ok {
		return nil
	}
	if named != d.String() {
		return fmt.Errorf("reference name %q names digest %q, but the entry is %s", name, named, d)
	}
	return nil
}

// Mapping renames repositories on import: a repository named From, or
// under From/, is put under To instead.
type Mapping struct{ From, To string }

// ParseMapping reads "FROM=TO".
func ParseMapping(s string) (Mapping, error) {
	from, to, ok := strings.Cut(s, "=")
	from, to = strings.Trim(from, "/"), strings.Trim(to, "/")
	if !ok || from == "" || to == "" {
		return Mapping{}, fmt.Errorf("mapping %q: want FROM=TO, such as team=prod/team", s)
	}
	if err := oci.ValidateName(to); err != nil {
		return Mapping{}, fmt.Errorf("mapping %q: %w", s, err)
	}
	return Mapping{From: from, To: to}, nil
}

// remap applies the first mapping that matches repo.
func remap(repo string, ms []Mapping) (string, error) {
	for _, m := range ms {
		if repo == m.From || strings.HasPrefix(repo, m.From+"/") {
			out := m.To + repo[len(m.From):]
			if err := oci.ValidateName(out); err != nil {
				return "", fmt.Errorf("repository %s mapped to %s: %w", repo, out, err)
			}
			return out, nil
		}
	}
	return repo, nil
}

// Selection says what an export takes: everything, whole namespaces, and
// repositories with all their tags ("team/app") or chosen ones
// ("team/app:v1").
type Selection struct {
	All          bool
	Namespaces   []string
	Repositories []string
}

// resolve turns the selection into repositories and, for each, the tags
// chosen (nil for all).
func (s Selection) resolve(lister func(prefix string) ([]string, error)) (map[string][]string, error) {
	out := map[string][]string{}
	all := map[string]bool{}
	add := func(prefix string) error {
		names, err := lister(prefix)
		if err != nil {
			return err
		}
		for _, n := range names {
			out[n], all[n] = nil, true
		}
		return nil
	}
	if s.All {
		if err := add(""); err != nil {
			return nil, err
		}
	}
	for _, ns := range s.Namespaces {
		ns = strings.Trim(ns, "/")
		if err := oci.ValidateName(ns); err != nil {
			return nil, fmt.Errorf("namespace %q: %w", ns, err)
		}
		if err := add(ns); err != nil {
			return nil, err
		}
	}
	for _, r := range s.Repositories {
		name, tag := splitTag(r)
		if err := oci.ValidateName(name); err != nil {
			return nil, fmt.Errorf("repository %q: %w", r, err)
		}
		if all[name] {
			continue
		}
		if tag == "" {
			out[name], all[name] = nil, true
			continue
		}
		if err := oci.ValidateTag(tag); err != nil {
			return nil, fmt.Errorf("%q: %w", r, err)
		}
		out[name] = append(out[name], tag)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nothing to export: name repositories, --namespace or --all")
	}
	return out, nil
}
