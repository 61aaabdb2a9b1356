package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// errorMessage returns the message of the first OCI error in the body.
func (r response) errorMessage() string {
	var e struct {
		Errors []struct{ Message string } `json:"errors"`
	}
	if json.Unmarshal(r.body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Message
}

// wantSays is want, and the error's message must say each of says.
func wantSays(t *testing.T, what string, r response, status int, code string, says ...string) {
	t.Helper()
	want(t, what, r, status, code)
	for _, s := range says {
		if !strings.Contains(r.errorMessage(), s) {
			t.Errorf("%s: message %q does not say %q", what, r.errorMessage(), s)
		}
	}
}

// TestManifestStrictness: a manifest the registry could count one way and a
// client read another (duplicate keys), or that no conforming client can
// pull (descriptor sizes that are not the stored sizes), is refused with
// MANIFEST_INVALID and changes nothing.
func TestManifestStrictness(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		cfg, layer := []byte(`{"os":"linux"}`), []byte("the layer")
		tr.pushBlob("s", cfg)
		tr.pushBlob("s", layer)
		good := image(cfg, layer)
		put := func(ref, ct string, body []byte) response {
			return tr.do("PUT", "/v2/s/manifests/"+ref, body, "Content-Type", ct)
		}
		gone := func(what, ref string) {
			t.Helper()
			want(t, what+": nothing stored", tr.do("GET", "/v2/s/manifests/"+ref, nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		}

		// Two layers keys: only the last would be checked and counted.
		dup := bytes.Replace(good, []byte(`"layers":[`), []byte(`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"`+
			digest.FromString("never pushed").String()+`","size":12}],"layers":[`), 1)
		wantSays(t, "duplicate layers", put("dup", ociManifest, dup), http.StatusBadRequest, "MANIFEST_INVALID", `duplicate JSON key "layers"`)
		gone("duplicate layers", "dup")
		gone("duplicate layers by digest", digest.FromBytes(dup).String())
		caseDup := bytes.Replace(good, []byte(`"config":`), []byte(`"Config":{},"config":`), 1)
		wantSays(t, "case variant", put("dup", ociManifest, caseDup), http.StatusBadRequest, "MANIFEST_INVALID", `"Config" and "config"`)
		gone("case variant", "dup")

		// Descriptor sizes must be the stored sizes: layer, config, child.
		wrongLayer := bytes.Replace(good, []byte(fmt.Sprintf(`"size":%d}]`, len(layer))), []byte(fmt.Sprintf(`"size":%d}]`, len(layer)+1)), 1)
		wantSays(t, "layer size", put("size", ociManifest, wrongLayer), http.StatusBadRequest, "MANIFEST_INVALID",
			"layers[0]", digest.FromBytes(layer).String(), fmt.Sprintf("size of %d bytes, but it is %d bytes", len(layer)+1, len(layer)))
		gone("layer size", "size")
		wrongConfig := bytes.Replace(good, []byte(fmt.Sprintf(`"size":%d,"layers"`, len(cfg))), []byte(`"size":1,"layers"`), 1)
		if bytes.Equal(wrongConfig, good) {
			wrongConfig = bytes.Replace(good, []byte(fmt.Sprintf(`"size":%d}`, len(cfg))), []byte(`"size":1}`), 1)
		}
		wantSays(t, "config size", put("size", ociManifest, wrongConfig), http.StatusBadRequest, "MANIFEST_INVALID", "config gives blob")
		gone("config size", "size")

		want(t, "good", put("v1", ociManifest, good), http.StatusCreated, "")
		index := func(size int) []byte {
			return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`+
				`{"mediaType":%q,"digest":%q,"size":%d,"platform":{"architecture":"amd64","os":"linux"}}]}`, ociManifest, digest.FromBytes(good), size))
		}
		wantSays(t, "child size", put("idx", "application/vnd.oci.image.index.v1+json", index(len(good)-1)), http.StatusBadRequest, "MANIFEST_INVALID",
			"manifests[0] gives manifest "+digest.FromBytes(good).String())
		gone("child size", "idx")
		dupPlatform := bytes.Replace(index(len(good)), []byte(`"os":"linux"`), []byte(`"os":"linux","os":"windows"`), 1)
		wantSays(t, "duplicate in index", put("idx", "application/vnd.oci.image.index.v1+json", dupPlatform), http.StatusBadRequest, "MANIFEST_INVALID",
			`"os" in manifests[0].platform`)
		gone("duplicate in index", "idx")
		want(t, "good index", put("idx", "application/vnd.oci.image.index.v1+json", index(len(good))), http.StatusCreated, "")
	})
}

// TestRangeUnknownUnit: RFC 9110 says a Range header with a unit the server
// does not know is ignored: the whole blob, 200.
func TestRangeUnknownUnit(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		blob := []byte("0123456789")
		d := tr.pushBlob("r", blob)
		r := tr.do("GET", "/v2/r/blobs/"+d.String(), nil, "Range", "items=0-4")
		want(t, "unknown unit", r, http.StatusOK, "")
		if !bytes.Equal(r.body, blob) || r.header.Get("Content-Range") != "" {
			t.Fatalf("unknown unit: body %q, Content-Range %q", r.body, r.header.Get("Content-Range"))
		}
		r = tr.do("GET", "/v2/r/blobs/"+d.String(), nil, "Range", "bytes=0-4")
		want(t, "bytes", r, http.StatusPartialContent, "")
		if string(r.body) != "01234" {
			t.Fatalf("bytes=0-4: %q", r.body)
		}
		want(t, "unsatisfiable", tr.do("GET", "/v2/r/blobs/"+d.String(), nil, "Range", "bytes=20-"), http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID")
	})
}

// TestRefusalsNameTheRule: malformed names, tags and digests are refused
// with the code of what was malformed and a message that says which rule
// was broken; unknown endpoints answer an OCI error.
func TestRefusalsNameTheRule(t *testing.T) {
	tr := newTestRegistry(t, backends(t)[0])
	_, d := tr.pushImage("app", "v1", []byte(`{}`))
	m := image([]byte(`{}`))
	long := strings.Repeat("t", 129)
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
		says         []string
	}{
		{"GET", "/v2/app/manifests/Bad:Tag", 400, "TAG_INVALID", []string{"neither a tag nor a digest", "':' is not allowed in a tag", `"Bad" is not a digest algorithm`}},
		{"PUT", "/v2/app/manifests/Bad:Tag", 400, "TAG_INVALID", []string{"neither a tag nor a digest"}},
		{"GET", "/v2/app/manifests/" + long, 400, "TAG_INVALID", []string{"129 characters long; the limit is 128"}},
		{"PUT", "/v2/app/manifests/" + long, 400, "TAG_INVALID", []string{"limit is 128"}},
		{"GET", "/v2/app/manifests/v1%2Fx", 400, "TAG_INVALID", []string{`'/' at position 3`}},
		{"PUT", "/v2/app/manifests/v1%2Fx", 400, "TAG_INVALID", []string{`'/' at position 3`}},
		{"DELETE", "/v2/app/manifests/v1%2Fx", 400, "TAG_INVALID", nil},
		{"GET", "/v2/app/manifests/.v1", 400, "TAG_INVALID", []string{"starts with '.'"}},
		{"GET", "/v2/app/manifests/sha256:abc", 400, "DIGEST_INVALID", []string{"64 hex digits, not 3"}},
		{"GET", "/v2/app/manifests/md5:d41d8cd98f00b204e9800998ecf8427e", 400, "DIGEST_INVALID", []string{"sha256 and sha512, not md5"}},
		{"GET", "/v2/app/blobs/sha256:" + strings.Repeat("A", 64), 400, "DIGEST_INVALID", []string{"lower case"}},
		{"GET", "/v2/app/blobs/latest", 400, "DIGEST_INVALID", []string{"no algorithm"}},
		{"GET", "/v2/App/tags/list", 400, "NAME_INVALID", []string{"upper-case"}},
		{"GET", "/v2/a..b/tags/list", 400, "NAME_INVALID", []string{`component "a..b"`}},
		{"GET", "/v2/" + strings.Repeat("a", 256) + "/tags/list", 400, "NAME_INVALID", []string{"256 characters long; the limit is 255"}},
		{"GET", "/v2/app/nothing/here", 404, "UNSUPPORTED", []string{"GET /v2/app/nothing/here is not an endpoint"}},
		{"POST", "/v2/app/tags/other", 404, "UNSUPPORTED", nil},
		{"GET", "/v2/_oci/ext/discover", 404, "UNSUPPORTED", nil},
	} {
		var body []byte
		if tc.method == "PUT" {
			body = m
		}
		r := tr.do(tc.method, tc.path, body, "Content-Type", ociManifest)
		wantSays(t, tc.method+" "+truncated(tc.path), r, tc.status, tc.code, tc.says...)
	}
	// None of that changed anything.
	want(t, "v1 stays", tr.do("GET", "/v2/app/manifests/v1", nil), http.StatusOK, "")
	var tags struct{ Tags []string }
	_ = json.Unmarshal(tr.do("GET", "/v2/app/tags/list", nil).body, &tags)
	if strings.Join(tags.Tags, ",") != "v1" {
		t.Fatalf("tags = %v", tags.Tags)
	}
	// An escaped character that is allowed stays allowed: %3A is ':'.
	want(t, "escaped colon", tr.do("GET", "/v2/app/manifests/"+strings.Replace(d.String(), ":", "%3A", 1), nil), http.StatusOK, "")
}

func truncated(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
