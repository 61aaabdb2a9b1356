package distv2

import (
	"fmt"
	"net/http"

	"github.com/opencontainers/go-digest"
	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

func (h *Handler) upload(w http.ResponseWriter, r *http.Request, repo, id string) error {
	if id == "" {
		if r.Method != http.MethodPost {
			return methodNotAllowed(r)
		}
		return h.startUpload(w, r, repo)
	}
	switch r.Method {
	case http.MethodGet:
		u, err := h.reg.Upload(r.Context(), repo, id)
		if err != nil {
			return err
		}
		uploadHeaders(w, u)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPatch:
		start, length, err := chunkRange(r)
		if err != nil {
			return err
		}
		u, err := h.reg.AppendUpload(r.Context(), repo, id, start, length, r.Body)
		if err != nil {
			return err
		}
		uploadHeaders(w, u)
		w.WriteHeader(http.StatusAccepted)
		return nil
	case http.MethodPut:
		return h.commitUpload(w, r, repo, id)
	case http.MethodDelete:
		if err := h.reg.CancelUpload(r.Context(), repo, id); err != nil {
			return err
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return methodNotAllowed(r)
}

// startUpload handles POST .../blobs/uploads/: a mount, a whole blob in one
// request (with digest), or the start of an upload session.
func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, repo string) error {
	ctx := r.Context()
	q := r.URL.Query()
	if m := q.Get("mount"); m != "" && h.mayMountFrom(r, q.Get("from")) {
		d, err := parseDigest(m)
		if err != nil {
			return err
		}
		if err := h.claimForMount(r, d, q.Get("from")); err != nil {
			return err
		}
		b, err := h.reg.Mount(ctx, repo, d, q.Get("from"))
		if err == nil {
			created(w, "/v2/"+repo+"/blobs/"+b.Digest.String(), b.Digest.String())
			return nil
		}
		if !apierr.Is(err, apierr.BlobUnknown) {
			return err
		}
		// Nothing to mount: fall through to an ordinary upload, as the spec asks.
	}
	if ds := q.Get("digest"); ds != "" {
		d, err := parseDigest(ds)
		if err != nil {
			return err
		}
		if err := h.claimNamespace(r); err != nil {
			return err
		}
		b, err := h.reg.PutBlob(ctx, repo, d, r.ContentLength, r.Body)
		if err != nil {
			return err
		}
		created(w, "/v2/"+repo+"/blobs/"+b.Digest.String(), b.Digest.String())
		return nil
	}
	u, err := h.reg.StartUpload(ctx, repo)
	if err != nil {
		return err
	}
	uploadHeaders(w, u)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// claimForMount claims the namespace a mount of blob d from repository
// from creates (see [Handler.claimNamespace]), unless there is nothing to
// mount: then the request becomes an upload session, which writes nothing
// into the repository yet.
func (h *Handler) claimForMount(r *http.Request, d digest.Digest, from string) error {
	if _, ok := r.Context().Value(claimKey{}).(*claim); !ok {
		return nil
	}
	if _, err := h.reg.StatBlob(r.Context(), from, d); apierr.Is(err, apierr.BlobUnknown) {
		return nil
	}
	return h.claimNamespace(r)
}

func (h *Handler) commitUpload(w http.ResponseWriter, r *http.Request, repo, id string) error {
	ds := r.URL.Query().Get("digest")
	if ds == "" {
		return apierr.New(apierr.DigestInvalid, "the digest query parameter is required to complete an upload")
	}
	d, err := parseDigest(ds)
	if err != nil {
		return err
	}
	start, length, err := chunkRange(r)
	if err != nil {
		return err
	}
	if err := h.claimNamespace(r); err != nil {
		return err
	}
	b, err := h.reg.CommitUpload(r.Context(), repo, id, d, start, length, r.Body)
	if err != nil {
		return err
	}
	created(w, "/v2/"+repo+"/blobs/"+b.Digest.String(), b.Digest.String())
	return nil
}

// chunkRange reads where a chunk claims to start (-1 if it does not say) and
// how long it is (-1 if unknown) from Content-Range and Content-Length.
func chunkRange(r *http.Request) (start, length int64, err error) {
	start, length = -1, r.ContentLength
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return start, length, nil
	}
	s, e, perr := oci.ParseContentRange(cr)
	if perr != nil {
		return 0, 0, apierr.New(apierr.RangeInvalid, "malformed Content-Range %q", cr)
	}
	if length >= 0 && length != e-s+1 {
		return 0, 0, apierr.New(apierr.RangeInvalid, "Content-Range %q does not match Content-Length %d", cr, length)
	}
	return s, e - s + 1, nil
}

func uploadHeaders(w http.ResponseWriter, u meta.Upload) {
	hdr := w.Header()
	hdr.Set("Location", "/v2/"+u.Repository+"/blobs/uploads/"+u.ID)
	hdr.Set("Docker-Upload-UUID", u.ID)
	end := u.Offset - 1
	if end < 0 {
		end = 0
	}
	hdr.Set("Range", fmt.Sprintf("0-%d", end))
	hdr.Set("Content-Length", "0")
	hdr.Set("OCI-Chunk-Min-Length", "0")
}

func created(w http.ResponseWriter, location, digest string) {
	hdr := w.Header()
	hdr.Set("Location", location)
	hdr.Set("Docker-Content-Digest", digest)
	hdr.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}
