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

const ociManifest = "application/vnd.oci.image.manifest.v1+json"

func TestManifestPushPullDelete(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		m, d := tr.pushImage("app", "v1", []byte(`{"c":1}`), []byte("layer one"), []byte("layer two"))

		for _, ref := range []string{"v1", d.String()} {
			r := tr.do("GET", "/v2/app/manifests/"+ref, nil, "Accept", ociManifest)
			want(t, "get "+ref, r, http.StatusOK, "")
			if !bytes.Equal(r.body, m) || r.header.Get("Docker-Content-Digest") != d.String() || r.header.Get("Content-Type") != ociManifest {
				t.Fatalf("get %s: digest %q type %q", ref, r.header.Get("Docker-Content-Digest"), r.header.Get("Content-Type"))
			}
			r = tr.do("HEAD", "/v2/app/manifests/"+ref, nil)
			want(t, "head "+ref, r, http.StatusOK, "")
			if r.header.Get("Content-Length") != fmt.Sprint(len(m)) || len(r.body) != 0 {
				t.Fatalf("head %s: length %q", ref, r.header.Get("Content-Length"))
			}
		}
		want(t, "not acceptable", tr.do("GET", "/v2/app/manifests/v1", nil, "Accept", "application/vnd.docker.distribution.manifest.v2+json"), http.StatusNotFound, "MANIFEST_UNKNOWN")
		want(t, "wildcard", tr.do("GET", "/v2/app/manifests/v1", nil, "Accept", "*/*"), http.StatusOK, "")
		want(t, "unknown tag", tr.do("GET", "/v2/app/manifests/v9", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		want(t, "bad tag", tr.do("GET", "/v2/app/manifests/-x", nil), http.StatusBadRequest, "TAG_INVALID")

		// A second tag, then untag one: the manifest stays.
		want(t, "tag v2", tr.do("PUT", "/v2/app/manifests/v2", m, "Content-Type", ociManifest), http.StatusCreated, "")
		want(t, "untag v1", tr.do("DELETE", "/v2/app/manifests/v1", nil), http.StatusAccepted, "")
		want(t, "v1 gone", tr.do("GET", "/v2/app/manifests/v1", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		want(t, "v2 stays", tr.do("GET", "/v2/app/manifests/v2", nil), http.StatusOK, "")
		// Delete by digest removes the manifest and every tag naming it.
		want(t, "delete digest", tr.do("DELETE", "/v2/app/manifests/"+d.String(), nil), http.StatusAccepted, "")
		want(t, "v2 gone", tr.do("GET", "/v2/app/manifests/v2", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		want(t, "digest gone", tr.do("GET", "/v2/app/manifests/"+d.String(), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		want(t, "delete again", tr.do("DELETE", "/v2/app/manifests/"+d.String(), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	})
}

func TestManifestRefusals(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		cfg := []byte(`{}`)
		tr.pushBlob("r", cfg)
		missing := []byte("never pushed")
		put := func(ref, ct string, body []byte) response {
			return tr.do("PUT", "/v2/r/manifests/"+ref, body, "Content-Type", ct)
		}
		want(t, "missing layer", put("t", ociManifest, image(cfg, missing)), http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
		want(t, "not stored", tr.do("GET", "/v2/r/manifests/t", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		want(t, "malformed", put("t", ociManifest, []byte(`{"schemaVersion":2,`)), http.StatusBadRequest, "MANIFEST_INVALID")
		want(t, "schema 1", put("t", "application/vnd.docker.distribution.manifest.v1+prettyjws", []byte(`{"schemaVersion":1}`)), http.StatusBadRequest, "MANIFEST_INVALID")
		want(t, "too large", put("t", ociManifest, bytes.Repeat([]byte(" "), 4<<20+1)), http.StatusRequestEntityTooLarge, "SIZE_INVALID")
		good := image(cfg)
		want(t, "digest mismatch", put(digest.FromString("x").String(), ociManifest, good), http.StatusBadRequest, "DIGEST_INVALID")
		want(t, "by digest", put(digest.FromBytes(good).String(), ociManifest, good), http.StatusCreated, "")

		// Non-distributable layers need not be in the registry.
		foreign := strings.Replace(string(image(cfg, missing)), "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", 1)
		want(t, "non-distributable", put("foreign", ociManifest, []byte(foreign)), http.StatusCreated, "")

		// An index must list manifests the repository holds.
		index := func(children ...digest.Digest) []byte {
			ds := make([]string, len(children))
			for i, c := range children {
				ds[i] = fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d,"platform":{"architecture":"amd64","os":"linux"}}`, ociManifest, c, len(good))
			}
			return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + strings.Join(ds, ",") + `]}`)
		}
		want(t, "index missing child", put("idx", "application/vnd.oci.image.index.v1+json", index(digest.FromString("nope"))), http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
		want(t, "index", put("idx", "application/vnd.oci.image.index.v1+json", index(digest.FromBytes(good))), http.StatusCreated, "")
	})
}

func TestDockerSchema2(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		cfg, layer := []byte(`{"architecture":"amd64"}`), []byte("docker layer")
		tr.pushBlob("d", cfg)
		tr.pushBlob("d", layer)
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",`+
			`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%d,"digest":"%s"},`+
			`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%d,"digest":"%s"}]}`,
			len(cfg), digest.FromBytes(cfg), len(layer), digest.FromBytes(layer))
		want(t, "put schema2", tr.do("PUT", "/v2/d/manifests/latest", []byte(m), "Content-Type", "application/vnd.docker.distribution.manifest.v2+json"), http.StatusCreated, "")
		list := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",`+
			`"manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":%d,"digest":"%s","platform":{"architecture":"amd64","os":"linux"}}]}`,
			len(m), digest.FromString(m))
		want(t, "put list", tr.do("PUT", "/v2/d/manifests/multi", []byte(list), "Content-Type", "application/vnd.docker.distribution.manifest.list.v2+json"), http.StatusCreated, "")
		r := tr.do("GET", "/v2/d/manifests/multi", nil, "Accept", "application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json")
		want(t, "get list", r, http.StatusOK, "")
		if r.header.Get("Content-Type") != "application/vnd.docker.distribution.manifest.list.v2+json" {
			t.Errorf("list Content-Type = %q", r.header.Get("Content-Type"))
		}
	})
}

func TestTagsAndCatalogPagination(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		m, _ := tr.pushImage("p/q", "a", []byte(`{}`))
		for _, tag := range []string{"c", "b", "e", "d"} {
			want(t, "tag "+tag, tr.do("PUT", "/v2/p/q/manifests/"+tag, m, "Content-Type", ociManifest), http.StatusCreated, "")
		}
		var tags struct {
			Name string
			Tags []string
		}
		r := tr.do("GET", "/v2/p/q/tags/list", nil)
		_ = json.Unmarshal(r.body, &tags)
		if tags.Name != "p/q" || strings.Join(tags.Tags, ",") != "a,b,c,d,e" {
			t.Fatalf("all tags = %+v", tags)
		}
		r = tr.do("GET", "/v2/p/q/tags/list?n=2", nil)
		_ = json.Unmarshal(r.body, &tags)
		if strings.Join(tags.Tags, ",") != "a,b" || r.header.Get("Link") != `</v2/p/q/tags/list?last=b&n=2>; rel="next"` {
			t.Fatalf("page 1 = %v, Link %q", tags.Tags, r.header.Get("Link"))
		}
		r = tr.do("GET", "/v2/p/q/tags/list?n=2&last=d", nil)
		_ = json.Unmarshal(r.body, &tags)
		if strings.Join(tags.Tags, ",") != "e" || r.header.Get("Link") != "" {
			t.Fatalf("last page = %v, Link %q", tags.Tags, r.header.Get("Link"))
		}
		want(t, "bad n", tr.do("GET", "/v2/p/q/tags/list?n=-1", nil), http.StatusBadRequest, "PAGINATION_NUMBER_INVALID")
		want(t, "unknown repo", tr.do("GET", "/v2/nope/tags/list", nil), http.StatusNotFound, "NAME_UNKNOWN")

		for _, repo := range []string{"z", "m/n", "b"} {
			tr.pushBlob(repo, []byte(repo))
		}
		var cat struct{ Repositories []string }
		r = tr.do("GET", "/v2/_catalog?n=2", nil)
		_ = json.Unmarshal(r.body, &cat)
		if strings.Join(cat.Repositories, ",") != "b,m/n" || !strings.Contains(r.header.Get("Link"), "last=m%2Fn") {
			t.Fatalf("catalog page 1 = %v, Link %q", cat.Repositories, r.header.Get("Link"))
		}
		r = tr.do("GET", "/v2/_catalog?n=10&last=m/n", nil)
		_ = json.Unmarshal(r.body, &cat)
		if strings.Join(cat.Repositories, ",") != "p/q,z" {
			t.Fatalf("catalog page 2 = %v", cat.Repositories)
		}
	})
}

func TestReferrers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		_, subject := tr.pushImage("ref", "v1", []byte(`{}`))
		empty := []byte(`{}`)
		artifact := func(artifactType string) []byte {
			return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":%q,`+
				`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2,"data":"e30="},"layers":[],`+
				`"subject":{"mediaType":%q,"digest":"%s","size":1},"annotations":{"k":"v"}}`,
				ociManifest, artifactType, digest.FromBytes(empty), ociManifest, subject))
		}
		for _, at := range []string{"application/vnd.example.sig", "application/vnd.example.sbom"} {
			a := artifact(at)
			r := tr.do("PUT", "/v2/ref/manifests/"+digest.FromBytes(a).String(), a, "Content-Type", ociManifest)
			want(t, "put "+at, r, http.StatusCreated, "")
			if r.header.Get("OCI-Subject") != subject.String() {
				t.Errorf("OCI-Subject = %q", r.header.Get("OCI-Subject"))
			}
		}
		var idx struct {
			MediaType string
			Manifests []struct {
				ArtifactType string
				Digest       string
				Annotations  map[string]string
			}
		}
		r := tr.do("GET", "/v2/ref/referrers/"+subject.String(), nil)
		want(t, "referrers", r, http.StatusOK, "")
		_ = json.Unmarshal(r.body, &idx)
		if len(idx.Manifests) != 2 || r.header.Get("Content-Type") != "application/vnd.oci.image.index.v1+json" || idx.Manifests[0].Annotations["k"] != "v" {
			t.Fatalf("referrers = %s", r.body)
		}
		r = tr.do("GET", "/v2/ref/referrers/"+subject.String()+"?artifactType=application/vnd.example.sbom", nil)
		_ = json.Unmarshal(r.body, &idx)
		if len(idx.Manifests) != 1 || idx.Manifests[0].ArtifactType != "application/vnd.example.sbom" || r.header.Get("OCI-Filters-Applied") != "artifactType" {
			t.Fatalf("filtered referrers = %s (filters %q)", r.body, r.header.Get("OCI-Filters-Applied"))
		}
		r = tr.do("GET", "/v2/ref/referrers/"+digest.FromString("none").String(), nil)
		want(t, "no referrers", r, http.StatusOK, "")
		want(t, "bad digest", tr.do("GET", "/v2/ref/referrers/sha256:nope", nil), http.StatusBadRequest, "DIGEST_INVALID")
	})
}

func TestBadRoutesAndMethods(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := newTestRegistry(t, b)
		want(t, "unknown route", tr.do("GET", "/v2/x/unknown/thing", nil), http.StatusNotFound, "UNSUPPORTED")
		want(t, "method", tr.do("PATCH", "/v2/x/manifests/latest", nil), http.StatusMethodNotAllowed, "UNSUPPORTED")
		want(t, "path trick", tr.do("GET", "/v2/a/../b/tags/list", nil), http.StatusBadRequest, "NAME_INVALID")
	})
}
