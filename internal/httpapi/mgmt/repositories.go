package mgmt

import (
	"context"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/httpapi/mw"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// Repository is a repository as the API lists it.
type Repository struct {
	Name string `json:"name"`
}

// Tag is a tag and the manifest it names.
type Tag struct {
	Name   string        `json:"name"`
	Digest digest.Digest `json:"digest"`
}

// registryError translates an error of the registry service, which speaks
// in OCI codes, into the management API's.
func registryError(err error, what string) error {
	e := apierr.From(err)
	switch e.Code {
	case apierr.NameUnknown, apierr.ManifestUnknown, apierr.BlobUnknown:
		return apierr.New(apierr.NotFound, "%s not found", what)
	case apierr.NameInvalid, apierr.TagInvalid, apierr.DigestInvalid:
		return &apierr.Error{Code: apierr.RequestInvalid, Message: e.Message, Err: err}
	}
	return storeError(err, what)
}

// repoAccess returns what c may do of want on repo. A caller who may not
// pull is answered not found, so a private repository's existence is not
// revealed; one who may pull but lacks an action in want is denied.
func (h *Handler) repoAccess(ctx context.Context, c access.Caller, repo string, want auth.Action) error {
	if err := oci.ValidateName(repo); err != nil {
		return invalid("%v", err)
	}
	d, err := h.acc.Decide(ctx, c.Principal, repo, []auth.Action{auth.ActionPull, want})
	if err != nil {
		return storeError(err, "repository "+repo)
	}
	if !d.Allows(auth.ActionPull) {
		return apierr.New(apierr.NotFound, "repository %s not found", repo)
	}
	if !d.Allows(want) {
		return denied("%s on %s is not allowed", want, repo)
	}
	// A read obeys the pull lists and a change the push lists, as on /v2:
	// the tags, manifests and scans read here are what a pull reads.
	acts := []auth.Action{auth.ActionPull}
	if want != auth.ActionPull {
		acts = append(acts, want)
	}
	if err := h.opts.Network.Refuse(ctx, repo, acts, mw.ClientAddr(ctx)); err != nil {
		return storeError(err, "network rules of "+repo)
	}
	return nil
}

func (h *Handler) listRepositories(w http.ResponseWriter, r *http.Request, c access.Caller, _ params) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var out []string
	for cursor := p.Last; len(out) < p.N; {
		names, err := h.opts.Registry.Catalog(ctx, meta.Page{Last: cursor, N: p.N})
		if err != nil {
			return registryError(err, "repositories")
		}
		for _, name := range names {
			if len(out) == p.N {
				break
			}
			if c.SystemAdmin() {
				out = append(out, name)
				continue
			}
			d, err := h.acc.Decide(ctx, c.Principal, name, []auth.Action{auth.ActionPull})
			if err != nil {
				return storeError(err, "repositories")
			}
			if d.Allows(auth.ActionPull) {
				out = append(out, name)
			}
		}
		if len(names) < p.N {
			break
		}
		cursor = names[len(names)-1]
	}
	res := List[Repository]{Items: []Repository{}, Next: next(out, p, func(s string) string { return s })}
	for _, name := range out {
		res.Items = append(res.Items, Repository{Name: name})
	}
	return writeJSON(w, http.StatusOK, res)
}

func (h *Handler) listTags(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	repo := p["repository"]
	ctx := r.Context()
	if err := h.repoAccess(ctx, c, repo, auth.ActionPull); err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	names, err := h.opts.Registry.Tags(ctx, repo, pg)
	if err != nil {
		return registryError(err, "repository "+repo)
	}
	res := List[Tag]{Items: []Tag{}, Next: next(names, pg, func(s string) string { return s })}
	for _, name := range names {
		m, err := h.opts.Registry.Manifest(ctx, repo, oci.Reference{Tag: name})
		if apierr.Is(err, apierr.ManifestUnknown) {
			continue // deleted since it was listed
		}
		if err != nil {
			return registryError(err, "tag "+name)
		}
		res.Items = append(res.Items, Tag{Name: name, Digest: m.Digest})
	}
	return writeJSON(w, http.StatusOK, res)
}

func (h *Handler) deleteTag(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	repo, tag := p["repository"], p["tag"]
	err := func() error {
		if err := h.repoAccess(r.Context(), c, repo, auth.ActionDelete); err != nil {
			return err
		}
		if err := oci.ValidateTag(tag); err != nil {
			return invalid("%v", err)
		}
		return registryError(h.opts.Registry.DeleteManifest(r.Context(), repo, oci.Reference{Tag: tag}), "tag "+repo+":"+tag)
	}()
	h.refused(r, c, "tag.delete", repo+":"+tag, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) deleteManifest(w http.ResponseWriter, r *http.Request, c access.Caller, p params) error {
	repo, ds := p["repository"], p["digest"]
	err := func() error {
		if err := h.repoAccess(r.Context(), c, repo, auth.ActionDelete); err != nil {
			return err
		}
		d, err := oci.ParseDigest(ds)
		if err != nil {
			return invalid("%v", err)
		}
		return registryError(h.opts.Registry.DeleteManifest(r.Context(), repo, oci.Reference{Digest: d}), "manifest "+repo+"@"+ds)
	}()
	h.refused(r, c, "manifest.delete", repo+"@"+ds, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
