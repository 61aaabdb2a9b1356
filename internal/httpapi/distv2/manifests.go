package distv2

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
)

func (h *Handler) manifest(w http.ResponseWriter, r *http.Request, repo, arg string) error {
	ref, err := oci.ParseReference(arg)
	if err != nil {
		if errors.Is(err, oci.ErrTagInvalid) {
			return apierr.Wrap(apierr.TagInvalid, err)
		}
		return apierr.Wrap(apierr.DigestInvalid, err)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return h.getManifest(w, r, repo, ref)
	case http.MethodPut:
		return h.putManifest(w, r, repo, ref)
	case http.MethodDelete:
		if err := h.reg.DeleteManifest(r.Context(), repo, ref); err != nil {
			return err
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return methodNotAllowed(r)
}

func (h *Handler) getManifest(w http.ResponseWriter, r *http.Request, repo string, ref oci.Reference) error {
	pull := h.reg.PullManifest
	if r.Method == http.MethodHead {
		pull = h.reg.HeadManifest
	}
	m, warn, err := pull(r.Context(), repo, ref)
	if err != nil {
		return err
	}
	setWarning(w, warn)
	if !acceptable(r.Header.Values("Accept"), m.MediaType) {
		return apierr.New(apierr.ManifestUnknown, "manifest is %s, which the Accept header does not allow", m.MediaType)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", m.MediaType)
	hdr.Set("Content-Length", strconv.FormatInt(m.Size, 10))
	hdr.Set("Docker-Content-Digest", m.Digest.String())
	hdr.Set("ETag", `"`+m.Digest.String()+`"`)
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == `"`+m.Digest.String()+`"` {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(m.Payload)
		h.reg.CountManifestPull(repo, m.Digest, m.Size)
	}
	return nil
}

// setWarning sets the Warning header (RFC 9111 section 5.5) of a pull
// served with a warning: a rule of an image policy in warn mode that the
// image breaks, or a pull-through cache serving it without its upstream's
// confirmation. Code 299, a persistent warning, is the one clients show
// their users (regclient, for one).
func setWarning(w http.ResponseWriter, warn registry.Warning) {
	if warn != "" {
		w.Header().Set("Warning", `299 - "`+strings.NewReplacer(`"`, "'", "\\", "/", "\r", " ", "\n", " ").Replace(string(warn))+`"`)
	}
}

// acceptable reports whether a manifest of mediaType may answer a request
// with these Accept headers. No Accept header, or a wildcard, takes anything;
// a client that lists only manifest types it knows gets only those, so an old
// client is not handed a format it cannot parse.
func acceptable(accept []string, mediaType string) bool {
	if len(accept) == 0 {
		return true
	}
	listed := false
	for _, h := range accept {
		for _, part := range strings.Split(h, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt == "" {
				continue
			}
			listed = true
			if mt == mediaType || mt == "*/*" || mt == "application/*" {
				return true
			}
		}
	}
	return !listed
}

func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, repo string, ref oci.Reference) error {
	if r.ContentLength > oci.MaxManifestSize {
		return apierr.New(apierr.TooLarge, "manifest of %d bytes is larger than the %d byte limit", r.ContentLength, oci.MaxManifestSize)
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, oci.MaxManifestSize+1))
	if err != nil {
		return apierr.Wrap(apierr.ManifestInvalid, err)
	}
	if len(payload) > oci.MaxManifestSize {
		return apierr.New(apierr.TooLarge, "manifest is larger than the %d byte limit", oci.MaxManifestSize)
	}
	if err := h.claimNamespace(r); err != nil {
		return err
	}
	d, m, err := h.reg.PutManifest(r.Context(), repo, ref, r.Header.Get("Content-Type"), payload)
	if err != nil {
		return err
	}
	if m.Subject != nil {
		w.Header().Set("OCI-Subject", m.Subject.Digest.String())
	}
	created(w, "/v2/"+repo+"/manifests/"+d.String(), d.String())
	return nil
}
