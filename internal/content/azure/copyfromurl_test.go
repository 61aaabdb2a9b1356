package azure_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/wharf-dev/wharf/internal/content/objects"
)

// Azurite lacks Put Block From URL, the copy a commit asks of the service.
// copyShim stands in front of Azurite and does what the service does for
// it: it reads the source URL as given, with its SAS, through Azurite
// (which checks the signature), and stages the bytes read as the block.
// Every other request passes through unchanged.
type copyShim struct {
	url    string
	copies atomic.Int64
}

var (
	shimOnce sync.Once
	shim     *copyShim
)

// theShim starts the shim in front of Azurite, once for the test binary.
func theShim(t *testing.T) *copyShim {
	t.Helper()
	endpoint := requireServer(t)
	shimOnce.Do(func() {
		azurite, err := url.Parse(endpoint)
		if err != nil {
			panic(err)
		}
		account := strings.Trim(azurite.Path, "/")
		cred, err := container.NewSharedKeyCredential(account, os.Getenv(envKey))
		if err != nil {
			panic(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: azurite.Scheme, Host: azurite.Host})
		shim = &copyShim{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			src := r.Header.Get("x-ms-copy-source")
			if r.Method != http.MethodPut || r.URL.Query().Get("comp") != "block" || src == "" {
				proxy.ServeHTTP(w, r)
				return
			}
			if r.Header.Get("x-ms-copy-source-authorization") != "" {
				http.Error(w, "the shim reads sources by their SAS only", http.StatusNotImplemented)
				return
			}
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, src, nil)
			req.Header.Set("Range", r.Header.Get("x-ms-source-range"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent) {
				w.Header().Set("x-ms-error-code", "CannotVerifyCopySource")
				http.Error(w, fmt.Sprintf("source answered %d", resp.StatusCode), resp.StatusCode)
				return
			}
			target := azurite.Scheme + "://" + azurite.Host + r.URL.EscapedPath()
			bb, err := blockblob.NewClientWithSharedKeyCredential(target, cred, nil)
			if err == nil {
				_, err = bb.StageBlock(r.Context(), r.URL.Query().Get("blockid"), nopCloser{bytes.NewReader(body)}, nil)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			shim.copies.Add(1)
			w.WriteHeader(http.StatusCreated)
		}))
		shim.url = srv.URL + "/" + account
	})
	return shim
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

// TestCommitCopiesOnTheService: a commit of several parts, through the
// shim, stages a block per part copied by the service and commits them.
func TestCommitCopiesOnTheService(t *testing.T) {
	opts := testOptions(t)
	before := theShim(t).copies.Load()
	chunkedUpload(t, opts, []*objects.Store{newStore(t, opts)}, []int{3 * KiB, 1, 9 * MiB})
	if n := theShim(t).copies.Load() - before; n != 3 {
		t.Errorf("the service copied %d blocks, want 3 (one per part)", n)
	}
}

// TestCommitWithoutCopyFromURL: straight to Azurite, which answers Put
// Block From URL with 501, commits pass the bytes through.
func TestCommitWithoutCopyFromURL(t *testing.T) {
	opts := testOptions(t)
	opts.Endpoint = requireServer(t)
	s := newStore(t, opts)
	chunkedUpload(t, opts, []*objects.Store{s}, []int{3 * KiB, 1, 9 * MiB})
	chunkedUpload(t, opts, []*objects.Store{s}, []int{100, 200}) // the fallback remembered
}
