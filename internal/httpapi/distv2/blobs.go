package distv2

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/apierr"
	"github.com/wharf-dev/wharf/internal/oci"
)

func parseDigest(s string) (digest.Digest, error) {
	d, err := oci.ParseDigest(s)
	if err != nil {
		return "", apierr.Wrap(apierr.DigestInvalid, err).WithDetail(map[string]string{"digest": s})
	}
	return d, nil
}

// blob serves a blob request. For a GET it returns the blob bytes pulled:
// sent, or the size of the blob a redirect points to.
func (h *Handler) blob(w http.ResponseWriter, r *http.Request, repo, arg string) (int64, error) {
	d, err := parseDigest(arg)
	if err != nil {
		return 0, err
	}
	switch r.Method {
	case http.MethodHead:
		b, err := h.reg.StatBlob(r.Context(), repo, d)
		if err != nil {
			return 0, err
		}
		blobHeaders(w, d, b.Size)
		w.WriteHeader(http.StatusOK)
		return 0, nil
	case http.MethodGet:
		return h.getBlob(w, r, repo, d)
	case http.MethodDelete:
		if err := h.reg.DeleteBlob(r.Context(), repo, d); err != nil {
			return 0, err
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		return 0, nil
	}
	return 0, methodNotAllowed(r)
}

func blobHeaders(w http.ResponseWriter, d digest.Digest, size int64) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Length", strconv.FormatInt(size, 10))
	hdr.Set("Docker-Content-Digest", d.String())
	hdr.Set("Accept-Ranges", "bytes")
	hdr.Set("ETag", `"`+d.String()+`"`)
	hdr.Set("Cache-Control", "max-age=31536000")
}

// getBlob streams a blob, or a single byte range of it. A blob on local disk
// sends itself (sender): with sendfile what the page cache holds, with
// direct reads what it does not. It returns the bytes it sent, or the size
// of the blob it redirected to.
func (h *Handler) getBlob(w http.ResponseWriter, r *http.Request, repo string, d digest.Digest) (int64, error) {
	ctx := r.Context()
	url, rb, err := h.reg.BlobRedirect(ctx, repo, d)
	if err != nil {
		return 0, err
	}
	if url != "" {
		w.Header().Set("Docker-Content-Digest", d.String())
		http.Redirect(w, r, url, http.StatusTemporaryRedirect)
		return rb.Size, nil
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == `"`+d.String()+`"` {
		if _, err := h.reg.StatBlob(ctx, repo, d); err != nil {
			return 0, err
		}
		w.WriteHeader(http.StatusNotModified)
		return 0, nil
	}
	rc, b, err := h.reg.OpenBlob(ctx, repo, d)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	start, length, status := int64(0), b.Size, http.StatusOK
	if rh := r.Header.Get("Range"); rh != "" {
		s, n, ok, err := oci.ParseByteRange(rh, b.Size)
		if err != nil {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", b.Size))
			return 0, apierr.New(apierr.RangeInvalid, "range %q cannot be satisfied for a blob of %d bytes", rh, b.Size)
		}
		if ok {
			start, length, status = s, n, http.StatusPartialContent
		}
	}
	blobHeaders(w, d, length)
	if status == http.StatusPartialContent {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, b.Size))
		if _, err := rc.Seek(start, io.SeekStart); err != nil {
			return 0, fmt.Errorf("seek blob %s: %w", d, err)
		}
	}
	w.WriteHeader(status)
	n, err := sendBlob(w, rc, length)
	if err != nil && !errors.Is(err, io.EOF) {
		// Headers are gone; the client sees a short body and its digest check fails.
		h.log.Debug("blob send interrupted", "digest", d, "err", err)
	}
	return n, nil
}

// sender is what the fs store's blob readers offer: SendTo writes n bytes
// from the reader's offset to w the fastest way the store knows.
type sender interface {
	SendTo(w io.Writer, n int64) (int64, error)
}

// sendBlob writes n bytes of blob reader rc to w.
func sendBlob(w io.Writer, rc io.Reader, n int64) (int64, error) {
	if s, ok := rc.(sender); ok {
		return s.SendTo(w, n)
	}
	return io.CopyN(w, rc, n)
}
