package oci

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

const (
	cfgDigest   = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	layerDigest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
)

var imageManifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + cfgDigest + `","size":2},
"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + layerDigest + `","size":5}],
"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + layerDigest + `","size":5}}`

func TestParseManifest(t *testing.T) {
	m, err := ParseManifest(MediaTypeImageManifest, []byte(imageManifest))
	if err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != "application/vnd.oci.image.config.v1+json" {
		t.Errorf("ArtifactType = %q, want the config media type", m.ArtifactType)
	}
	if got := m.Blobs(); len(got) != 2 || got[0].Digest != cfgDigest || got[1].Digest != layerDigest {
		t.Errorf("Blobs = %v", got)
	}
	if m.Subject == nil || m.Subject.Digest != layerDigest {
		t.Errorf("Subject = %v", m.Subject)
	}

	index := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + layerDigest + `","size":5}]}`
	if m, err := ParseManifest("", []byte(index)); err != nil || !m.IsIndex() || len(m.Manifests) != 1 {
		t.Errorf("index: %v, %v", m, err)
	}
	data := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + cfgDigest + `","size":2,"data":"e30="},"layers":[]}`
	if _, err := ParseManifest(MediaTypeImageManifest, []byte(data)); err != nil {
		t.Errorf("data field: %v", err)
	}
}

func TestParseManifestRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, payload string
		want                       error
	}{
		{"not json", MediaTypeImageManifest, `{`, ErrManifestInvalid},
		{"trailing", MediaTypeImageManifest, imageManifest + `{}`, ErrManifestInvalid},
		{"no schemaVersion", MediaTypeImageManifest, `{"mediaType":"application/vnd.oci.image.manifest.v1+json"}`, ErrManifestInvalid},
		{"schema 1 body", "", `{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}`, ErrSchema1},
		{"schema 1 type", MediaTypeDockerSchema1Signed, `{}`, ErrSchema1},
		{"schemaVersion 3", MediaTypeImageManifest, `{"schemaVersion":3}`, ErrManifestInvalid},
		{"type mismatch", MediaTypeImageIndex, imageManifest, ErrManifestInvalid},
		{"unknown type", "application/json", `{"schemaVersion":2,"mediaType":"application/json"}`, ErrMediaType},
		{"no config", MediaTypeImageManifest, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}`, ErrManifestInvalid},
		{"bad layer digest", MediaTypeImageManifest, strings.Replace(imageManifest, layerDigest, "sha256:zz", 1), ErrManifestInvalid},
		{"negative size", MediaTypeImageManifest, strings.Replace(imageManifest, `"size":5}]`, `"size":-1}]`, 1), ErrManifestInvalid},
		{"data mismatch", MediaTypeImageManifest, strings.Replace(imageManifest, `"size":2}`, `"size":2,"data":"e3g="}`, 1), ErrManifestInvalid},
		{"index with layers", MediaTypeImageIndex, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"layers":[]}`, ErrManifestInvalid},
		{"too large", MediaTypeImageManifest, strings.Repeat(" ", MaxManifestSize+1), ErrManifestInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseManifest(tc.contentType, []byte(tc.payload))
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseManifestRefusesDuplicateKeys(t *testing.T) {
	dupLayers := strings.Replace(imageManifest, `"layers":[`, `"layers":[],"layers":[`, 1)
	for _, tc := range []struct {
		name, contentType, payload, says string
	}{
		{"two layers keys", MediaTypeImageManifest, dupLayers, `duplicate JSON key "layers" at the top level`},
		{"case variant", MediaTypeImageManifest, strings.Replace(imageManifest, `"layers":[`, `"Layers":[],"layers":[`, 1), `"Layers" and "layers" at the top level`},
		{"in a descriptor", MediaTypeImageManifest, strings.Replace(imageManifest, `"size":5}]`, `"size":5,"size":6}]`, 1), `"size" in layers[0]`},
		{"in annotations", MediaTypeImageManifest, strings.Replace(imageManifest, `"schemaVersion":2,`, `"schemaVersion":2,"annotations":{"a":"1","b":"2","a":"3"},`, 1), `"a" in annotations`},
		{"in an index's platform", MediaTypeImageIndex, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + layerDigest + `","size":5,"platform":{"os":"linux"}},
{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + layerDigest + `","size":5,"platform":{"os":"linux","architecture":"amd64","os":"windows"}}]}`, `"os" in manifests[1].platform`},
		{"schemaVersion twice", "", `{"schemaVersion":2,"schemaVersion":1,"manifests":[]}`, `"schemaVersion"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseManifest(tc.contentType, []byte(tc.payload))
			if !errors.Is(err, ErrManifestInvalid) || !errors.Is(err, ErrDuplicateKey) {
				t.Fatalf("error = %v, want a duplicate key refusal", err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
	// The same key in different objects is no duplicate.
	if _, err := ParseManifest(MediaTypeImageManifest, []byte(imageManifest)); err != nil {
		t.Fatalf("mediaType, digest and size in several descriptors: %v", err)
	}
}

func BenchmarkParseManifest(b *testing.B) {
	p := []byte(imageManifest)
	for b.Loop() {
		if _, err := ParseManifest(MediaTypeImageManifest, p); err != nil {
			b.Fatal(err)
		}
	}
}

func TestManifestDigest(t *testing.T) {
	p := []byte("{}")
	if got := ManifestDigest(p, ""); got != digest.SHA256.FromBytes(p) {
		t.Errorf("default = %s", got)
	}
	want := digest.SHA512.FromBytes(p)
	if got := ManifestDigest(p, want); got != want {
		t.Errorf("sha512 = %s", got)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add(MediaTypeImageManifest, []byte(imageManifest))
	f.Add("", []byte(`{"schemaVersion":2,"manifests":[]}`))
	f.Add(MediaTypeDockerManifest, []byte(`{"schemaVersion":2,"config":{}}`))
	f.Add("", []byte(`{"schemaVersion":2,"manifests":[],"Manifests":[{}]}`))
	f.Fuzz(func(t *testing.T, ct string, payload []byte) {
		m, err := ParseManifest(ct, payload)
		if err != nil {
			if !errors.Is(err, ErrManifestInvalid) && !errors.Is(err, ErrSchema1) && !errors.Is(err, ErrMediaType) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if !IsManifestMediaType(m.MediaType) {
			t.Fatalf("accepted media type %q", m.MediaType)
		}
		for _, d := range append(m.Blobs(), m.Manifests...) {
			if d.Digest.Validate() != nil || d.Size < 0 {
				t.Fatalf("accepted bad descriptor %+v", d)
			}
		}
		if !m.IsIndex() && m.Config == nil {
			t.Fatal("accepted image manifest without config")
		}
		// Any key said twice is refused: here, schemaVersion.
		i := bytes.IndexByte(payload, '{')
		dup := append(append(bytes.Clone(payload[:i+1]), `"schemaVersion":2,`...), payload[i+1:]...)
		if _, err := ParseManifest(ct, dup); !errors.Is(err, ErrDuplicateKey) {
			t.Fatalf("accepted %s with schemaVersion twice: %v", dup, err)
		}
	})
}

// BenchmarkCheckUniqueKeys is the duplicate-key pass alone, on a small image
// manifest and on one of 200 layers with annotations.
func BenchmarkCheckUniqueKeys(b *testing.B) {
	var layers []string
	for i := range 200 {
		layers = append(layers, `{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"`+layerDigest+
			`","size":5,"annotations":{"org.opencontainers.image.title":"layer-`+strings.Repeat("x", i%7)+`"}}`)
	}
	big := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + cfgDigest + `","size":2},` +
		`"layers":[` + strings.Join(layers, ",") + `]}`
	b.Logf("manifest sizes: %d and %d bytes", len(imageManifest), len(big))
	for _, tc := range []struct{ name, payload string }{{"small", imageManifest}, {"200 layers", big}} {
		b.Run(tc.name, func(b *testing.B) {
			p := []byte(tc.payload)
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if err := checkUniqueKeys(p); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+" parse", func(b *testing.B) {
			p := []byte(tc.payload)
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if _, err := ParseManifest(MediaTypeImageManifest, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
