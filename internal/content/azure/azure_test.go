package azure_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/azure"
	"github.com/wharf-dev/wharf/internal/content/contenttest"
	"github.com/wharf-dev/wharf/internal/content/objects"
)

// The tests run against Azurite named by these variables;
// scripts/start-azure.sh starts one and prints them.
const (
	envEndpoint  = "WHARF_TEST_AZURE_ENDPOINT"
	envAccount   = "WHARF_TEST_AZURE_ACCOUNT_NAME"
	envKey       = "WHARF_TEST_AZURE_ACCOUNT_KEY"
	envContainer = "WHARF_TEST_AZURE_CONTAINER"
)

const (
	KiB = 1 << 10
	MiB = 1 << 20
)

// requireServer returns Azurite's endpoint, or skips t when there is none,
// except in CI, which must never skip these tests silently.
func requireServer(t *testing.T) string {
	t.Helper()
	endpoint := os.Getenv(envEndpoint)
	if endpoint == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is unset in CI; start a server with scripts/start-azure.sh", envEndpoint)
		}
		t.Skipf("%s is unset; start a server with: eval \"$(scripts/start-azure.sh DIR)\"", envEndpoint)
	}
	return endpoint
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// testOptions returns Options for Azurite, behind the shim that copies
// blocks for it (copyfromurl_test.go), with a prefix no other test or run
// uses, and removes everything under that prefix when t ends.
func testOptions(t *testing.T) azure.Options {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	opts := azure.Options{
		Endpoint:    theShim(t).url,
		AccountName: os.Getenv(envAccount),
		AccountKey:  os.Getenv(envKey),
		Container:   os.Getenv(envContainer),
		Prefix:      "test/" + unsafeName.ReplaceAllString(t.Name(), "_") + "-" + hex.EncodeToString(b[:]),
	}
	t.Cleanup(func() {
		raw := rawContainer(t, opts)
		for _, name := range listBlobs(t, opts, opts.Prefix+"/") {
			if _, err := raw.NewBlobClient(name).Delete(context.Background(), nil); err != nil {
				t.Errorf("clean up %s: %v", name, err)
			}
		}
	})
	return opts
}

// rawContainer talks to Azurite without the driver, to look behind its
// back.
func rawContainer(t *testing.T, opts azure.Options) *container.Client {
	t.Helper()
	cred, err := container.NewSharedKeyCredential(opts.AccountName, os.Getenv(envKey))
	if err != nil {
		t.Fatal(err)
	}
	c, err := container.NewClientWithSharedKeyCredential(strings.TrimSuffix(requireServer(t), "/")+"/"+opts.Container, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func listBlobs(t *testing.T, opts azure.Options, prefix string) []string {
	t.Helper()
	var names []string
	pager := rawContainer(t, opts).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s: %v", prefix, err)
		}
		for _, item := range page.Segment.BlobItems {
			names = append(names, *item.Name)
		}
	}
	return names
}

func newStore(t *testing.T, opts azure.Options) *objects.Store {
	t.Helper()
	s, err := azure.New(t.Context(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestStore runs the suite every content driver passes, each test on its own
// prefix of the container.
func TestStore(t *testing.T) {
	requireServer(t)
	contenttest.Run(t, func(t *testing.T) content.Store { return newStore(t, testOptions(t)) })
}

// TestStoreShared runs the tests of writers racing on one upload, as
// replicas sharing the container do.
func TestStoreShared(t *testing.T) {
	requireServer(t)
	contenttest.RunShared(t, func(t *testing.T) content.Store { return newStore(t, testOptions(t)) })
}

// TestChunkedUploadAcrossReplicas appends each chunk through a different
// Store, as replicas behind a load balancer would, and commits through yet
// another; a chunk over a block is staged as blocks and committed.
func TestChunkedUploadAcrossReplicas(t *testing.T) {
	requireServer(t)
	tests := []struct {
		name   string
		chunks []int
	}{
		{"one chunk", []int{100}},
		{"small chunks", []int{1 * KiB, 100, 7}},
		{"a chunk over a block", []int{17 * MiB, 1 * KiB}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t)
			chunkedUpload(t, opts, []*objects.Store{newStore(t, opts), newStore(t, opts)}, tt.chunks)
		})
	}
}

// chunkedUpload appends chunks of the given sizes through the stores in
// turn, commits through the next, and checks the blob and that nothing of
// the upload is left.
func chunkedUpload(t *testing.T, opts azure.Options, replicas []*objects.Store, chunks []int) {
	t.Helper()
	ctx := t.Context()
	const id = "upload-1"
	var want []byte
	parts := ""
	for i, size := range chunks {
		chunk := random(size)
		n, p, err := replicas[i%len(replicas)].Append(ctx, id, int64(len(want)), parts, bytes.NewReader(chunk))
		if err != nil || n != int64(size) {
			t.Fatalf("Append chunk %d = %d, %v; want %d, nil", i, n, err, size)
		}
		parts = p
		want = append(want, chunk...)
	}
	d := digest.FromBytes(want)
	if err := replicas[len(chunks)%len(replicas)].Commit(ctx, id, parts, int64(len(want)), d); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := contenttest.ReadBlob(t, replicas[0], d); !bytes.Equal(got, want) {
		t.Fatalf("blob differs from the upload (%d bytes, want %d)", len(got), len(want))
	}
	if left := listBlobs(t, opts, opts.Prefix+"/uploads/"); len(left) != 0 {
		t.Errorf("blobs left under uploads/ after Commit: %q", left)
	}
}

func TestRedirectURL(t *testing.T) {
	opts := testOptions(t)
	opts.Redirect = true
	opts.PresignExpiry = time.Minute
	s := newStore(t, opts)
	b := random(64 * KiB)
	d := contenttest.PutBlob(t, s, digest.SHA256, b)
	u, err := s.RedirectURL(t.Context(), d)
	if err != nil {
		t.Fatalf("RedirectURL: %v", err)
	}
	// Azurite checks the signature: the URL works as it is, and not once
	// it names another blob.
	if status, got := get(t, u); status != http.StatusOK || !bytes.Equal(got, b) {
		t.Fatalf("GET SAS URL: status %d, %d bytes; want 200 and the blob", status, len(got))
	}
	parsed, _ := url.Parse(u)
	if q := parsed.Query(); q.Get("sp") != "r" || q.Get("sig") == "" {
		t.Errorf("SAS URL %s: want read permission only and a signature", u)
	}
	other := contenttest.PutBlob(t, s, digest.SHA256, random(KiB))
	forged := strings.Replace(u, d.Encoded(), other.Encoded(), 2)
	if status, _ := get(t, forged); status != http.StatusForbidden {
		t.Errorf("GET of another blob with the SAS: status %d, want 403", status)
	}

	opts.Redirect = false
	off := newStore(t, opts)
	if u, err := off.RedirectURL(t.Context(), d); u != "" || err != nil {
		t.Errorf("RedirectURL with Redirect off = %q, %v; want \"\", nil", u, err)
	}
}

func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestOtherCredentials: a connection string and a SAS token reach the same
// container as the account key.
func TestOtherCredentials(t *testing.T) {
	base := testOptions(t)
	accountSAS, err := sas.AccountSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		ExpiryTime:    time.Now().Add(time.Hour).UTC(),
		Permissions:   (&sas.AccountPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}).String(),
		ResourceTypes: (&sas.AccountResourceTypes{Container: true, Object: true}).String(),
	}.SignWithSharedKey(sharedKey(t, base))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*azure.Options)
	}{
		{"connection string with a key", func(o *azure.Options) {
			o.ConnectionString = "DefaultEndpointsProtocol=http;AccountName=" + o.AccountName + ";AccountKey=" + o.AccountKey + ";BlobEndpoint=" + o.Endpoint + ";"
			o.AccountName, o.AccountKey, o.Endpoint = "", "", ""
		}},
		{"connection string with a SAS", func(o *azure.Options) {
			o.ConnectionString = "BlobEndpoint=" + o.Endpoint + ";SharedAccessSignature=" + accountSAS.Encode()
			o.AccountName, o.AccountKey, o.Endpoint = "", "", ""
		}},
		{"SAS token", func(o *azure.Options) { o.AccountKey, o.SASToken = "", "?"+accountSAS.Encode() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := base
			opts.Prefix += "/" + unsafeName.ReplaceAllString(tt.name, "_")
			tt.change(&opts)
			s := newStore(t, opts)
			chunkedUpload(t, base, []*objects.Store{s}, []int{1000, 10})
		})
	}
}

func sharedKey(t *testing.T, opts azure.Options) *sas.SharedKeyCredential {
	t.Helper()
	cred, err := container.NewSharedKeyCredential(opts.AccountName, opts.AccountKey)
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func TestNewRejectsBadOptions(t *testing.T) {
	good := azure.Options{AccountName: "a", AccountKey: "a2V5", Container: "c", Endpoint: "http://127.0.0.1:1/a"}
	tests := []struct {
		name   string
		change func(*azure.Options)
		want   string
	}{
		{"no container", func(o *azure.Options) { o.Container = "" }, "container"},
		{"no account", func(o *azure.Options) { o.AccountName = "" }, "account name"},
		{"key and SAS", func(o *azure.Options) { o.SASToken = "sv=1" }, "at most one"},
		{"endpoint without scheme", func(o *azure.Options) { o.Endpoint = "127.0.0.1:10000" }, "endpoint"},
		{"redirect with a SAS", func(o *azure.Options) { o.AccountKey, o.SASToken, o.Redirect = "", "sv=1", true }, "redirect"},
		{"expiry over a week", func(o *azure.Options) { o.PresignExpiry = 8 * 24 * time.Hour }, "presign expiry"},
		{"dot-dot prefix", func(o *azure.Options) { o.Prefix = "a/../b" }, "prefix"},
		{"bad connection string", func(o *azure.Options) {
			o.AccountName, o.AccountKey, o.Endpoint, o.ConnectionString = "", "", "", "AccountName=a"
		}, "connection string"},
		{"redirect with a SAS connection string", func(o *azure.Options) {
			o.AccountName, o.AccountKey, o.Endpoint, o.Redirect = "", "", "", true
			o.ConnectionString = "BlobEndpoint=http://127.0.0.1:1/a;SharedAccessSignature=sv=1"
		}, "redirect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := good
			tt.change(&opts)
			_, err := azure.New(t.Context(), opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestNewChecksContainer(t *testing.T) {
	opts := testOptions(t)
	opts.Container = "wharf-no-such-container"
	if _, err := azure.New(t.Context(), opts); err == nil {
		t.Fatal("New with a missing container succeeded")
	}
	opts = testOptions(t)
	opts.AccountKey = "d3Jvbmc=" // "wrong"
	_, err := azure.New(t.Context(), opts)
	if err == nil || errors.Is(err, content.ErrUnavailable) {
		t.Fatalf("New with a wrong key: %v; want a refusal, not ErrUnavailable", err)
	}
}
